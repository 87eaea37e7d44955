#include "proactor/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "proactor/backend.hpp"
#include "proactor/session.hpp"
#include "proactor/urgent_data.hpp"

namespace ioduel::proactor {
namespace {

using strand_type = asio::strand<asio::io_context::executor_type>;
using acceptor_type = asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>;
using signal_set_type = asio::basic_signal_set<asio::io_context::executor_type>;
using work_guard = asio::executor_work_guard<asio::io_context::executor_type>;

// How long to wait before accepting again when accept fails for want of
// descriptors or memory and no client could be turned away to make room.
constexpr std::chrono::milliseconds accept_backoff{50};

bool out_of_descriptors(const boost::system::error_code& ec) noexcept {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system;
}

bool out_of_memory(const boost::system::error_code& ec) noexcept {
  return ec == boost::system::errc::no_buffer_space ||
         ec == boost::system::errc::not_enough_memory;
}

std::vector<std::unique_ptr<asio::io_context>> make_contexts(const proactor_options& o) {
  std::vector<std::unique_ptr<asio::io_context>> v;
  if (o.contexts == context_model::shared) {
    v.push_back(std::make_unique<asio::io_context>(static_cast<int>(o.common.threads)));
  } else {
    for (unsigned i = 0; i < o.common.threads; ++i) v.push_back(std::make_unique<asio::io_context>(1));
  }
  return v;
}

/* The server: owns the io_contexts, their threads and the per-context
   states; accepts on the first context and deals connections out; turns the
   first SIGTERM/SIGINT into a drain.  The acceptor, signal and timer handlers
   all run on one strand (`control_`), since in the shared model any thread
   may run them. */
class server final : public session_host {
 public:
  server(const proactor_options& o, std::ostream& err)
      : options_(o),
        err_(err),
        contexts_(make_contexts(o)),
        control_(asio::make_strand(contexts_[0]->get_executor())),
        acceptor_(contexts_[0]->get_executor()),
        accept_timer_(contexts_[0]->get_executor()),
        drain_timer_(contexts_[0]->get_executor()),
        signals_(contexts_[0]->get_executor()),
        identity_{"proactor", backend_name(), o.common.threads, std::chrono::steady_clock::now()} {
    for (std::size_t i = 0; i < contexts_.size(); ++i) {
      states_.push_back(std::make_unique<context_state>(options_.common, *this));
      guards_.emplace_back(contexts_[i]->get_executor());
    }
  }

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  ~server() {
    if (reserve_fd_ >= 0) ::close(reserve_fd_);
  }

  int run() {
    const auto& o = options_.common;
    try {
      const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(o.bind), o.port);
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(asio::socket_base::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      err_ << "ioduel-proactor: cannot listen on " << o.bind << ":" << o.port << ": "
           << e.code().message() << "\n";
      return 1;
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    wait_for_signal();
    // Sessions name this process the owner of their SIGURG when they start.
    urgent::install_signal_counter();
    asio::post(control_, [this] { accept_next(); });
    protocol::announce_listening(o.bind, acceptor_.local_endpoint().port());

    std::vector<std::thread> threads;
    const unsigned n = o.threads;
    for (unsigned i = 1; i < n; ++i) {
      asio::io_context& ctx = options_.contexts == context_model::shared ? *contexts_[0] : *contexts_[i];
      threads.emplace_back([this, &ctx] { run_context(ctx); });
    }
    run_context(*contexts_[0]);
    for (auto& t : threads) t.join();

    if (forced_) cleanup_after_forced_stop();
    if (const auto n_heap = heap_fallbacks().load(); n_heap != 0)
      std::fprintf(stderr, "ioduel-proactor: %llu handler allocations fell back to the heap\n",
                   static_cast<unsigned long long>(n_heap));
    return 0;
  }

  std::string stats_json() const override {
    protocol::counter_snapshot sum;
    for (const auto& s : states_) sum += s->counters.snapshot();
    sum.oob_discarded += urgent::signals.load(std::memory_order_relaxed);
    return protocol::stats_json(identity_, sum);
  }

  // With begin_drain this is a store-then-load on each side (live_ here,
  // draining_ there): only sequential consistency rules out both sides
  // reading the old value, which would leave the drain waiting for its
  // timeout; hence seq_cst on all four accesses, not acquire/release.
  void session_destroyed() noexcept override {
    if (live_.fetch_sub(1, std::memory_order_seq_cst) == 1 && draining()) {
      try {
        asio::post(control_, [this] { finish_drain(); });
      } catch (const std::exception&) {
        // Only the drain timeout is left to end the process.
      }
    }
  }

 private:
  // An exception escaping a handler must not end the server: report it and
  // go on running the context.
  void run_context(asio::io_context& ctx) {
    for (;;) {
      try {
        ctx.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ioduel-proactor: unexpected error in a handler: %s\n", e.what());
      }
    }
  }

  // ---- accepting ----------------------------------------------------------------

  void accept_next() {
    if (draining()) return;
    // A reserve that could not be reopened after the last rejection is
    // retried here, so one failure does not lose it for good.
    if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    try {
      peer_index_ = options_.contexts == context_model::shared ? 0 : next_context_++ % contexts_.size();
      peer_.emplace(contexts_[peer_index_]->get_executor());
      acceptor_.async_accept(
          *peer_, asio::bind_executor(
                      control_, asio::bind_allocator(
                                    handler_allocator<void, decltype(accept_memory_)>(accept_memory_),
                                    [this](const boost::system::error_code& ec) { on_accept(ec); })));
    } catch (const std::exception&) {
      // bad_alloc, or io_uring's ENOBUFS from a first operation: without a
      // retry the accept chain would end here, silently.
      peer_.reset();
      back_off_accept();
    }
  }

  // Accepts again after accept_backoff.  (If even this wait cannot be
  // started, the exception reaches run_context, which reports it.)
  void back_off_accept() {
    accept_timer_.expires_after(accept_backoff);
    accept_timer_.async_wait(asio::bind_executor(control_, [this](const boost::system::error_code& e) {
      if (!e) accept_next();
    }));
  }

  void on_accept(const boost::system::error_code& ec) {
    if (draining() || ec == asio::error::operation_aborted) {
      peer_.reset();
      return;
    }
    if (ec) {
      peer_.reset();
      if (out_of_descriptors(ec) && reject_with_reserve()) {
        accept_next();
      } else if (out_of_descriptors(ec) || out_of_memory(ec)) {
        back_off_accept();  // instead of spinning on a listen queue we cannot empty
      } else {
        accept_next();  // ECONNABORTED and the like concern one client only
      }
      return;
    }
    context_state& state = *states_[peer_index_];
    if (live_.load(std::memory_order_relaxed) >= options_.common.max_connections) {
      state.counters.connections_rejected.add();
      boost::system::error_code ignored;
      peer_->close(ignored);
    } else {
      try {
        start_session(std::move(*peer_), peer_index_);
      } catch (const std::exception&) {
        state.counters.connections_rejected.add();
      }
    }
    peer_.reset();
    accept_next();
  }

  // Out of descriptors: free the one held in reserve, accept the waiting
  // client and close it at once (counted as rejected), then take the reserve
  // back.  Clients are turned away promptly instead of piling up in the
  // listen queue, and the acceptor never spins.
  bool reject_with_reserve() {
    if (reserve_fd_ < 0) return false;
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    bool rejected = false;
    ::pollfd p{acceptor_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        ::close(fd);
        states_[0]->counters.connections_rejected.add();
        rejected = true;
      }
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return rejected;
  }

  void start_session(socket_type socket, std::size_t index) {
    boost::system::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    context_state& state = *states_[index];
    if (options_.contexts == context_model::shared) {
      const strand_type strand = asio::make_strand(contexts_[0]->get_executor());
      auto* s = new session<strand_type>(std::move(socket), strand, state);
      admit(state, *s);
      s->post_start();
    } else {
      const auto ex = contexts_[index]->get_executor();
      auto* s = new session<asio::io_context::executor_type>(std::move(socket), ex, state);
      admit(state, *s);
      s->post_start();
    }
  }

  void admit(context_state& state, session_base& s) {
    live_.fetch_add(1, std::memory_order_seq_cst);
    state.counters.connections_accepted.add();
    state.add(s);
  }

  // ---- stopping -----------------------------------------------------------------

  void wait_for_signal() {
    signals_.async_wait(asio::bind_executor(control_, [this](const boost::system::error_code& ec, int) {
      if (ec) return;
      // A second signal during the drain changes nothing: every reply owed is
      // still sent, within the drain timeout.
      if (!draining()) begin_drain();
      if (!finished_) wait_for_signal();
    }));
  }

  // Stop accepting; shutdown(SHUT_RD) on every connection, so that each read
  // returns what the kernel holds and then end of stream, on either backend
  // (a pending read is woken, a session in a SLEEP finds it when it reads
  // again); each session answers every complete frame, flushes and closes.
  void begin_drain() {
    draining_.store(true, std::memory_order_seq_cst);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_timer_.cancel();
    for (auto& state : states_)
      state->for_each([](session_base& s) { ::shutdown(s.native_handle(), SHUT_RD); });
    guards_.clear();
    drain_timer_.expires_after(std::chrono::milliseconds(options_.common.drain_timeout_ms));
    drain_timer_.async_wait(asio::bind_executor(control_, [this](const boost::system::error_code& ec) {
      if (!ec) force_stop();
    }));
    if (live_.load(std::memory_order_seq_cst) == 0) finish_drain();
  }

  void finish_drain() {
    if (finished_) return;
    finished_ = true;
    signals_.cancel();
    drain_timer_.cancel();
    accept_timer_.cancel();
  }

  void force_stop() {
    if (finished_) return;
    finished_ = true;
    forced_ = true;
    std::fprintf(stderr, "ioduel-proactor: drain timeout: closing %zu connection(s)\n",
                 live_.load(std::memory_order_acquire));
    for (auto& ctx : contexts_) ctx->stop();
  }

  // Every thread has returned: close what is left and run the handlers that
  // closing completes, so each session frees itself before its io_context
  // goes away.
  void cleanup_after_forced_stop() {
    signals_.cancel();
    accept_timer_.cancel();
    for (auto& ctx : contexts_) ctx->restart();
    for (auto& state : states_) {
      std::vector<session_base*> open;
      state->for_each([&open](session_base& s) { open.push_back(&s); });
      for (session_base* s : open) s->abort();
    }
    for (int round = 0; round < 100 && live_.load() != 0; ++round)
      for (auto& ctx : contexts_) ctx->run_for(std::chrono::milliseconds(10));
  }

  proactor_options options_;
  std::ostream& err_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;  // destroyed last
  std::vector<std::unique_ptr<context_state>> states_;
  std::vector<work_guard> guards_;
  strand_type control_;
  acceptor_type acceptor_;
  timer_type accept_timer_;
  timer_type drain_timer_;
  signal_set_type signals_;
  std::optional<socket_type> peer_;
  std::size_t peer_index_ = 0;
  std::size_t next_context_ = 0;
  handler_memory<256> accept_memory_;
  int reserve_fd_ = -1;
  std::atomic<std::size_t> live_{0};
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
