#pragma once
// One client connection on Asio's completion model.
//
// Data path: async_read_some into the session's input -> protocol::decode_frame
// in place -> protocol::answer_request appends the reply to `out_` ->
// async_write of a whole batch of replies, while replies to later requests
// collect in the other buffer.  At most one read, one write, one timer wait
// and one urgent-data wait are in flight, each with its own recycled handler
// memory (handler_memory.hpp).
//
// Memory while idle: the pending read targets `small_`, a few hundred bytes
// inside the session; a pooled 16 KiB block (buffer_pool.hpp) is borrowed only
// when the bytes in hand outgrow it (a large frame, a pipelined burst) and is
// given back once the input is consumed.  Output blocks are likewise held
// only while replies are queued.
//
// Executor is asio::io_context::executor_type (one io_context per thread: the
// handlers are already serialized) or a strand of it (one io_context shared by
// every thread).  The session owns itself: it deletes itself once it is
// closed and no handler of it is pending (`pending_`), so handlers capture a
// plain pointer and no reference count is touched per operation.

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
#include <boost/asio/write.hpp>

#include "proactor/buffer_pool.hpp"
#include "proactor/context_state.hpp"
#include "proactor/handler_memory.hpp"
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
// Bytes of input a session holds inline; reads while idle land here.
inline constexpr std::size_t small_input = 128;
// Backoff before retrying an operation io_uring refused for want of
// submission-queue space (ENOBUFS).
inline constexpr std::chrono::milliseconds enobufs_backoff{5};

template <class Executor>
class session final : public session_base {
  static constexpr bool shared_context = !std::is_same_v<Executor, asio::io_context::executor_type>;
  using clock = std::chrono::steady_clock;

 public:
  session(socket_type socket, const Executor& ex, context_state& ctx)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), executor_(ex), ctx_(ctx) {}

  // Runs on the session's executor once the session is registered.
  void start() {
    ++pending_;  // held while this function runs
    last_activity_ = clock::now();
    guarded([this] {
      arm_oob_wait();
      arm_timer();
      step();
    });
    finish_handler();
  }

  void abort() noexcept override { close(false); }
  int native_handle() noexcept override { return socket_.native_handle(); }

 private:
  ~session() = default;

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
    if (--pending_ == 0 && closed_) destroy();
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

  bool input_in_block() const noexcept { return in_.has_storage(); }

  std::span<char> input() noexcept {
    if (input_in_block()) return in_.readable();
    return {small_ + small_begin_, static_cast<std::size_t>(small_end_ - small_begin_)};
  }

  void consume_input(std::size_t n) noexcept {
    if (input_in_block()) {
      in_.consume(n);
    } else {
      small_begin_ += n;
      if (small_begin_ == small_end_) small_begin_ = small_end_ = 0;
    }
  }

  bool may_read() const noexcept {
    if (reading_ || closed_ || eof_ || read_backoff_) return false;
    if (lingering_) return true;
    return !sleeping_ && !paused_ && !error_sent_ && !ctx_.host.draining();
  }

  void start_read() {
    if (!may_read()) return;
    asio::mutable_buffer target;
    if (lingering_) {
      target = asio::buffer(small_, sizeof small_);  // discarded
    } else if (input_in_block()) {
      const std::size_t want = std::max(needed_ > in_.size() ? needed_ - in_.size() : 0,
                                        block_pool::min_block / 2);
      in_.prepare(want);
      target = asio::buffer(in_.writable().data(), in_.writable().size());
    } else {
      target = asio::buffer(small_ + small_end_, sizeof small_ - small_end_);
    }
    read_size_ = target.size();
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
    if (!closed_) {
      guarded([&] {
        if (is_enobufs(ec)) {
          backoff_read();
          return;
        }
        if (lingering_) {
          if (ec) close(false);
          else start_read();
          return;
        }
        if (ec == asio::error::eof) {
          eof_ = true;
        } else if (ec) {
          // A reset mid-frame and the like: counted, never fatal to the server.
          close(ec != asio::error::operation_aborted);
          return;
        } else {
          last_activity_ = clock::now();
          if (input_in_block()) in_.commit(n);
          else small_end_ += n;
          last_read_full_ = n == read_size_;
          last_read_small_ = n < sizeof small_;
        }
        step();
      });
    }
    finish_handler();
  }

  // io_uring could not take the read: try again shortly rather than drop the
  // connection (see docs/proactor.md).
  void backoff_read() {
    read_backoff_ = true;
    timer_.expires_after(enobufs_backoff);
    start_timer_wait();
  }

  // Moves the bytes in hand between `small_` and a pooled block as their
  // amount calls for.
  void adjust_input() {
    if (!input_in_block()) {
      const std::size_t held = small_end_ - small_begin_;
      if (held != 0 && small_begin_ != 0) {
        std::memmove(small_, small_ + small_begin_, held);
        small_begin_ = 0;
        small_end_ = held;
      }
      // A full read says more is coming (a burst, a large frame, a stream in
      // raw-echo mode): read it in blocks from now on.
      if ((held != 0 && needed_ > sizeof small_) || last_read_full_) {
        char* p = in_.prepare(std::max(needed_, held));
        if (held != 0) std::memcpy(p, small_, held);
        in_.commit(held);
        small_begin_ = small_end_ = 0;
      }
    } else if (in_.empty() && last_read_small_ && !reading_) {
      in_.release();  // the traffic is small again: back to reading into small_
    }
  }

  // ---- turning input into replies ----------------------------------------------

  std::size_t queued_output() const noexcept { return out_.size() + wbuf_.size(); }

  void parse_frames() {
    auto& c = ctx_.counters;
    const std::uint64_t high_water = ctx_.options.high_water;
    while (!sleeping_ && !paused_ && !error_sent_) {
      const std::span<char> in = input();
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
        error_sent_ = true;
        consume_input(in.size());
        break;
      }
      count(c.frames_in);
      count(c.bytes_in, r.consumed);
      const std::size_t before = out_.size();
      const auto outcome =
          protocol::answer_request(r.f, out_, [this] { return ctx_.host.stats_json(); });
      consume_input(r.consumed);
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
    const std::span<char> in = input();
    if (in.empty() || paused_) return;
    std::memcpy(out_.prepare(in.size()), in.data(), in.size());
    out_.commit(in.size());
    count(c.bytes_in, in.size());
    count(c.bytes_out, in.size());
    consume_input(in.size());
    needed_ = 1;
    if (queued_output() > ctx_.options.high_water) paused_ = true;
  }

  // Everything that can happen after any event, in one place.
  void step() {
    if (closed_) return;
    if (ctx_.options.mode == protocol::server_mode::raw_echo) echo_raw();
    else parse_frames();
    flush();
    adjust_input();
    start_read();
    maybe_finish();
  }

  // Decides whether the connection is done: after an ERROR reply, after the
  // client's end of stream, or while draining, once every owed reply is out.
  void maybe_finish() {
    if (closed_ || lingering_ || writing_ || !out_.empty() || sleeping_) return;
    if (error_sent_) {
      begin_linger();
    } else if (eof_) {
      close(false);  // whatever is left is a partial frame: nothing is owed
    } else if (ctx_.host.draining() && !reading_) {
      close(false);
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
    protocol::append_empty_reply(out_, protocol::opcode::sleep_reply, sleep_id_);
    count(c.frames_out);
    count(c.bytes_out, protocol::header_size);
  }

  // ---- writing -------------------------------------------------------------------

  void flush() {
    if (writing_ || closed_ || out_.empty()) return;
    out_.swap(wbuf_);
    writing_ = true;
    ++pending_;
    try {
      asio::async_write(socket_, asio::buffer(wbuf_.readable().data(), wbuf_.size()),
                        bind(write_memory_, [this](const boost::system::error_code& ec,
                                                   std::size_t) { on_write(ec); }));
    } catch (...) {
      writing_ = false;
      --pending_;
      throw;
    }
  }

  void on_write(const boost::system::error_code& ec) {
    writing_ = false;
    if (!closed_) {
      guarded([&] {
        if (ec) {
          // EPIPE, a reset, or io_uring's ENOBUFS mid-stream (the bytes
          // written so far are unknown, so the stream cannot be resumed).
          close(ec != asio::error::operation_aborted);
          return;
        }
        last_activity_ = clock::now();
        wbuf_.clear();
        if (out_.empty()) wbuf_.release();
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
    if (closed_ || read_backoff_) return;
    auto deadline = clock::time_point::max();
    if (sleeping_) deadline = sleep_until_;
    else if (lingering_) deadline = linger_until_;
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
    if (!closed_ && ec != asio::error::operation_aborted) {
      guarded([&] {
        const auto now = clock::now();
        if (read_backoff_) {
          read_backoff_ = false;
          arm_timer();
          step();
          return;
        }
        if (sleeping_ && now >= sleep_until_) {
          finish_sleep();
          step();
        } else if (lingering_ && now >= linger_until_) {
          close(false);
          return;
        } else if (!sleeping_ && !lingering_ && ctx_.options.idle_timeout_ms != 0 &&
                   now - last_activity_ >= std::chrono::milliseconds(ctx_.options.idle_timeout_ms)) {
          // Silent for the whole timeout: nothing read, nothing written.
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
    if (!closed_ && !ec && n == 1) {
      guarded([&] {
        count(ctx_.counters.oob_discarded);
        arm_oob_wait();
        step();
      });
    } else if (!closed_ && ec == asio::error::invalid_argument) {
      // EINVAL: the urgent byte this wake-up announced was already read.  With
      // several threads on one io_context, an EPOLLPRI event taken before the
      // byte was read can be performed after the wait was re-armed; dropping
      // the wait then would leave the next urgent byte uncounted.  Wait again:
      // only a fresh EPOLLPRI (or an error or hang-up, which the read path
      // closes on) performs it.
      guarded([&] { arm_oob_wait(); });
    }
    // Otherwise an error or a hang-up woke the wait: the read path reports it.
    finish_handler();
  }

  // ---- ending ------------------------------------------------------------------------

  // After an ERROR reply is written: send FIN, then read and discard until
  // the client closes or linger_time passes, then close.
  void begin_linger() {
    lingering_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    linger_until_ = clock::now() + linger_time;
    arm_timer();
    start_read();
  }

  void close(bool failed) noexcept {
    if (closed_) return;
    closed_ = true;
    ctx_.remove(*this);
    count(ctx_.counters.connections_closed);
    if (failed) count(ctx_.counters.connections_failed);
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    // A buffer an operation still targets (io_uring may be using it until the
    // cancellation completes) is released by the destructor instead.
    if (!reading_) in_.release();
    out_.release();
    if (!writing_) wbuf_.release();
    if (pending_ == 0) destroy();
  }

  socket_type socket_;
  timer_type timer_;
  Executor executor_;
  context_state& ctx_;

  io_buffer in_;    // input once it outgrows small_
  io_buffer out_;   // replies waiting for the write in flight
  io_buffer wbuf_;  // replies being written

  clock::time_point last_activity_{};
  clock::time_point sleep_until_{};
  clock::time_point linger_until_{};
  std::uint64_t sleep_id_ = 0;
  std::size_t needed_ = protocol::header_size;  // bytes the frame at the front needs
  std::size_t read_size_ = 0;
  std::uint32_t pending_ = 0;  // handlers started and not yet finished
  std::uint16_t small_begin_ = 0;
  std::uint16_t small_end_ = 0;
  std::uint8_t timer_waiting_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool sleeping_ = false;
  bool paused_ = false;       // over --high-water: neither parse nor read
  bool eof_ = false;          // the client shut down its side
  bool error_sent_ = false;   // an ERROR reply is queued: nothing more is parsed
  bool lingering_ = false;
  bool read_backoff_ = false;
  bool last_read_full_ = false;
  bool last_read_small_ = true;
  bool closed_ = false;

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
  char small_[small_input];
};

}  // namespace ioduel::proactor
