#pragma once
// What one connection holds, and how its input becomes replies, apart from
// the operations in flight (session.hpp drives those): the socket and timer,
// the input (input_buffer.hpp) and the two output buffers, the deadlines
// (deadline.hpp), the phase and the flags derived from it, the handler
// memory of each kind of operation, and the frame loop that decodes the
// input in place and appends each reply to `out_`.
//
// Model is per_thread_model (one io_context per thread: the handlers are
// already serialized) or shared_model (one io_context run by every thread:
// the session's handler_lock serializes them, handler_lock.hpp).

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
#include "protocol/frame_session.hpp"
#include "protocol/parser.hpp"

namespace ioduel::proactor {

namespace asio = boost::asio;

using socket_type = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                              asio::wait_traits<std::chrono::steady_clock>,
                                              asio::io_context::executor_type>;

// Most bytes one async_write_some offers the socket (the reactor's default
// --write-budget): a connection streaming to a fast reader sends this much
// per handler turn, then waits its turn behind the others (session.hpp).
inline constexpr std::size_t write_slice = 256 * 1024;

enum class session_phase : std::uint8_t {
  serving,      // reading and answering
  input_ended,  // end of stream: answer every complete frame held, then end
  erred,        // an ERROR reply is queued: nothing more is parsed or read
  lingering,    // our FIN is sent: read and discard until EOF or the deadline
  closed,
};

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

  // ---- turning input into replies ----------------------------------------------

  std::size_t queued_output() const noexcept { return out_.size() + wbuf_.size(); }

  // The proactor's side of protocol::serve_frames (protocol/frame_session.hpp):
  // replies appended whole to out_, counted per context model, a SLEEP on
  // the session's deadline; over --high-water after a reply, neither parse
  // nor read.
  struct frame_side {
    session_core& s;
    protocol::append_replies<io_buffer> to{s.out_};
    bool began_sleep = false;

    bool may_answer(const protocol::frame&) const noexcept { return s.may_parse(); }
    void count_request(std::size_t n) noexcept {
      count(s.ctx_.counters().frames_in);
      count(s.ctx_.counters().bytes_in, n);
    }
    void replied() noexcept {
      if (s.queued_output() > s.ctx_.options.high_water) s.paused_ = true;
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
      protocol::append_error_reply(s.out_, id, message);
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

  void echo_raw() {
    auto& c = ctx_.counters();
    const std::span<char> in = input_.bytes();
    if (in.empty() || paused_ || lingering()) return;
    std::memcpy(out_.prepare(in.size()), in.data(), in.size());
    out_.commit(in.size());
    count(c.bytes_in, in.size());
    input_.consume(in.size());
    needed_ = 1;
    if (queued_output() > ctx_.options.high_water) paused_ = true;
  }

  void begin_sleep(std::uint64_t id, std::uint32_t us) {
    sleeping_ = true;
    sleep_id_ = id;
    deadline_.sleep_for(std::chrono::microseconds(us));
  }

  void finish_sleep() {
    sleeping_ = false;
    // The connection was owed this reply all along: idleness counts from now.
    deadline_.touch(clock::now());
    protocol::append_empty_reply(out_, protocol::opcode::sleep_reply, sleep_id_);
  }

  // frames_out and bytes_out count what the socket took, not what was built
  // (docs/protocol.md): called with the first `n` bytes of wbuf_ once a
  // write has sent them.  wbuf_ holds whole replies from its front, so each
  // reply's header is in hand when its first byte leaves; reply_left_
  // carries a reply cut by a partial write into the next one.
  void count_sent(std::size_t n) noexcept {
    auto& c = ctx_.counters();
    count(c.bytes_out, n);
    if (ctx_.options.mode == protocol::server_mode::raw_echo) return;
    const char* p = wbuf_.readable().data();
    std::uint64_t frames = 0;
    for (std::size_t pos = 0; pos < n;) {
      if (reply_left_ == 0) reply_left_ = protocol::header_size + protocol::load_be32(p + pos + 4);
      const std::size_t take = std::min(reply_left_, n - pos);
      pos += take;
      reply_left_ -= take;
      if (reply_left_ == 0) ++frames;
    }
    if (frames != 0) count(c.frames_out, frames);
  }

  socket_type socket_;
  timer_type timer_;
  context_state& ctx_;
  handler_lock<shared_context> lock_;

  io_buffer out_;   // replies waiting for the write in flight
  io_buffer wbuf_;  // replies being written (what is left of them)

  session_deadline deadline_;
  std::uint64_t sleep_id_ = 0;
  std::size_t needed_ = protocol::header_size;  // bytes the frame at the front needs
  std::size_t reply_left_ = 0;  // bytes of the reply being written still to go (count_sent)
  std::uint32_t pending_ = 1;  // handlers started and not yet finished (start() first: session.hpp)
  std::uint8_t timer_waiting_ = 0;
  session_phase phase_ = session_phase::serving;
  bool reading_ = false;
  bool writing_ = false;
  bool sleeping_ = false;
  bool paused_ = false;   // over --high-water: neither parse nor read
  bool backoff_ = false;  // io_uring refused an operation: the timer retries it

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
