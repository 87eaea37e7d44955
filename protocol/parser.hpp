#pragma once
// Frame parsing, in two layers:
//   decode_frame()  looks at the front of a buffer the caller owns and says
//                   "need more", "here is a frame" or "this is an error";
//                   servers with their own input buffer use it in place, so
//                   payload bytes are never copied.
//   frame_parser    accepts bytes in any chunking (one at a time up to many
//                   frames at once).  Complete frames in the input are handed
//                   out in place; only the tail of an incomplete frame is kept,
//                   so a payload byte is copied at most once.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame.hpp"

namespace ioduel::protocol {

// Which side is parsing: a server accepts requests, a client accepts replies.
enum class role : std::uint8_t { server, client };

enum class parse_error : std::uint8_t {
  none,
  bad_magic,           // the first two bytes are not "IO"
  bad_version,         // version byte is not 1
  bad_opcode,          // not an opcode this side accepts
  frame_too_large,     // length over max_frame; the payload is never read
  bad_payload_size,    // SOURCE/SLEEP not exactly 4 bytes, STATS not empty
  value_out_of_range,  // SOURCE N over max_frame, SLEEP over 10 s
};

std::string_view parse_error_name(parse_error e) noexcept;

struct parse_options {
  std::uint32_t max_frame = default_max_frame;
  role side = role::server;
};

// The details of a parse error, enough to build the ERROR reply.
struct parse_failure {
  parse_error error = parse_error::none;
  header hdr{};        // what could be read of the header (id is 0 if unread)
  std::uint32_t value = 0;  // the offending SOURCE/SLEEP value, if any

  // The ERROR reply's payload: a sentence saying what was wrong.
  std::string message(const parse_options& opts) const;
  std::uint64_t id() const noexcept { return hdr.id; }
};

struct decode_result {
  enum class status : std::uint8_t { need_more, frame, error };
  status what = status::need_more;
  frame f{};                  // status::frame
  std::size_t consumed = 0;   // status::frame: header + payload bytes
  std::size_t needed = 0;     // status::need_more: total bytes needed to progress
  parse_failure failure{};    // status::error
};

// Inspects the front of `in`.  Errors in the magic and version are reported as
// soon as those bytes are there; header errors as soon as the header is there,
// before any payload; value errors once the payload is complete.
decode_result decode_frame(std::span<const char> in, const parse_options& opts) noexcept;

class frame_parser {
 public:
  explicit frame_parser(parse_options opts = {}) : opts_(opts) {}
  frame_parser(const frame_parser&) = delete;
  frame_parser& operator=(const frame_parser&) = delete;

  // Parses `in`, calling on_frame(const frame&) for each complete frame.  The
  // frame's payload is valid only during the call.  Stops at the first error,
  // which is then sticky (see failure()).  Returns false once failed.
  template <class OnFrame>
  bool feed(std::span<const char> in, OnFrame&& on_frame);

  bool failed() const noexcept { return failure_.error != parse_error::none; }
  const parse_failure& failure() const noexcept { return failure_; }
  const parse_options& options() const noexcept { return opts_; }
  // Bytes of an incomplete frame held back.
  std::size_t buffered() const noexcept { return partial_.size(); }
  void reset() noexcept { partial_.clear(); failure_ = {}; }

 private:
  parse_options opts_;
  std::vector<char> partial_;  // the one incomplete frame, header first
  parse_failure failure_{};
};

template <class OnFrame>
bool frame_parser::feed(std::span<const char> in, OnFrame&& on_frame) {
  if (failed()) return false;
  while (!in.empty()) {
    if (!partial_.empty()) {
      // Complete the held-back frame with just the bytes it still needs.
      auto r = decode_frame(partial_, opts_);
      while (r.what == decode_result::status::need_more && !in.empty()) {
        std::size_t take = std::min(r.needed - partial_.size(), in.size());
        partial_.insert(partial_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
        in = in.subspan(take);
        r = decode_frame(partial_, opts_);
      }
      if (r.what == decode_result::status::error) {
        failure_ = r.failure;
        return false;
      }
      if (r.what == decode_result::status::need_more) return true;
      on_frame(static_cast<const frame&>(r.f));
      partial_.clear();
      continue;
    }
    auto r = decode_frame(in, opts_);
    switch (r.what) {
      case decode_result::status::frame:
        on_frame(static_cast<const frame&>(r.f));
        in = in.subspan(r.consumed);
        break;
      case decode_result::status::error:
        failure_ = r.failure;
        return false;
      case decode_result::status::need_more:
        partial_.assign(in.begin(), in.end());
        return true;
    }
  }
  return true;
}

}  // namespace ioduel::protocol
