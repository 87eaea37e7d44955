#include "protocol/frame.hpp"

#include <algorithm>

namespace ioduel::protocol {

std::string_view opcode_name(opcode op) noexcept {
  switch (op) {
    case opcode::echo: return "ECHO";
    case opcode::sink: return "SINK";
    case opcode::source: return "SOURCE";
    case opcode::sleep: return "SLEEP";
    case opcode::stats: return "STATS";
    case opcode::sink_reply: return "SINK_REPLY";
    case opcode::source_reply: return "SOURCE_REPLY";
    case opcode::sleep_reply: return "SLEEP_REPLY";
    case opcode::stats_reply: return "STATS_REPLY";
    case opcode::error: return "ERROR";
  }
  return "UNKNOWN";
}

void fill_source_pattern(std::span<char> out, std::uint64_t id, std::uint64_t offset) noexcept {
  // The pattern repeats every 256 bytes: build one period, then copy it.
  auto start = static_cast<unsigned char>((id + offset) & 0xFF);
  char period[256];
  for (unsigned i = 0; i < 256; ++i) period[i] = static_cast<char>((start + i) & 0xFF);
  std::size_t done = 0;
  while (done < out.size()) {
    std::size_t n = std::min<std::size_t>(256, out.size() - done);
    std::copy_n(period, n, out.data() + done);
    done += n;
  }
}

std::size_t check_source_pattern(std::span<const char> in, std::uint64_t id,
                                 std::uint64_t offset) noexcept {
  auto expected = static_cast<unsigned char>((id + offset) & 0xFF);
  for (std::size_t i = 0; i < in.size(); ++i, ++expected) {
    if (static_cast<unsigned char>(in[i]) != expected) return i;
  }
  return in.size();
}

}  // namespace ioduel::protocol
