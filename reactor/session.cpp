// session: the framed protocol over one connection (session.hpp): the
// loop's side of protocol::serve_frames, the budgets that hold a pass, and
// replies counted as they are sent.
#include "reactor/session.hpp"

#include <algorithm>

#include "protocol/parser.hpp"
#include "reactor/event_loop.hpp"
#include "reactor/reply_batch.hpp"

namespace ioduel::reactor {

namespace {

protocol::parse_options parse_options_of(const reactor_options& opts) noexcept {
  return {opts.common.max_frame, protocol::role::server};
}

bool raw_mode(const reactor_options& opts) noexcept {
  return opts.common.mode == protocol::server_mode::raw_echo;
}

}  // namespace

bool session::out_of_turn_budget() const noexcept {
  const std::uint64_t budget = loop_.options().write_budget;
  return budget != 0 && turn_output_ >= budget;
}

bool session::has_complete_frame(std::span<const char> in) const noexcept {
  if (in.empty()) return false;
  if (raw_mode(loop_.options())) return true;
  return protocol::decode_frame(in, parse_options_of(loop_.options())).what !=
         protocol::decode_result::status::need_more;
}

std::size_t session::partial_frame_size(std::span<const char> in) const noexcept {
  // Not while a SLEEP holds input back: read-ahead is capped then.
  const auto& opts = loop_.options();
  if (deferred() || raw_mode(opts)) return 0;
  const auto r = protocol::decode_frame(in, parse_options_of(opts));
  if (r.what != protocol::decode_result::status::need_more) return 0;
  return r.needed;  // the header alone until the header is in
}

// The session's side of protocol::serve_frames: replies go to the loop's
// batch, requests and errors to the loop's counters.  It holds the loop when
// the connection has had its turn's output, or when the output in hand
// (batch and queued) is full.
struct session::frame_side {
  session& s;
  reply_batch& batch;
  std::size_t queued;
  std::uint64_t high_water;
  bool room_short = false;  // held for room, not for the turn: flush, then go on
  std::uint32_t sleep_us = 0;

  bool may_answer(const protocol::frame& f) noexcept {
    // This connection has had its share of the turn; the transport brings it
    // back on the next one, after the others.
    if (s.out_of_turn_budget()) return false;
    const std::size_t parts = f.hdr.op == protocol::opcode::source
                                  ? reply_batch::source_parts(protocol::load_be32(f.payload.data()))
                                  : 1;
    if (batch.full(parts) || batch.bytes() + queued >= high_water) {
      room_short = true;
      return false;
    }
    return true;
  }
  void count_request(std::size_t n) noexcept {
    auto& k = s.loop_.counters();
    k.frames_in.add_local();
    k.bytes_in.add_local(n);
  }
  void reply_echo(std::span<const char> frame_bytes, const protocol::frame&) {
    batch.add_borrowed(frame_bytes, true);  // the request is its own reply
    s.turn_output_ += frame_bytes.size();
  }
  void reply_empty(protocol::opcode op, std::uint64_t id) {
    batch.add_frame(op, id, {});
    s.turn_output_ += protocol::header_size;
  }
  void reply_source(std::uint64_t id, std::uint32_t n) {
    batch.add_source(id, n);
    s.turn_output_ += protocol::header_size + n;
  }
  void reply_stats(std::uint64_t id) {
    const std::string json = s.loop_.stats_json();
    batch.add_frame(protocol::opcode::stats_reply, id, json);
    s.turn_output_ += protocol::header_size + json.size();
  }
  void defer(std::uint64_t id, std::uint32_t us) {
    s.sleep_id_ = id;
    sleep_us = us;
  }
  void reject(std::uint64_t id, std::string_view message) {
    batch.add_frame(protocol::opcode::error, id, message);
    s.loop_.counters().protocol_errors.add_local();
  }
};

session::answered session::answer(std::span<const char> in, std::size_t queued) {
  const auto& opts = loop_.options();
  reply_batch& batch = loop_.batch();
  if (raw_mode(opts)) {
    // Echoed from where it was read.  The read budget bounds raw output too:
    // it is the input, echoed.
    batch.add_borrowed(in, false);
    turn_output_ += in.size();
    return {in.size(), batch.bytes() + queued >= opts.common.high_water || batch.full(),
            protocol::frames_stop::need_more, 0};
  }
  if (deferred()) return {};
  frame_side side{*this, batch, queued, opts.common.high_water};
  const auto r = protocol::serve_frames(in, parse_options_of(opts), side);
  return {r.used, r.stop == protocol::frames_stop::held && side.room_short, r.stop, side.sleep_us};
}

void session::answer_deferred() {
  if (!sleep_id_) return;
  loop_.batch().add_frame(protocol::opcode::sleep_reply, *sleep_id_, {});
  sleep_id_.reset();
}

void session::count_batch_sent(const reply_batch& b, std::size_t sent) noexcept {
  if (raw_mode(loop_.options())) return;
  loop_.counters().frames_out.add_local(b.replies_within(sent));
  // Nothing was queued before the batch: what is queued now starts with the
  // rest of the reply cut here.
  sending_left_ = b.cut_reply_left(sent);
}

void session::count_queued_sent(const char* p, std::size_t sent) noexcept {
  // Replies are queued whole, so each reply's header is at hand when its
  // first byte goes; sending_left_ carries a reply cut by a partial send.
  if (raw_mode(loop_.options())) return;
  auto& c = loop_.counters();
  for (std::size_t pos = 0; pos < sent;) {
    if (sending_left_ == 0)
      sending_left_ = protocol::header_size + protocol::load_be32(p + pos + 4);
    const std::size_t take = std::min(sending_left_, sent - pos);
    pos += take;
    sending_left_ -= take;
    if (sending_left_ == 0) c.frames_out.add_local();
  }
}

void session::count_pattern_sent(std::size_t sent) noexcept {
  if (sent == 0 || sending_left_ == 0) return;
  sending_left_ -= std::min(sending_left_, sent);
  if (sending_left_ == 0) loop_.counters().frames_out.add_local();
}

}  // namespace ioduel::reactor
