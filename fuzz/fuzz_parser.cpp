// Differential fuzzing of the frame parser: the same bytes are parsed whole
// with decode_frame() and in the chunking chosen by the input's first byte with
// frame_parser; both must see the same frames and the same error.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "protocol/parser.hpp"

using namespace ioduel::protocol;

namespace {

struct seen {
  header h;
  std::string payload;
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0] % 37;
  const parse_options opts{static_cast<std::uint32_t>(64 + (data[1] % 4) * 4096),
                           (data[1] & 0x80) ? role::client : role::server};
  std::span<const char> in(reinterpret_cast<const char*>(data + 2), size - 2);

  std::vector<seen> whole;
  parse_failure whole_failure{};
  for (std::span<const char> rest = in;;) {
    auto r = decode_frame(rest, opts);
    if (r.what == decode_result::status::frame) {
      check(r.consumed == header_size + r.f.payload.size() && r.consumed <= rest.size());
      check(r.f.hdr.length <= opts.max_frame);
      whole.push_back({r.f.hdr, std::string(r.f.payload.begin(), r.f.payload.end())});
      rest = rest.subspan(r.consumed);
    } else {
      if (r.what == decode_result::status::error) {
        whole_failure = r.failure;
        check(!r.failure.message(opts).empty());
      } else {
        check(r.needed > rest.size());
      }
      break;
    }
  }

  frame_parser p(opts);
  std::size_t n = 0;
  for (std::size_t off = 0; off < in.size() && !p.failed(); off += chunk) {
    p.feed(in.subspan(off, std::min(chunk, in.size() - off)), [&](const frame& f) {
      check(n < whole.size());
      check(f.hdr.id == whole[n].h.id && f.hdr.op == whole[n].h.op &&
            f.hdr.length == whole[n].h.length);
      check(std::string(f.payload.begin(), f.payload.end()) == whole[n].payload);
      ++n;
    });
  }
  check(n == whole.size());
  check(p.failure().error == whole_failure.error);
  check(p.failure().id() == whole_failure.id());
  return 0;
}
