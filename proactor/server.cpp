#include "proactor/server.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <ostream>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>

#include "proactor/backend.hpp"
#include "proactor/context_runner.hpp"
#include "proactor/listener.hpp"
#include "proactor/session.hpp"
#include "proactor/urgent_data.hpp"

namespace ioduel::proactor {
namespace {

using strand_type = asio::strand<asio::io_context::executor_type>;
using work_guard = asio::executor_work_guard<asio::io_context::executor_type>;

std::vector<std::unique_ptr<asio::io_context>> make_contexts(const proactor_options& o) {
  std::vector<std::unique_ptr<asio::io_context>> v;
  if (o.contexts == context_model::shared) {
    v.push_back(std::make_unique<asio::io_context>(static_cast<int>(o.common.threads)));
  } else {
    for (unsigned i = 0; i < o.common.threads; ++i) v.push_back(std::make_unique<asio::io_context>(1));
  }
  return v;
}

/* The server: owns the io_contexts, their threads, the per-context states
   and listeners (one per context, listener.hpp); turns the first
   SIGTERM/SIGINT into a drain.  The drain's handlers run on one strand
   (`control_`), since in the shared model any thread may run them.

   The stop signals are blocked in every thread and taken by one thread in
   sigwait() (signal_waiter), which posts the drain to `control_`: no
   asynchronous handler runs, so nothing depends on which thread the kernel
   picks.  (With Asio's signal_set, whose handler writes to a pipe, TSan's
   runtime, which defers a handler until the thread's next intercepted call,
   lost a SIGTERM that came as a thread entered epoll_wait: both contexts
   slept with 40 connections open, forced_stop_while_connections_arrive,
   1 run in 6.) */
class server final : public session_host, public listener_host {
 public:
  server(const proactor_options& o, std::ostream& err)
      : options_(o),
        err_(err),
        contexts_(make_contexts(o)),
        control_(asio::make_strand(contexts_[0]->get_executor())),
        drain_timer_(contexts_[0]->get_executor()),
        identity_{"proactor", backend_name(), o.common.threads, std::chrono::steady_clock::now()} {
    const std::size_t threads_per_context = o.contexts == context_model::shared ? o.common.threads : 1;
    for (std::size_t i = 0; i < contexts_.size(); ++i) {
      states_.push_back(std::make_unique<context_state>(options_.common, *this, threads_per_context));
      guards_.emplace_back(contexts_[i]->get_executor());
      listeners_.push_back(std::make_unique<listener>(*contexts_[i], *states_[i], *this));
    }
  }

  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() = default;

  int run() {
    const auto& o = options_.common;
    unsigned short port = o.port;
    try {
      // Every listener after the first binds the port the first one got.
      const bool reuse_port = listeners_.size() > 1;
      for (auto& l : listeners_) {
        l->open(asio::ip::tcp::endpoint(asio::ip::make_address(o.bind), port), reuse_port);
        port = l->port();
      }
    } catch (const boost::system::system_error& e) {
      err_ << "ioduel-proactor: cannot listen on " << o.bind << ":" << o.port << ": "
           << e.code().message() << "\n";
      return 1;
    }
#if defined(__SANITIZE_ADDRESS__)
    // Sanitized builds (ASan with UBSan): UBSan checks a polymorphic object's
    // type on first use (the STATS JSON's output adapter is one, made with
    // make_shared) with a memory probe that needs a pipe, so a first STATS
    // while the server is out of descriptors was reported as an invalid vptr
    // and ended the process ("the server closed the connection before
    // replying", out_of_descriptors_keeps_serving_and_recovers).  Building
    // the reply once here puts those types in UBSan's cache, as the reactor
    // does.
    static_cast<void>(stats_json());
#endif
    // Blocked before any other thread starts, so every thread inherits the
    // mask, and before the port is announced, so a SIGTERM from then on
    // reaches the waiter instead of ending the process.
    sigset_t stop_signals = stop_signal_set();
    if (const int e = ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); e != 0) {
      err_ << "ioduel-proactor: cannot block SIGTERM and SIGINT: " << std::strerror(e) << "\n";
      return 1;
    }
    std::thread signal_waiter([this] { wait_for_signals(); });
    // Sessions name this process the owner of their SIGURG when they start.
    urgent::install_signal_counter();
    for (auto& l : listeners_) l->start();
    protocol::announce_listening(o.bind, port);

    std::vector<std::thread> threads;
    const unsigned n = o.threads;
    for (unsigned i = 1; i < n; ++i) {
      asio::io_context& ctx = options_.contexts == context_model::shared ? *contexts_[0] : *contexts_[i];
      listener& l = options_.contexts == context_model::shared ? *listeners_[0] : *listeners_[i];
      threads.emplace_back([this, &ctx, &l, i] { run_context(ctx, l, i); });
    }
    run_context(*contexts_[0], *listeners_[0], 0);
    for (auto& t : threads) t.join();
    // Every context has returned: wake the waiter (the signal is blocked in
    // every thread, so it goes to the waiter's sigwait) and let it end.
    waiter_done_.store(true, std::memory_order_seq_cst);
    ::pthread_kill(signal_waiter.native_handle(), SIGTERM);
    signal_waiter.join();

    if (forced_) cleanup_after_forced_stop();
    if (const auto n_heap = heap_fallbacks().load(); n_heap != 0)
      std::fprintf(stderr, "ioduel-proactor: %llu handler allocations fell back to the heap\n",
                   static_cast<unsigned long long>(n_heap));
    return 0;
  }

  std::string stats_json() const override {
    protocol::counter_snapshot sum;
    for (const auto& s : states_) sum += s->snapshot();
    sum.oob_discarded += urgent::signals.load(std::memory_order_relaxed);
    return protocol::stats_json(identity_, sum);
  }

  // The last session gone after the drain began ends it (drain_handshake.hpp).
  void session_destroyed() noexcept override {
    if (drain_.leave()) {
      try {
        asio::post(control_, [this] { finish_drain(); });
      } catch (const std::exception&) {
        // Only the drain timeout is left to end the process.
      }
    }
  }

  bool at_capacity() const noexcept override {
    return drain_.live() >= options_.common.max_connections;
  }

  // On the thread of the listener that accepted `socket`: one that runs
  // `state`'s context.
  void start_session(socket_type socket, context_state& state) override {
    boost::system::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (options_.contexts == context_model::shared) {
      auto* s = new session<shared_model>(std::move(socket), state);
      admit(state, *s);
      s->post_start();
    } else {
      auto* s = new session<per_thread_model>(std::move(socket), state);
      admit(state, *s);
      s->post_start();
    }
  }

 private:
  // An exception escaping a handler must not end the server: report it and
  // go on running the context, with the context's accept chain restarted if
  // the exception took it (listener::recover).  `slot`: this thread's
  // counter slot.
  void run_context(asio::io_context& ctx, listener& l, std::size_t slot) {
    this_thread_slot = slot;
    for (;;) {
      try {
        run_giving_back(ctx);
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ioduel-proactor: unexpected error in a handler: %s\n", e.what());
        l.recover();
      }
    }
  }

  void admit(context_state& state, session_base& s) {
    drain_.admit();
    state.counters().connections_accepted.add_local();
    state.add(s);
  }

  // ---- stopping -----------------------------------------------------------------

  static sigset_t stop_signal_set() noexcept {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
  }

  // The signal waiter's thread: each SIGTERM/SIGINT posts the drain to
  // `control_` until run() says every context has returned.
  void wait_for_signals() noexcept {
    const sigset_t set = stop_signal_set();
    for (;;) {
      int signal = 0;
      if (::sigwait(&set, &signal) != 0) continue;
      if (waiter_done_.load(std::memory_order_seq_cst)) return;
      try {
        // A second signal during the drain changes nothing: every reply owed
        // is still sent, within the drain timeout.
        asio::post(control_, [this] {
          if (!draining()) begin_drain();
        });
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ioduel-proactor: cannot start the drain: %s\n", e.what());
      }
    }
  }

  // Stop accepting; shutdown(SHUT_RD) on every connection, so that each read
  // returns what the kernel holds and then end of stream, on either backend
  // (a pending read is woken, a session in a SLEEP finds it when it reads
  // again); each session answers every complete frame, flushes and closes.
  void begin_drain() {
    const bool none_live = drain_.begin();
    for (auto& l : listeners_) l->close();
    for (auto& state : states_)
      state->for_each([](session_base& s) { ::shutdown(s.native_handle(), SHUT_RD); });
    guards_.clear();
    drain_timer_.expires_after(std::chrono::milliseconds(options_.common.drain_timeout_ms));
    drain_timer_.async_wait(asio::bind_executor(control_, [this](const boost::system::error_code& ec) {
      if (!ec) force_stop();
    }));
    if (none_live) finish_drain();
  }

  void finish_drain() {
    if (finished_) return;
    finished_ = true;
    drain_timer_.cancel();
  }

  void force_stop() {
    if (finished_) return;
    finished_ = true;
    forced_ = true;
    std::fprintf(stderr, "ioduel-proactor: drain timeout: closing %zu connection(s)\n",
                 drain_.live());
    for (auto& ctx : contexts_) ctx->stop();
  }

  // Every thread has returned: close what is left and run the handlers that
  // closing completes, so each session frees itself before its io_context
  // goes away.
  void cleanup_after_forced_stop() {
    for (auto& ctx : contexts_) ctx->restart();
    for (auto& state : states_) {
      std::vector<session_base*> open;
      state->for_each([&open](session_base& s) { open.push_back(&s); });
      for (session_base* s : open) s->abort();
    }
    // poll(), not run_for(): on io_uring Boost 1.81's timed wait can leave a
    // timeout completion pointing at a stack frame that is gone (Asio issue
    // 1284; context_runner.hpp).  poll() waits for nothing; the
    // cancellations complete within a few milliseconds, on either backend.
    for (int round = 0; round < 1000 && drain_.live() != 0; ++round) {
      for (auto& ctx : contexts_) ctx->poll();
      if (drain_.live() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // The listeners' cancelled operations too: their handlers point into
    // listeners destroyed before the io_contexts.
    for (auto& ctx : contexts_) ctx->poll();
  }

  proactor_options options_;
  std::ostream& err_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;  // destroyed last
  std::vector<std::unique_ptr<context_state>> states_;
  std::vector<std::unique_ptr<listener>> listeners_;
  std::vector<work_guard> guards_;
  strand_type control_;
  timer_type drain_timer_;
  std::atomic<bool> waiter_done_{false};  // every context has returned: the signal waiter ends
  bool finished_ = false;
  bool forced_ = false;
  protocol::server_identity identity_;
};

}  // namespace

int run_server(const proactor_options& options, std::ostream& err) {
  std::optional<server> s;
  try {
    s.emplace(options, err);
  } catch (const boost::system::system_error& e) {
    // Building an io_context is where Asio sets up its io_uring.
    err << (uses_io_uring() ? "ioduel-proactor-uring" : "ioduel-proactor")
        << ": cannot create the io_context: " << e.what() << "\n";
    return uses_io_uring() ? 3 : 1;
  }
  return s->run();
}

}  // namespace ioduel::proactor
