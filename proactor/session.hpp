#pragma once
// One client connection on Asio's completion model.
//
// Data path: async_read_some into the session's input -> protocol::decode_frame
// in place -> protocol::answer_request appends the reply to `out_` ->
// async_write_some of a whole batch of replies (resumed until it is all out),
// while replies to later requests collect in the other buffer.  At most one
// read, one write, one timer wait and one urgent-data wait are in flight,
// each with its own recycled handler memory (handler_memory.hpp).
//
// Memory while idle: the pending read targets the input's inline bytes
// (input_buffer.hpp); output blocks are held only while replies are queued.
//
// Lifecycle (`phase_`): serving -> input_ended (end of stream: the client's
// FIN, or the drain's SHUT_RD) or erred (an ERROR reply queued) -> lingering
// (our FIN sent, input read and discarded) -> closed.  Sleeping and paused
// are orthogonal to it and only hold back parsing and reading.
//
// Executor is asio::io_context::executor_type (one io_context per thread: the
// handlers are already serialized) or a strand of it (one io_context shared by
// every thread).  The session owns itself: it deletes itself once it is
// closed and no handler of it is pending (`pending_`), so handlers capture a
// plain pointer and no reference count is touched per operation.

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "proactor/buffer_pool.hpp"
#include "proactor/context_state.hpp"
#include "proactor/handler_memory.hpp"
#include "proactor/input_buffer.hpp"
#include "protocol/dispatch.hpp"
#include "protocol/parser.hpp"

namespace ioduel::proactor {

namespace asio = boost::asio;

using socket_type = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                              asio::wait_traits<std::chrono::steady_clock>,
                                              asio::io_context::executor_type>;

// How long a connection closed after an ERROR reply keeps reading (and
// discarding) so that closing with unread input does not reset the
// connection before the client has read the reply.
inline constexpr std::chrono::milliseconds linger_time{2000};
// Backoff before retrying an operation io_uring refused for want of
// submission-queue space (ENOBUFS).
inline constexpr std::chrono::milliseconds enobufs_backoff{5};

enum class session_phase : std::uint8_t {
  serving,      // reading and answering
  input_ended,  // end of stream: answer every complete frame held, then end
  erred,        // an ERROR reply is queued: nothing more is parsed or read
  lingering,    // our FIN is sent: read and discard until EOF or the deadline
  closed,
};

template <class Executor>
class session final : public session_base {
  static constexpr bool shared_context = !std::is_same_v<Executor, asio::io_context::executor_type>;
  using clock = std::chrono::steady_clock;

 public:
  // pending_ starts at 1: the server has posted start(), which may still be
  // queued when a forced stop aborts the session; the session must outlive it.
  session(socket_type socket, const Executor& ex, context_state& ctx)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), executor_(ex), ctx_(ctx) {}

  // Runs on the session's executor once the session is registered; the
  // handler the server posted, counted in pending_ from construction.
  void start() {
    last_activity_ = clock::now();
    if (!closed()) {
      guarded([this] {
        arm_oob_wait();
        arm_timer();
        step();
      });
    }
    finish_handler();
  }

  void abort() noexcept override { close(false); }
  int native_handle() noexcept override { return socket_.native_handle(); }

 private:
  ~session() = default;

  bool closed() const noexcept { return phase_ == session_phase::closed; }
  bool lingering() const noexcept { return phase_ == session_phase::lingering; }
  // Frames are parsed while serving and, after end of stream, until none is left.
  bool may_parse() const noexcept {
    return (phase_ == session_phase::serving || phase_ == session_phase::input_ended) && !sleeping_ &&
           !paused_;
  }
  bool may_read() const noexcept {
    if (reading_ || backoff_) return false;
    if (lingering()) return true;
    // Draining does not stop reading: the frames that have arrived are owed
    // replies, and closing with unread input would reset the connection.
    return phase_ == session_phase::serving && !sleeping_ && !paused_;
  }
  bool owes_output() const noexcept { return writing_ || !out_.empty() || !wbuf_.empty(); }

  // ---- the common shape of every completion handler -------------------------

  // Binds a handler to this session's executor (the strand, when shared) and
  // to the handler memory kept for its kind of operation.
  template <class Memory, class F>
  auto bind(Memory& memory, F&& f) {
    if constexpr (shared_context) {
      return asio::bind_allocator(handler_allocator<void, Memory>(memory),
                                  asio::bind_executor(executor_, std::forward<F>(f)));
    } else {
      return asio::bind_allocator(handler_allocator<void, Memory>(memory), std::forward<F>(f));
    }
  }

  // Runs `f`; an exception from starting an operation (Asio's io_uring service
  // throws ENOBUFS when it cannot get a submission-queue entry for a new
  // descriptor) closes this connection instead of unwinding io_context::run.
  template <class F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception&) {
      close(true);
    }
  }

  // Every handler ends here: the session may delete itself only once no
  // handler of it is pending or running.
  void finish_handler() noexcept {
    if (--pending_ == 0 && closed()) destroy();
  }

  void destroy() noexcept {
    session_host& host = ctx_.host;
    delete this;
    block_pool::give_back_surplus();  // a client that left takes its share of the pool
    host.session_destroyed();
  }

  template <class Counter>
  static void count(Counter& c, std::uint64_t n = 1) noexcept {
    if constexpr (shared_context) c.add(n);
    else c.add_local(n);
  }

  static bool is_enobufs(const boost::system::error_code& ec) noexcept {
    return ec == boost::system::errc::no_buffer_space;
  }

  // ---- reading ---------------------------------------------------------------

  void start_read() {
    if (!may_read()) return;
    const asio::mutable_buffer target = lingering() ? input_.discard_target() : input_.prepare_read(needed_);
    reading_ = true;
    ++pending_;
    try {
      socket_.async_read_some(target, bind(read_memory_, [this](const boost::system::error_code& ec,
                                                                std::size_t n) { on_read(ec, n); }));
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
          last_activity_ = clock::now();
          input_.commit(n);
        }
        step();
      });
    }
    finish_handler();
  }

  // io_uring could not take an operation: try again shortly rather than drop
  // the connection (see docs/proactor.md).  step() on expiry resumes both the
  // read and the write.
  void begin_backoff() {
    backoff_ = true;
    timer_.expires_after(enobufs_backoff);
    start_timer_wait();
  }

  // ---- turning input into replies ----------------------------------------------

  std::size_t queued_output() const noexcept { return out_.size() + wbuf_.size(); }

  void parse_frames() {
    auto& c = ctx_.counters;
    const std::uint64_t high_water = ctx_.options.high_water;
    while (may_parse()) {
      const std::span<char> in = input_.bytes();
      if (in.empty()) {
        needed_ = protocol::header_size;
        break;
      }
      const auto r = protocol::decode_frame(in, ctx_.parse);
      if (r.what == protocol::decode_result::status::need_more) {
        needed_ = r.needed;
        break;
      }
      if (r.what == protocol::decode_result::status::error) {
        const std::size_t before = out_.size();
        protocol::append_error_reply(out_, r.failure.id(), r.failure.message(ctx_.parse));
        count(c.frames_out);
        count(c.bytes_out, out_.size() - before);
        count(c.protocol_errors);
        phase_ = session_phase::erred;
        input_.consume(in.size());
        break;
      }
      count(c.frames_in);
      count(c.bytes_in, r.consumed);
      const std::size_t before = out_.size();
      const auto outcome =
          protocol::answer_request(r.f, out_, [this] { return ctx_.host.stats_json(); });
      input_.consume(r.consumed);
      if (outcome.deferred) {
        begin_sleep(r.f.hdr.id, outcome.sleep_us);
      } else {
        count(c.frames_out);
        count(c.bytes_out, out_.size() - before);
      }
      if (queued_output() > high_water) paused_ = true;
    }
  }

  void echo_raw() {
    auto& c = ctx_.counters;
    const std::span<char> in = input_.bytes();
    if (in.empty() || paused_ || lingering()) return;
    std::memcpy(out_.prepare(in.size()), in.data(), in.size());
    out_.commit(in.size());
    count(c.bytes_in, in.size());
    count(c.bytes_out, in.size());
    input_.consume(in.size());
    needed_ = 1;
    if (queued_output() > ctx_.options.high_water) paused_ = true;
  }

  // Everything that can happen after any event, in one place.
  void step() {
    if (closed()) return;
    if (ctx_.options.mode == protocol::server_mode::raw_echo) echo_raw();
    else parse_frames();
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

  // ---- SLEEP ---------------------------------------------------------------------

  void begin_sleep(std::uint64_t id, std::uint32_t us) {
    sleeping_ = true;
    sleep_id_ = id;
    sleep_until_ = clock::now() + std::chrono::microseconds(us);
    arm_timer();
  }

  void finish_sleep() {
    auto& c = ctx_.counters;
    sleeping_ = false;
    // The connection was owed this reply all along: idleness counts from now.
    last_activity_ = clock::now();
    protocol::append_empty_reply(out_, protocol::opcode::sleep_reply, sleep_id_);
    count(c.frames_out);
    count(c.bytes_out, protocol::header_size);
  }

  // ---- writing -------------------------------------------------------------------

  // One async_write_some at a time over wbuf_, resumed from on_write until
  // the batch is out, so that each part that leaves counts as activity (a
  // client reading slowly is not idle) and a failed submission (io_uring's
  // ENOBUFS: nothing was written) can be retried where it stopped.
  void flush() {
    if (writing_ || closed() || backoff_) return;
    if (wbuf_.empty()) {
      if (out_.empty()) return;
      out_.swap(wbuf_);
    }
    writing_ = true;
    ++pending_;
    try {
      socket_.async_write_some(asio::buffer(wbuf_.readable().data(), wbuf_.size()),
                               bind(write_memory_, [this](const boost::system::error_code& ec,
                                                          std::size_t n) { on_write(ec, n); }));
    } catch (...) {
      writing_ = false;
      --pending_;
      throw;
    }
  }

  void on_write(const boost::system::error_code& ec, std::size_t n) {
    writing_ = false;
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
        if (n != 0) last_activity_ = clock::now();
        wbuf_.consume(n);
        if (wbuf_.empty() && out_.empty()) wbuf_.release();
        if (paused_ && queued_output() <= ctx_.options.high_water / 2) paused_ = false;
        step();
      });
    }
    finish_handler();
  }

  // ---- one timer for idle timeout, SLEEP, linger and backoff ---------------------

  // Sets the timer to the earliest deadline the session has (a change of
  // expiry cancels the wait in flight, whose handler then does nothing).
  void arm_timer() {
    if (closed() || backoff_) return;
    auto deadline = clock::time_point::max();
    if (sleeping_) deadline = sleep_until_;
    else if (lingering()) deadline = linger_until_;
    else if (ctx_.options.idle_timeout_ms != 0)
      deadline = last_activity_ + std::chrono::milliseconds(ctx_.options.idle_timeout_ms);
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
          bind(timer_memory_, [this](const boost::system::error_code& ec) { on_timer(ec); }));
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
        const auto now = clock::now();
        if (backoff_) {
          backoff_ = false;
          arm_timer();
          step();
          return;
        }
        if (sleeping_ && now >= sleep_until_) {
          finish_sleep();
          step();
        } else if (lingering() && now >= linger_until_) {
          close(false);
          return;
        } else if (!sleeping_ && !lingering() && ctx_.options.idle_timeout_ms != 0 &&
                   now - last_activity_ >= std::chrono::milliseconds(ctx_.options.idle_timeout_ms)) {
          // Nothing read, no byte written, no reply owed for the whole timeout.
          count(ctx_.counters.idle_timeouts);
          close(false);
          return;
        }
        if (timer_waiting_ == 0) arm_timer();
      });
    }
    finish_handler();
  }

  // ---- urgent data -----------------------------------------------------------------

  // TCP urgent data is not part of the stream: with SO_OOBINLINE off the
  // kernel keeps the urgent byte out of in-band reads, and a read stops short
  // at the urgent mark.  On epoll a receive with MSG_OOB stays queued as
  // Asio's "except" operation: the reactor performs it before the in-band
  // read of the same wake-up, so the byte is read (and counted) before an
  // in-band read could skip it, and with it queued every read re-arms the
  // descriptor, so bytes behind a mark where a read stopped are never
  // stranded.  io_uring has no such ordering (a pending recv skips the byte
  // as soon as it arrives), so there the server counts SIGURG instead
  // (server.cpp) and no wait is kept here.
  void arm_oob_wait() {
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
    ++pending_;
    try {
      socket_.async_receive(asio::buffer(&oob_byte_, 1), asio::socket_base::message_out_of_band,
                            bind(oob_memory_, [this](const boost::system::error_code& ec,
                                                     std::size_t n) { on_oob(ec, n); }));
    } catch (...) {
      --pending_;
      throw;
    }
#endif
  }

  void on_oob(const boost::system::error_code& ec, std::size_t n) {
    if (!closed() && !ec && n == 1) {
      guarded([&] {
        count(ctx_.counters.oob_discarded);
        arm_oob_wait();
        step();
      });
    } else if (!closed() && ec == asio::error::invalid_argument) {
      // EINVAL: no urgent byte to read.  Either the byte this wake-up
      // announced was already read (with several threads on one io_context,
      // an EPOLLPRI event taken before the byte was read can be performed
      // after the wait was re-armed; dropping the wait then would leave the
      // next urgent byte uncounted), or an error or hang-up woke the wait:
      // recv(MSG_OOB) reports EINVAL before any socket error.  Re-arming in
      // the second case re-reports the condition at once, a busy loop while
      // no read or write is pending (during a SLEEP, say); so look first.
      guarded([&] {
        ::pollfd p{socket_.native_handle(), POLLPRI, 0};
        const bool broken = ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
        if (!broken) {
          arm_oob_wait();
        } else if ((p.revents & POLLERR) != 0 && !reading_ && !writing_) {
          close(true);  // reset while nothing else is pending to report it
        }
      });
    }
    // Otherwise an error or a hang-up woke the wait: the read path reports it.
    finish_handler();
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
    linger_until_ = clock::now() + linger_time;
    arm_timer();
    start_read();
  }

  void close(bool failed) noexcept {
    if (closed()) return;
    phase_ = session_phase::closed;
    ctx_.remove(*this);
    count(ctx_.counters.connections_closed);
    if (failed) count(ctx_.counters.connections_failed);
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    // A buffer an operation still targets (io_uring may be using it until the
    // cancellation completes) is released by the destructor instead.
    input_.release_unless(reading_);
    out_.release();
    if (!writing_) wbuf_.release();
    if (pending_ == 0) destroy();
  }

  socket_type socket_;
  timer_type timer_;
  Executor executor_;
  context_state& ctx_;

  io_buffer out_;   // replies waiting for the write in flight
  io_buffer wbuf_;  // replies being written (what is left of them)

  clock::time_point last_activity_{};  // last read, last byte written, last SLEEP ended
  clock::time_point sleep_until_{};
  clock::time_point linger_until_{};
  std::uint64_t sleep_id_ = 0;
  std::size_t needed_ = protocol::header_size;  // bytes the frame at the front needs
  std::uint32_t pending_ = 1;  // handlers started and not yet finished (start() first)
  std::uint8_t timer_waiting_ = 0;
  session_phase phase_ = session_phase::serving;
  bool reading_ = false;
  bool writing_ = false;
  bool sleeping_ = false;
  bool paused_ = false;   // over --high-water: neither parse nor read
  bool backoff_ = false;  // io_uring refused an operation: the timer retries it

  // Sized to the operations Asio 1.26 allocates for each (measured on both
  // backends and both context models; the strand's wrapper is the largest).
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  handler_memory<256> read_memory_;
  handler_memory<320> write_memory_;
#else
  handler_memory<192> read_memory_;
  handler_memory<224> write_memory_;
  handler_memory<176> oob_memory_;
  char oob_byte_ = 0;
#endif
  handler_memory<128, 2> timer_memory_;
  input_buffer input_;
};

}  // namespace ioduel::proactor
