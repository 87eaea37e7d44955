#pragma once
// What one connection holds, and how its input becomes replies, apart from
// the operations in flight (session.hpp drives those): the socket and timer,
// the input (input_buffer.hpp) and the output (output_queue.hpp), the
// deadlines (deadline.hpp), the state (session_phase.hpp) and the
// predicates derived from it, the handler memory of each kind of operation,
// and the frame loop that decodes the input in place and appends each reply
// to the output.
//
// Model is per_thread_model (one io_context per thread: the handlers are
// already serialized) or shared_model (one io_context run by every thread:
// the session's handler_lock serializes them, handler_lock.hpp).

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proactor/buffer_pool.hpp"
#include "proactor/context_state.hpp"
#include "proactor/deadline.hpp"
#include "proactor/handler_lock.hpp"
#include "proactor/handler_memory.hpp"
#include "proactor/input_buffer.hpp"
#include "proactor/output_queue.hpp"
#include "proactor/session_phase.hpp"
#include "protocol/frame_session.hpp"
#include "protocol/parser.hpp"

namespace ioduel::proactor {

namespace asio = boost::asio;

template <class Model>
class session;  // session.hpp

using socket_type = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                              asio::wait_traits<std::chrono::steady_clock>,
                                              asio::io_context::executor_type>;

template <class Model>
class session_core : public session_base {
 protected:
  static constexpr bool shared_context = Model::shared;
  using clock = std::chrono::steady_clock;

  session_core(socket_type socket, context_state& ctx)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        ctx_(ctx),
        deadline_(ctx.options.idle_timeout_ms) {}
  ~session_core() = default;

  bool closed() const noexcept { return phase_ == session_phase::closed; }
  bool lingering() const noexcept { return phase_ == session_phase::lingering; }
  bool reading() const noexcept { return read_ == op_state::in_flight; }
  bool writing() const noexcept { return write_ == op_state::in_flight; }
  bool backing_off() const noexcept { return read_ == op_state::backoff || write_ == op_state::backoff; }
  bool sleeping() const noexcept { return hold_ == input_hold::sleeping; }
  bool paused() const noexcept { return hold_ == input_hold::paused; }
  // Frames are parsed while serving and, after end of stream, until none is left.
  bool may_parse() const noexcept {
    return (phase_ == session_phase::serving || phase_ == session_phase::input_ended) &&
           hold_ == input_hold::none;
  }
  bool may_read() const noexcept {
    if (read_ != op_state::idle || backing_off()) return false;
    if (lingering()) return true;
    // Draining does not stop reading: the frames that have arrived are owed
    // replies, and closing with unread input would reset the connection.
    return phase_ == session_phase::serving && hold_ == input_hold::none;
  }
  bool may_write() const noexcept { return write_ == op_state::idle && !backing_off() && !closed(); }
  bool owes_output() const noexcept { return writing() || !output_.empty(); }
  int kernel_queued_ = -1;  // the send queue's size when the idle timer last looked

  // Binds a handler to the handler memory kept for its kind of operation.
  // No executor is bound, in either model: the handler runs on the socket's
  // io_context and takes lock_ (session.hpp, run_handler).
  template <class Memory, class F>
  auto bind(Memory& memory, F&& f) {
    return asio::bind_allocator(handler_allocator<void, Memory>(memory), std::forward<F>(f));
  }

  // The counter is in the calling thread's slot (context_state::counters).
  static void count(protocol::counter& c, std::uint64_t n = 1) noexcept { c.add_local(n); }

  static bool is_enobufs(const boost::system::error_code& ec) noexcept {
    return ec == boost::system::errc::no_buffer_space;
  }

  // ---- the session's life: handlers, writes counted, the end ---------------------

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
    delete static_cast<session<Model>*>(this);  // session.hpp: its destructor is ours to call
    block_pool::give_back_surplus();  // a client that left takes its share of the pool
    host.session_destroyed();
  }

  // Starts an operation whose handler runs `on_done` under the lock, with
  // `op` in flight and counted in pending_ meanwhile.
  template <class Memory, class Start, class Done>
  void start_op(op_state& op, Memory& memory, Start&& start, Done on_done) {
    op = op_state::in_flight;
    ++pending_;
    try {
      start(bind(memory, [this, on_done](const auto&... result) { run_handler([&] { on_done(result...); }); }));
    } catch (...) {
      op = op_state::idle;
      --pending_;
      throw;
    }
  }

  // The socket took n bytes: counted, and activity.
  void wrote(std::size_t n) {
    count_sent(n);
    deadline_.touch(clock::now());
    if (paused() && queued_output() <= ctx_.options.high_water / 2) hold_ = input_hold::none;
  }

  // Ends the connection now (its handlers pending still run, and do nothing).
  void close(bool failed) noexcept {
    if (closed()) return;
    phase_ = session_phase::closed;
    ctx_.remove(*this);
    count(ctx_.counters().connections_closed);
    if (failed) count(ctx_.counters().connections_failed);
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
    // On io_uring no operation is cancelled and no descriptor closed with
    // an operation in flight: shutdown() completes a pending read (end of
    // stream) and write (EPIPE), and the destructor closes the descriptor
    // once every completion has run (pending_ == 0).  Boost 1.81's
    // cancellation there delivers the cancel's completion to whichever
    // operation last used its submission entry, and close() frees the
    // io_object with the cancelled operation still queued in it
    // (docs/proactor.md, "Lost completions on io_uring").
    ::shutdown(socket_.native_handle(), SHUT_RDWR);
#else
    boost::system::error_code ignored;
    socket_.close(ignored);
#endif
    timer_.cancel();
    // A buffer an operation still targets (io_uring may be using it until the
    // cancellation completes) is released by the destructor instead.
    input_.release_unless(reading());
    output_.release(writing());
  }

  // ---- the one timer: idle timeout, SLEEP, linger and backoff (deadline.hpp) ---

  session<Model>& self() noexcept { return static_cast<session<Model>&>(*this); }

  // io_uring (or, on epoll, the kernel's send) could not take an operation:
  // try again shortly rather than drop the connection (see
  // docs/proactor.md).  step() on expiry resumes both the read and the write.
  void begin_backoff(op_state& op) {
    op = op_state::backoff;
    timer_.expires_after(enobufs_backoff);
    start_timer_wait();
  }

  // Sets the timer to the earliest deadline the session has (a change of
  // expiry cancels the wait in flight, whose handler then does nothing).
  void arm_timer() {
    if (closed() || backing_off()) return;
    const auto deadline = deadline_.next(sleeping(), lingering());
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
          bind(timer_memory_, [this](const boost::system::error_code& ec) { run_handler([&] { self().on_timer(ec); }); }));
    } catch (...) {
      --timer_waiting_;
      --pending_;
      throw;
    }
  }

  // ---- turning input into replies ----------------------------------------------

  std::size_t queued_output() const noexcept { return output_.size(); }
  bool over_high_water() const noexcept { return queued_output() > ctx_.options.high_water; }

  // The proactor's side of protocol::serve_frames (protocol/frame_session.hpp):
  // replies appended whole to the output, counted per context model, a SLEEP on
  // the session's deadline; over --high-water after a reply, neither parse
  // nor read.
  struct frame_side {
    session_core& s;
    protocol::append_replies<io_buffer> to{s.output_.pending()};
    bool began_sleep = false;

    bool may_answer(const protocol::frame&) const noexcept { return s.may_parse(); }
    void count_request(std::size_t n) noexcept {
      count(s.ctx_.counters().frames_in);
      count(s.ctx_.counters().bytes_in, n);
    }
    void replied() noexcept {
      if (s.hold_ == input_hold::none && s.over_high_water()) s.hold_ = input_hold::paused;
    }
    void reply_echo(std::span<const char> bytes, const protocol::frame& f) {
      to.reply_echo(bytes, f);
      replied();
    }
    void reply_empty(protocol::opcode op, std::uint64_t id) {
      to.reply_empty(op, id);
      replied();
    }
    void reply_source(std::uint64_t id, std::uint32_t n) {
      to.reply_source(id, n);
      replied();
    }
    void reply_stats(std::uint64_t id) {
      to.reply_frame(protocol::opcode::stats_reply, id, s.ctx_.host.stats_json());
      replied();
    }
    void defer(std::uint64_t id, std::uint32_t us) {
      s.begin_sleep(id, us);
      began_sleep = true;
      replied();
    }
    void reject(std::uint64_t id, std::string_view message) {
      protocol::append_error_reply(s.output_.pending(), id, message);
      count(s.ctx_.counters().protocol_errors);
      s.phase_ = session_phase::erred;
    }
  };

  // Answers every complete frame in hand that may be answered now; true if
  // a SLEEP began (the session then arms its timer).
  bool parse_frames() {
    if (!may_parse()) return false;
    frame_side side{*this};
    const std::span<char> in = input_.bytes();
    const auto r = protocol::serve_frames(in, ctx_.parse, side);
    input_.consume(r.used);
    if (r.stop == protocol::frames_stop::need_more) needed_ = r.needed;
    return side.began_sleep;
  }

  // Raw echo: the bytes read are sent from where they lie (epoll), and
  // what the socket does not take becomes output, handed over without a
  // copy when it sits in a block and nothing is queued before it.
  void echo_raw() {
    const std::span<char> in = input_.bytes();
    // After an out-of-memory ERROR (erred) what lands is dropped, as frames
    // are: nothing may follow the ERROR.
    if (in.empty() || paused() || lingering() || phase_ == session_phase::erred) return;
    count(ctx_.counters().bytes_in, in.size());
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
    // epoll: send the bytes from where they were read, as Asio's own server
    // does, while nothing else is queued.  Handing the block over instead
    // takes a second block for the next read and returns the first to the
    // pool, per message: 2,317 against 1,901 instructions per 16 KiB
    // message (docs/proactor.md).  Whatever the socket does not take, or an
    // error, goes the usual way: flush() sends it or reports the error.
    // (wrote() is not used: its count_sent() consumes from the output.)
    if (output_.empty() && may_write()) {
      boost::system::error_code failure;
      const std::size_t n = socket_.write_some(asio::buffer(in.data(), in.size()), failure);
      if (n != 0) {
        count(ctx_.counters().bytes_out, n);
        deadline_.touch(clock::now());
        input_.consume(n);
        if (n == in.size()) {
          needed_ = 1;
          return;
        }
      }
    }
    const std::span<char> rest = input_.bytes();
#else
    const std::span<char> rest = in;
#endif
    io_buffer& out = output_.pending();
    if (!input_.hand_over(out, reading())) {
      std::memcpy(out.prepare(rest.size()), rest.data(), rest.size());
      out.commit(rest.size());
      input_.consume(rest.size());
    }
    needed_ = 1;
    if (over_high_water()) hold_ = input_hold::paused;
  }

  void begin_sleep(std::uint64_t id, std::uint32_t us) {
    hold_ = input_hold::sleeping;
    sleep_id_ = id;
    deadline_.sleep_for(std::chrono::microseconds(us));
  }

  void finish_sleep() {
    // The connection was owed this reply all along: idleness counts from now.
    deadline_.touch(clock::now());
    protocol::append_empty_reply(output_.pending(), protocol::opcode::sleep_reply, sleep_id_);
    hold_ = over_high_water() ? input_hold::paused : input_hold::none;
  }

  // The socket took n bytes of the output (a write, or a send at once).
  void count_sent(std::size_t n) noexcept {
    auto& c = ctx_.counters();
    const bool raw = ctx_.options.mode == protocol::server_mode::raw_echo;
    output_.sent(n, c.bytes_out, raw ? nullptr : &c.frames_out);
  }

  socket_type socket_;
  timer_type timer_;
  context_state& ctx_;
  handler_lock<shared_context> lock_;

  output_queue output_;

  session_deadline deadline_;
  std::uint64_t sleep_id_ = 0;
  std::size_t needed_ = protocol::header_size;  // bytes the frame at the front needs
  std::uint32_t pending_ = 1;  // handlers started and not yet finished (start() first: session.hpp)
  std::uint8_t timer_waiting_ = 0;
  session_phase phase_ = session_phase::serving;
  op_state read_ = op_state::idle;
  op_state write_ = op_state::idle;
  input_hold hold_ = input_hold::none;

  // Sized to the operations Asio 1.26 allocates for each (measured on both
  // backends and both context models).
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  handler_memory<256> read_memory_;
  handler_memory<320> write_memory_;
#else
  handler_memory<192> read_memory_;
  handler_memory<224> write_memory_;
#endif
  handler_memory<128, 2> timer_memory_;
  input_buffer input_;
};

}  // namespace ioduel::proactor
