#pragma once
// One client connection on Asio's completion model: the operations in flight
// and how the connection ends (its state and frame loop: session_core.hpp).
//
// async_read_some into the input -> the frame loop appends replies to the
// output (output_queue.hpp) -> written, while later replies collect behind.
// On epoll the session sends at once from the handler (a non-blocking
// write_some) and waits for room (async_wait) only for what the socket did
// not take; on io_uring an async_write_some goes out with the loop's next
// submission batch (flush()).  At most one read, one write (or wait), one
// timer wait are in flight, each with its own recycled handler memory
// (handler_memory.hpp).
//
// State (session_phase.hpp): the phase serving -> input_ended (end of
// stream: the client's FIN, or the drain's SHUT_RD) or erred (an ERROR reply
// queued) -> lingering (our FIN sent, input read and discarded) -> closed;
// each operation idle, in flight or backing off; the input held by a SLEEP
// or by --high-water.  The session owns
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
  using core::shared_context, core::socket_, core::timer_, core::ctx_,
      core::lock_, core::deadline_, core::needed_, core::pending_, core::timer_waiting_, core::phase_, core::read_,
      core::write_, core::hold_, core::input_, core::output_, core::read_memory_, core::write_memory_,
      core::timer_memory_, core::closed, core::lingering, core::reading, core::writing, core::backing_off,
      core::sleeping, core::paused, core::may_read, core::may_write, core::owes_output, core::bind, core::count,
      core::is_enobufs, core::queued_output, core::parse_frames, core::echo_raw, core::finish_sleep,
      core::run_handler, core::start_op, core::abandon, core::destroy, core::wrote, core::close,
      core::arm_timer, core::begin_backoff;
  friend core;  // destroy() deletes the session

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
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
        // write_some then sends what the socket has room for and returns
        // would_block for the rest instead of waiting (flush()).
        socket_.non_blocking(true);
#endif
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
  // follows the whole replies left in the batch, then the session ends as after
  // any ERROR.  Lingering, or failing again after the ERROR, closes.
  void on_alloc_failure() noexcept {
    if (closed()) return;
    if (lingering() || phase_ == session_phase::erred) {
      close(true);
      return;
    }
    output_.drop_pending();
    input_.drop(reading(), output_.pending());
    hold_ = input_hold::none;
    try {
      protocol::append_error_reply(output_.pending(), 0, "out of memory: the server cannot hold this connection's data");
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

  // ---- reading ---------------------------------------------------------------

  // Asio starts a read at once (speculatively).  Right after a read and a
  // reply it finds the socket empty on bulk traffic: one recvfrom wasted per
  // read, as in Asio's own server.  Posting the start behind the completions
  // queued saved that call (1.47 recvfrom per 16 KiB message instead of
  // 2.0) but cost throughput: 6.9% with 100 sessions and 2.8% with 1,000
  // (interleaved pairs, docs/proactor.md), so reads start at once.
  void start_read() {
    if (!may_read()) return;
    const asio::mutable_buffer target = lingering() ? input_.discard_target() : input_.prepare_read(needed_);
    start_op(read_, read_memory_, [&](auto handler) { socket_.async_read_some(target, std::move(handler)); },
             [this](const boost::system::error_code& ec, std::size_t n) { on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    read_ = op_state::idle;
    if (!closed()) {
      guarded([&] {
        if (is_enobufs(ec)) {
          begin_backoff(read_);
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

  // ---- after every event ------------------------------------------------------------

  // Everything that can happen after any event, in one place.
  void step() {
    if (closed()) return;
    for (;;) {
      if (ctx_.options.mode == protocol::server_mode::raw_echo) echo_raw();
      else if (parse_frames()) arm_timer();
      const bool held = paused();
      flush();
      // A send at once that took the output below half the high-water mark
      // ended the pause: answer what it held back before reading more.
      if (!held || paused() || closed()) break;
    }
    input_.adjust(needed_, reading());
    start_read();
    maybe_finish();
  }

  // Decides whether the connection is done: after an ERROR reply, or after
  // end of stream (the client's, or the drain's), once every owed reply is out.
  void maybe_finish() {
    if (closed() || lingering() || owes_output() || sleeping()) return;
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

  // Writes the output one slice at a time (output_queue.hpp), resumed until
  // it is out, so that each part that leaves counts as activity (a client
  // reading slowly is not idle) and a failed submission (ENOBUFS: nothing
  // was written) can be retried where it stopped.  The slice bounds one
  // connection's output per turn while other connections on the loop wait.
  void flush() {
    if (!may_write()) return;
    asio::const_buffer slice = output_.next_slice();
    if (slice.size() == 0) return;
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
    // io_uring: the write joins the loop's next submission batch, one
    // io_uring_enter for every connection's writes and reads; a send from
    // here would be a system call of its own per reply.
    start_op(write_, write_memory_, [&](auto handler) { socket_.async_write_some(slice, std::move(handler)); },
             [this](const boost::system::error_code& ec, std::size_t n) { on_write(ec, n); });
#else
    // epoll: send at once.  Asio's async_write_some would send as soon, but
    // deliver its completion through the scheduler's queue, a reactor round
    // trip per reply; write_some on the non-blocking socket is one sendto
    // and no handler.  One slice per turn: what is left (the socket had no
    // room, or the output is longer) waits for room (below).
    boost::system::error_code failure;
    const std::size_t n = socket_.write_some(slice, failure);
    if (n != 0) wrote(n);
    if (is_enobufs(failure)) {
      begin_backoff(write_);  // nothing was lost: try again shortly
      return;
    }
    if (failure && failure != asio::error::would_block) {
      close(true);  // EPIPE, a reset
      return;
    }
    if (output_.empty()) return;
    start_op(write_, write_memory_,
             [&](auto handler) { socket_.async_wait(asio::socket_base::wait_write, std::move(handler)); },
             [this](const boost::system::error_code& ec) { on_writable(ec); });
#endif
  }

  // epoll: the socket has room again (or failed: the send says how).
  void on_writable(const boost::system::error_code& ec) {
    write_ = op_state::idle;
    if (!closed()) {
      guarded([&] {
        if (ec) {
          close(ec != asio::error::operation_aborted);
          return;
        }
        step();
      });
    }
  }

  // io_uring: a write completed.
  void on_write(const boost::system::error_code& ec, std::size_t n) {
    write_ = op_state::idle;
    // What the socket took counts even if the session closed meanwhile: the
    // client may have read it.  The output outlives a write in flight (close()).
    if (n != 0) wrote(n);
    if (!closed()) {
      guarded([&] {
        if (is_enobufs(ec)) {
          begin_backoff(write_);
          return;
        }
        if (ec) {
          // EPIPE, a reset.
          close(ec != asio::error::operation_aborted);
          return;
        }
        step();
      });
    }
  }

  // ---- the timer fired (armed by session_core::arm_timer, deadline.hpp) ------------

  void on_timer(const boost::system::error_code& ec) {
    --timer_waiting_;
    if (!closed() && ec != asio::error::operation_aborted) {
      guarded([&] {
        if (backing_off()) {
          if (read_ == op_state::backoff) read_ = op_state::idle;
          if (write_ == op_state::backoff) write_ = op_state::idle;
          arm_timer();
          step();
          return;
        }
        switch (deadline_.expired(clock::now(), sleeping(), lingering())) {
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
            if (phase_ != session_phase::erred && (owes_output() || paused())) {
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

};

}  // namespace ioduel::proactor
