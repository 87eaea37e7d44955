// connection, the framed-session half: frames decoded where they lie
// (protocol::serve_frames), answered into the loop's reply batch, the two
// budgets that bound one service (--high-water of output in hand and
// --write-budget of replies built per turn), replies counted as they are
// sent, and the ERROR reply for a connection the server has no memory for.  connection.cpp holds the
// transport half (socket I/O, lifecycle, poller interest).
#include <algorithm>

#include "protocol/frame_session.hpp"
#include "protocol/parser.hpp"
#include "reactor/connection.hpp"
#include "reactor/event_loop.hpp"

namespace ioduel::reactor {

namespace {

protocol::parse_options parse_options_of(const reactor_options& opts) noexcept {
  return {opts.common.max_frame, protocol::role::server};
}

bool raw_mode(const reactor_options& opts) noexcept {
  return opts.common.mode == protocol::server_mode::raw_echo;
}

}  // namespace

bool connection::has_complete_frame() const noexcept {
  if (in_.empty() || phase_ != phase::serving) return false;
  if (raw_mode(loop_.options())) return true;
  // A bad frame counts: its ERROR reply is owed.  Looks at the header only.
  return protocol::decode_frame(in_.view(), parse_options_of(loop_.options())).what !=
         protocol::decode_result::status::need_more;
}


bool connection::out_of_turn_budget() const noexcept {
  const std::uint64_t budget = loop_.options().write_budget;
  return budget != 0 && turn_output_ >= budget;
}

void connection::handle_buffered() {
  if (in_.empty() || !may_answer()) return;
  in_.consume(serve_bytes(in_.view()));
}

void connection::serve_from_stack(std::span<const char> data) {
  std::size_t used = 0;
  if (may_answer()) used = serve_bytes(data);
  const auto rest = data.subspan(used);
  if (rest.empty()) return;
  // in_ is empty here.  Room for the partial frame's payload as it lands,
  // capped (reserve_partial grows it as more arrives).
  const std::size_t need = partial_frame_size(rest);
  in_.reserve(need > rest.size() ? std::min(need, rest.size() + reserve_step) : rest.size());
  in_.append(rest);
}

std::size_t connection::partial_frame_size(std::span<const char> data) const noexcept {
  // Only a frame that will be read on: not in raw mode, not while a SLEEP
  // holds input back (read-ahead is capped then), never for a bad header
  // (an oversized frame's payload is not read, so no room is made for it).
  const auto& opts = loop_.options();
  if (phase_ != phase::serving || sleeping_ || raw_mode(opts)) return 0;
  const auto r = protocol::decode_frame(data, parse_options_of(opts));
  if (r.what != protocol::decode_result::status::need_more) return 0;
  return r.needed;  // the header alone until the header is in
}

void connection::reserve_partial() {
  if (in_.empty()) return;
  const std::size_t need = partial_frame_size(in_.view());
  const std::size_t have = in_.readable();
  if (need <= have) return;
  // Grow with what has landed (doubling, at least a step ahead), never past
  // the frame: a header that declares 1 MiB and sends one byte holds 64 KiB.
  // reserve() compacts (moving a read's worth at most) or grows exactly, so
  // the payload still to come lands in place; growth moves what is there,
  // about once more the frame in all.
  in_.reserve(std::min(need, std::max(2 * have, have + reserve_step)));
}

std::size_t connection::serve_bytes(std::span<const char> data) {
  std::size_t used = 0;
  for (;;) {
    bool full = false;
    used += handle_frames(data.subspan(used), full);
    // The batch borrows `data`, which changes once this returns (the next
    // read, in_ consumed or compacted): send it now.
    flush();
    // Output reached --high-water, or the batch its size: go on only if the
    // socket took it.
    if (!full || !out_.empty() || failed()) return used;
  }
}

// The framed session's side of protocol::serve_frames: replies go to the
// loop's batch, requests and errors to the loop's counters, a SLEEP to the
// connection's timer.  It holds the loop when the connection has had its
// turn's output, or when the output in hand (batch and out_) is full.
struct connection::frame_side {
  connection& c;
  reply_batch& batch;
  bool room_short = false;  // held for room, not for the turn: flush, then go on

  bool may_answer(const protocol::frame& f) noexcept {
    // This connection has had its share of the turn; settle() brings it
    // back on the next one, after the others.
    if (c.out_of_turn_budget()) return false;
    const std::size_t parts = f.hdr.op == protocol::opcode::source
                                  ? reply_batch::source_parts(protocol::load_be32(f.payload.data()))
                                  : 1;
    if (batch.full(parts) ||
        batch.bytes() + c.out_.readable() >= c.loop_.options().common.high_water) {
      room_short = true;
      return false;
    }
    return true;
  }
  void count_request(std::size_t n) noexcept {
    auto& k = c.loop_.counters();
    k.frames_in.add_local();
    k.bytes_in.add_local(n);
  }
  void reply_echo(std::span<const char> frame_bytes, const protocol::frame&) {
    batch.add_borrowed(frame_bytes, true);  // the request is its own reply
    c.turn_output_ += frame_bytes.size();
  }
  void reply_empty(protocol::opcode op, std::uint64_t id) {
    batch.add_frame(op, id, {});
    c.turn_output_ += protocol::header_size;
  }
  void reply_source(std::uint64_t id, std::uint32_t n) {
    batch.add_source(id, n);
    c.turn_output_ += protocol::header_size + n;
  }
  void reply_stats(std::uint64_t id) {
    const std::string json = c.loop_.stats_json();
    batch.add_frame(protocol::opcode::stats_reply, id, json);
    c.turn_output_ += protocol::header_size + json.size();
  }
  void defer(std::uint64_t id, std::uint32_t us) {
    c.sleeping_ = true;
    c.sleep_id_ = id;
    c.arm(c.loop_.now() + std::chrono::microseconds(us), connection_timer::sleep);
  }
  void reject(std::uint64_t id, std::string_view message) {
    batch.add_frame(protocol::opcode::error, id, message);
    c.loop_.counters().protocol_errors.add_local();
    c.enter_closing();
  }
};

std::size_t connection::handle_frames(std::span<const char> data, bool& full) {
  const auto& opts = loop_.options();
  reply_batch& batch = loop_.batch();
  if (raw_mode(opts)) {
    // Echoed from where it was read.  The read budget bounds raw output too:
    // it is the input, echoed.
    batch.add_borrowed(data, false);
    turn_output_ += data.size();
    full = batch.bytes() + out_.readable() >= opts.common.high_water || batch.full();
    return data.size();
  }
  if (phase_ != phase::serving || sleeping_) return 0;
  frame_side side{*this, batch};
  const auto r = protocol::serve_frames(data, parse_options_of(opts), side);
  full = r.stop == protocol::frames_stop::held && side.room_short;
  return r.used;
}

void connection::count_sent(const buffer& b, std::size_t sent) noexcept {
  // frames_out and bytes_out count what the socket took (docs/protocol.md).
  // Replies are built whole, so each reply's header is in `b` when its first
  // byte goes; sending_left_ carries a reply cut by a partial send.
  auto& c = loop_.counters();
  if (loop_.options().common.mode == protocol::server_mode::raw_echo) return;
  const char* p = b.peek();
  for (std::size_t pos = 0; pos < sent;) {
    if (sending_left_ == 0)
      sending_left_ = protocol::header_size + protocol::load_be32(p + pos + 4);
    const std::size_t take = std::min(sending_left_, sent - pos);
    pos += take;
    sending_left_ -= take;
    if (sending_left_ == 0) c.frames_out.add_local();
  }
}

void connection::on_alloc_failure() noexcept {
  // Whatever was being built for this connection is incomplete: drop it, and
  // the input that asked for it.
  loop_.batch().clear();
  in_.clear();
  in_.release_if_empty();
  if (ended()) return;
  if (phase_ == phase::lingering || sending_left_ != 0) {
    // Lingering owes nothing; a reply cut mid-way cannot be followed by a
    // clean ERROR frame.  Close.
    fail();
    return;
  }
  out_.clear();
  out_.release_if_empty();
  sleeping_ = false;
  try {
    protocol::append_error_reply(out_, 0, "out of memory: the server cannot hold this connection's data");
    loop_.counters().protocol_errors.add_local();
    if (phase_ == phase::serving) enter_closing();
    flush();
    settle();
  } catch (const std::bad_alloc&) {
    fail();
  }
}

}  // namespace ioduel::reactor
