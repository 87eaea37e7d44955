#pragma once
// Builders of raw request bytes for the protocol tests.

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"

namespace ioduel::protocol::test {

// A frame with an arbitrary header, so that invalid ones can be built too.
inline std::string raw_frame(std::uint8_t op, std::uint64_t id, std::string_view payload,
                             std::uint8_t version = protocol_version,
                             std::uint32_t length_override = 0, bool override_length = false) {
  std::string s(header_size, '\0');
  encode_header(s.data(), header{static_cast<opcode>(op),
                                 override_length ? length_override
                                                 : static_cast<std::uint32_t>(payload.size()),
                                 id});
  s[2] = static_cast<char>(version);
  s.append(payload);
  return s;
}

inline std::string be32(std::uint32_t v) {
  std::string s(4, '\0');
  store_be32(s.data(), v);
  return s;
}

}  // namespace ioduel::protocol::test
