#pragma once
// serve_frames: the frame loop both servers run over their input, once:
// decode the frame at the front in place -> count it -> answer it -> stop
// for a SLEEP (the reply is deferred) or a bad frame (its ERROR is the last
// reply).  What differs between the servers is where a reply goes and when
// to stop taking frames, so the loop is a template over the server's side
// (`replies`), whose members it calls directly (no std::function, nothing
// virtual, no allocation of its own).
//
// The side provides (checked by the frame_replies concept):
//   bool may_answer(f)                    before each valid frame: false holds it
//                                         and the rest (an output budget, a
//                                         high-water mark, room for its reply)
//   void count_request(std::size_t n)     a valid request of n bytes was taken
//   void reply_echo(frame_bytes, f)       ECHO: the reply is `frame_bytes`, the
//                                         request's own bytes, header and all
//   void reply_empty(opcode op, id)       SINK (op = sink_reply)
//   void reply_source(id, n)              SOURCE: n bytes of the pattern
//   void reply_stats(id)                  STATS
//   void defer(id, us)                    SLEEP: reply after `us`
//   void reject(id, message)              a bad frame: its ERROR reply
// append_replies<B> implements the replies by appending whole frames to an
// output_buffer, for a side that has nothing better to do with them.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "protocol/parser.hpp"
#include "protocol/replies.hpp"

namespace ioduel::protocol {

template <class S>
concept frame_replies = requires(S& s, const frame& f, std::span<const char> bytes, std::uint64_t id,
                                 std::uint32_t n, std::string_view message) {
  { s.may_answer(f) } -> std::convertible_to<bool>;
  s.count_request(bytes.size());
  s.reply_echo(bytes, f);
  s.reply_empty(opcode::sink_reply, id);
  s.reply_source(id, n);
  s.reply_stats(id);
  s.defer(id, n);
  s.reject(id, message);
};

// Why serve_frames returned.
enum class frames_stop : std::uint8_t {
  need_more,  // the front is a partial frame or nothing: `needed` bytes in all to go on
  held,       // may_answer() said no: the rest waits (a later turn, or room for output)
  deferred,   // a SLEEP began: nothing after it is answered before its reply
  rejected,   // a bad frame: its ERROR is queued and the rest of the input is void
};

struct frames_served {
  std::size_t used = 0;    // input bytes taken (all of them after a rejection)
  std::size_t needed = 0;  // need_more: bytes the front frame needs in all
  frames_stop stop = frames_stop::need_more;
};

// Answers the frames at the front of `in`, in order, until one of the stops.
template <frame_replies Side>
frames_served serve_frames(std::span<const char> in, const parse_options& opts, Side& side) {
  frames_served s;
  for (;;) {
    const std::span<const char> rest = in.subspan(s.used);
    const auto r = decode_frame(rest, opts);
    if (r.what == decode_result::status::need_more) {
      s.needed = r.needed;
      s.stop = frames_stop::need_more;
      return s;
    }
    if (r.what == decode_result::status::error) {
      // Replies owed for earlier frames are already queued ahead of this one.
      // Not held by may_answer(): the ERROR is small and ends the input, so
      // holding it would only delay the close (before the loop was shared,
      // both servers checked their budgets first and met the bad frame a
      // turn later; the replies and their order are the same).
      side.reject(r.failure.id(), r.failure.message(opts));
      s.used = in.size();  // nothing after a bad frame is read as a frame
      s.stop = frames_stop::rejected;
      return s;
    }
    // Checked with a whole frame in hand, so a held side is owed a turn.
    if (!side.may_answer(r.f)) {
      s.stop = frames_stop::held;
      return s;
    }
    s.used += r.consumed;
    side.count_request(r.consumed);
    const frame& f = r.f;
    switch (f.hdr.op) {
      case opcode::echo:
        side.reply_echo(rest.first(r.consumed), f);
        break;
      case opcode::sink:
        side.reply_empty(opcode::sink_reply, f.hdr.id);
        break;
      case opcode::source:
        side.reply_source(f.hdr.id, load_be32(f.payload.data()));
        break;
      case opcode::stats:
        side.reply_stats(f.hdr.id);
        break;
      case opcode::sleep:
        side.defer(f.hdr.id, load_be32(f.payload.data()));
        s.stop = frames_stop::deferred;
        return s;
      default:
        // The parser lets only requests through; answer anything else as
        // ERROR rather than trusting that.
        side.reject(f.hdr.id, "not a request opcode");
        s.used = in.size();
        s.stop = frames_stop::rejected;
        return s;
    }
  }
}

// The replies as whole frames appended to an output_buffer (the proactor's
// way: its writes take one contiguous buffer).
template <output_buffer B>
struct append_replies {
  B& out;
  void reply_echo(std::span<const char> frame_bytes, const frame&) {
    std::memcpy(out.prepare(frame_bytes.size()), frame_bytes.data(), frame_bytes.size());
    out.commit(frame_bytes.size());
  }
  void reply_empty(opcode op, std::uint64_t id) { append_empty_reply(out, op, id); }
  void reply_source(std::uint64_t id, std::uint32_t n) { append_source_reply(out, id, n); }
  void reply_frame(opcode op, std::uint64_t id, std::string_view payload) {
    append_frame(out, op, id, payload);
  }
};

}  // namespace ioduel::protocol
