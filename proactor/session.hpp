#pragma once
// One client connection on Asio's completion model: the operations in flight
// and how the connection ends (its state and frame loop: session_core.hpp).
//
// async_read_some into the input -> the frame loop appends replies to `out_`
// -> async_write_some of the whole batch, resumed until it is out, while
// later replies collect in `out_`.  At most one read, one write, one timer
// wait are in flight, each with its own recycled handler memory
// (handler_memory.hpp).
//
// Lifecycle (`phase_`): serving -> input_ended (end of stream: the client's
// FIN, or the drain's SHUT_RD) or erred (an ERROR reply queued) -> lingering
// (our FIN sent, input read and discarded) -> closed.  The session owns
// itself: it deletes itself once closed with no handler pending (`pending_`),
// so handlers capture a plain pointer and no reference count moves.  Every
// handler body runs under `lock_` (run_handler; handler_lock.hpp): empty in
// the per-thread model, a mutex in the shared one.

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <utility>

#include <boost/asio/post.hpp>

#include "proactor/buffer_pool.hpp"
#include "proactor/session_core.hpp"
#include "proactor/urgent_data.hpp"
#include "base/socket_queue.hpp"

namespace ioduel::proactor {

template <class Model>
class session final : public session_core<Model> {
  using core = session_core<Model>;
  using typename core::clock;
  using core::shared_context, core::socket_, core::timer_, core::ctx_, core::out_, core::wbuf_,
      core::lock_, core::deadline_, core::needed_, core::pending_, core::timer_waiting_, core::phase_, core::reading_,
      core::writing_, core::sleeping_, core::paused_, core::backoff_, core::input_, core::read_memory_,
      core::write_memory_, core::timer_memory_, core::closed, core::lingering, core::may_read,
      core::owes_output, core::bind, core::count, core::is_enobufs, core::queued_output,
      core::parse_frames, core::echo_raw, core::finish_sleep, core::count_sent;

 public:
  // pending_ starts at 1: the server has posted start(), which may still be
  // queued when a forced stop aborts the session; the session must outlive it.
  session(socket_type socket, context_state& ctx) : core(std::move(socket), ctx) {}

  // Runs on the session's io_context once the session is registered; the
  // handler the server posted, counted in pending_ from construction.
  void start() {
    deadline_.touch(clock::now());
    if (!closed()) {
      guarded([this] {
        // SIGURG counts urgent bytes from now on (urgent_data.hpp); one
        // that came before raised none and is counted here.
        count(ctx_.counters().oob_discarded, urgent::claim(socket_.native_handle()));
        arm_timer();
        step();
      });
    }
  }

  // Posts start(), the handler counted in pending_ from construction.  It
  // lives in read_memory_ (free until start reads), so no heap: a post that
  // failed under RLIMIT_AS left a session that never started.  Should the
  // post fail all the same, the session is undone.
  void post_start() {
    try {
      asio::post(socket_.get_executor(), bind(read_memory_, [this] { run_handler([this] { start(); }); }));
    } catch (...) {
      abandon();
      throw;
    }
  }

  // After a forced stop, from the thread that cleans up (no io_context runs).
  void abort() noexcept override {
    bool last = false;
    {
      std::lock_guard lock(lock_);
      close(false);
      last = pending_ == 0;
    }
    if (last) destroy();
  }
  int native_handle() noexcept override { return socket_.native_handle(); }

 private:
  ~session() = default;

  // ---- the common shape of every completion handler -------------------------

  // Runs `f`; an exception from starting an operation (Asio's io_uring service
  // throws ENOBUFS when it cannot get a submission-queue entry for a new
  // descriptor) closes this connection instead of unwinding io_context::run.
  // Running out of memory for this connection's input or replies ends this
  // connection alone, with an ERROR reply where one can still be sent.
  template <class F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::bad_alloc&) {
      on_alloc_failure();
    } catch (const std::exception&) {
      close(true);
    }
  }

  // What was being read or built is incomplete: drop it and the replies not
  // yet started (freeing memory first); the ERROR (id 0, naming memory)
  // follows the whole replies left in wbuf_, then the session ends as after
  // any ERROR.  Lingering, or failing again after the ERROR, closes.
  void on_alloc_failure() noexcept {
    if (closed()) return;
    if (lingering() || phase_ == session_phase::erred) {
      close(true);
      return;
    }
    out_.clear();
    input_.drop(reading_, out_);
    sleeping_ = false;
    paused_ = false;
    try {
      protocol::append_error_reply(out_, 0, "out of memory: the server cannot hold this connection's data");
    } catch (const std::bad_alloc&) {
      close(true);
      return;
    }
    count(ctx_.counters().protocol_errors);
    phase_ = session_phase::erred;
    // Once more in guarded(): a failure there now finds the phase erred and closes.
    guarded([this] {
      arm_timer();
      step();
    });
  }

  // Every handler runs here: its body under lock_, then the session deletes
  // itself once closed with no handler of it pending or running (a handler
  // waiting for the lock is still counted in pending_), after the unlock.
  template <class F>
  void run_handler(F&& body) noexcept {
    bool last = false;
    {
      std::lock_guard lock(lock_);
      body();
      last = --pending_ == 0 && closed();
    }
    if (last) destroy();
  }

  // post_start() failed: runs on the listener's thread, one that runs this
  // context (listener.hpp), before any handler of the session.
  void abandon() noexcept {
    phase_ = session_phase::closed;
    ctx_.remove(*this);
    count(ctx_.counters().connections_closed);
    boost::system::error_code ignored;
    socket_.close(ignored);
    destroy();
  }

  // No UBSan vptr check on the host's call: the check probes the object's
  // memory through a pipe, which fails while the process is out of
  // descriptors (a case the server must survive), and then reports an
  // "invalid vptr" on the server object itself and exits.  The host is the
  // server, whose type is never in doubt.
  __attribute__((no_sanitize("vptr"))) void destroy() noexcept {
    session_host& host = ctx_.host;
    delete this;
    block_pool::give_back_surplus();  // a client that left takes its share of the pool
    host.session_destroyed();
  }

  // ---- reading ---------------------------------------------------------------

  void start_read() {
    if (!may_read()) return;
    const asio::mutable_buffer target = lingering() ? input_.discard_target() : input_.prepare_read(needed_);
    reading_ = true;
    ++pending_;
    try {
      socket_.async_read_some(target, bind(read_memory_, [this](const boost::system::error_code& ec, std::size_t n) {
                               run_handler([&] { on_read(ec, n); });
                             }));
    } catch (...) {
      reading_ = false;
      --pending_;
      throw;
    }
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    reading_ = false;
    if (!closed()) {
      guarded([&] {
        if (is_enobufs(ec)) {
          begin_backoff();
          return;
        }
        if (lingering()) {
          if (ec) close(false);
          else start_read();
          return;
        }
        if (ec == asio::error::eof) {
          if (phase_ == session_phase::serving) phase_ = session_phase::input_ended;
        } else if (ec) {
          // A reset mid-frame and the like: counted, never fatal to the server.
          close(ec != asio::error::operation_aborted);
          return;
        } else {
          deadline_.touch(clock::now());
          input_.commit(n);
        }
        step();
      });
    }
  }

  // io_uring could not take an operation: try again shortly rather than drop
  // the connection (see docs/proactor.md).  step() on expiry resumes both the
  // read and the write.
  void begin_backoff() {
    backoff_ = true;
    timer_.expires_after(enobufs_backoff);
    start_timer_wait();
  }

  // ---- after every event ------------------------------------------------------------

  // Everything that can happen after any event, in one place.
  void step() {
    if (closed()) return;
    if (ctx_.options.mode == protocol::server_mode::raw_echo) echo_raw();
    else if (parse_frames()) arm_timer();
    flush();
    input_.adjust(needed_, reading_);
    start_read();
    maybe_finish();
  }

  // Decides whether the connection is done: after an ERROR reply, or after
  // end of stream (the client's, or the drain's), once every owed reply is out.
  void maybe_finish() {
    if (closed() || lingering() || owes_output() || sleeping_) return;
    if (phase_ == session_phase::erred) {
      begin_linger();
    } else if (phase_ == session_phase::input_ended) {
      // Whatever is left is a partial frame: nothing is owed.  Bytes that
      // arrived after the drain's SHUT_RD would make close() send RST, so
      // those are read out first.
      int unread = 0;
      if (::ioctl(socket_.native_handle(), FIONREAD, &unread) == 0 && unread > 0) begin_linger();
      else close(false);
    }
  }

  // ---- writing -------------------------------------------------------------------

  // One async_write_some at a time over wbuf_, resumed from on_write until
  // the batch is out, so that each part that leaves counts as activity (a
  // client reading slowly is not idle) and a failed submission (io_uring's
  // ENOBUFS: nothing was written) can be retried where it stopped.  Each
  // write offers at most write_slice bytes: a fast reader's socket takes
  // several MiB in one sendmsg, and every completion is one handler's turn,
  // so the slice is what bounds one connection's output per turn while
  // other connections on the same loop wait.
  void flush() {
    if (writing_ || closed() || backoff_) return;
    if (wbuf_.empty()) {
      if (out_.empty()) return;
      out_.swap(wbuf_);
    }
    writing_ = true;
    ++pending_;
    try {
      socket_.async_write_some(asio::buffer(wbuf_.readable().data(), std::min(wbuf_.size(), write_slice)),
                               bind(write_memory_, [this](const boost::system::error_code& ec, std::size_t n) {
                                 run_handler([&] { on_write(ec, n); });
                               }));
    } catch (...) {
      writing_ = false;
      --pending_;
      throw;
    }
  }

  void on_write(const boost::system::error_code& ec, std::size_t n) {
    writing_ = false;
    // What the socket took counts even if the session closed meanwhile (under
    // epoll the first sendmsg runs inside async_write_some): the client may
    // have read it.  wbuf_ outlives a write in flight (close()).
    count_sent(n);
    if (!closed()) {
      guarded([&] {
        if (is_enobufs(ec)) {
          begin_backoff();
          return;
        }
        if (ec) {
          // EPIPE, a reset.
          close(ec != asio::error::operation_aborted);
          return;
        }
        if (n != 0) deadline_.touch(clock::now());
        wbuf_.consume(n);
        if (wbuf_.empty() && out_.empty()) wbuf_.release();
        if (paused_ && queued_output() <= ctx_.options.high_water / 2) paused_ = false;
        step();
      });
    }
  }

  // ---- one timer for idle timeout, SLEEP, linger and backoff (deadline.hpp) ------

  // Sets the timer to the earliest deadline the session has (a change of
  // expiry cancels the wait in flight, whose handler then does nothing).
  void arm_timer() {
    if (closed() || backoff_) return;
    const auto deadline = deadline_.next(sleeping_, lingering());
    if (deadline == clock::time_point::max()) {
      if (timer_waiting_) timer_.cancel();
      return;
    }
    if (timer_waiting_ && timer_.expiry() == deadline) return;
    timer_.expires_at(deadline);
    start_timer_wait();
  }

  void start_timer_wait() {
    ++timer_waiting_;
    ++pending_;
    try {
      timer_.async_wait(
          bind(timer_memory_, [this](const boost::system::error_code& ec) { run_handler([&] { on_timer(ec); }); }));
    } catch (...) {
      --timer_waiting_;
      --pending_;
      throw;
    }
  }

  void on_timer(const boost::system::error_code& ec) {
    --timer_waiting_;
    if (!closed() && ec != asio::error::operation_aborted) {
      guarded([&] {
        if (backoff_) {
          backoff_ = false;
          arm_timer();
          step();
          return;
        }
        switch (deadline_.expired(clock::now(), sleeping_, lingering())) {
          case session_deadline::expiry::sleep_over:
            finish_sleep();
            step();
            break;
          case session_deadline::expiry::linger_over:
            close(false);
            return;
          case session_deadline::expiry::idle:
            // Owed output (queued, or stuck at a peer not reading now) is not
            // idle: look again a timeout later.  After an ERROR only the
            // output's progress counts: closed once none left for the timeout.
            if (phase_ != session_phase::erred && (owes_output() || paused_)) {
              deadline_.touch(clock::now());
              break;
            }
            // Handed to the kernel but still leaving it for a peer that keeps
            // reading: output progress, so not idle (base/socket_queue.hpp).
            if (send_queue_moved(socket_.native_handle(), this->kernel_queued_)) {
              deadline_.touch(clock::now());
              break;
            }
            // Nothing read, no byte written, no reply owed for the whole timeout.
            count(ctx_.counters().idle_timeouts);
            close(false);
            return;
          case session_deadline::expiry::none:
            break;
        }
        if (timer_waiting_ == 0) arm_timer();
      });
    }
  }

  // ---- ending ------------------------------------------------------------------------

  // Sends FIN, then reads and discards until the client closes or linger_time
  // passes, then closes: closing with unread input would reset the
  // connection before the client has read what was sent (an ERROR reply,
  // the last replies of a drain).
  void begin_linger() {
    phase_ = session_phase::lingering;
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    deadline_.linger();
    arm_timer();
    start_read();
  }

  void close(bool failed) noexcept {
    if (closed()) return;
    phase_ = session_phase::closed;
    ctx_.remove(*this);
    count(ctx_.counters().connections_closed);
    if (failed) count(ctx_.counters().connections_failed);
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
    // On io_uring no operation is cancelled and no descriptor closed with
    // an operation in flight: shutdown() completes a pending read (end of
    // stream) and write (EPIPE) as the drain's SHUT_RD does, and the
    // destructor closes the descriptor once every completion has run
    // (pending_ == 0).  Boost 1.81's cancellation (close() or cancel() with
    // an operation in flight) is unsafe there: its IORING_OP_ASYNC_CANCEL
    // entry never gets its user_data set, and liburing 2.3 does not clear a
    // reused submission entry, so the cancel's completion is delivered to
    // whatever operation queue last used that entry: a stray result for
    // its operation, and when that queue already waits in the batch being
    // run, a second push of it, which unlinks the completions queued
    // between (reads, writes and accepts that then never complete while
    // every thread sleeps in io_uring_wait_cqe).  close() also frees the
    // socket's io_object with the cancelled operation still queued in it,
    // for the next socket registered to inherit.  docs/proactor.md.
    ::shutdown(socket_.native_handle(), SHUT_RDWR);
#else
    boost::system::error_code ignored;
    socket_.close(ignored);
#endif
    timer_.cancel();
    // A buffer an operation still targets (io_uring may be using it until the
    // cancellation completes) is released by the destructor instead.
    input_.release_unless(reading_);
    out_.release();
    if (!writing_) wbuf_.release();
  }

};

}  // namespace ioduel::proactor
