#pragma once
// The ioduel wire format (docs/protocol.md): every message in both directions
// is a 16-byte header followed by `length` payload bytes, integers big-endian.
//
//   0      2         3        4                8                      16
//   +------+---------+--------+----------------+----------------------+
//   | "IO" | version | opcode | payload length |      request id      |
//   +------+---------+--------+----------------+----------------------+

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ioduel::protocol {

inline constexpr std::size_t header_size = 16;
inline constexpr std::uint8_t magic_0 = 0x49;  // 'I'
inline constexpr std::uint8_t magic_1 = 0x4F;  // 'O'
inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::uint32_t default_max_frame = 1u << 20;  // 1 MiB of payload
inline constexpr std::uint32_t max_sleep_us = 10'000'000;

enum class opcode : std::uint8_t {
  echo = 0x01,
  sink = 0x02,
  source = 0x03,
  sleep = 0x04,
  stats = 0x05,
  sink_reply = 0x82,
  source_reply = 0x83,
  sleep_reply = 0x84,
  stats_reply = 0x85,
  error = 0xFF,
};

// True for the opcodes a client may send.
constexpr bool is_request(opcode op) noexcept {
  auto v = static_cast<std::uint8_t>(op);
  return v >= 0x01 && v <= 0x05;
}

// True for the opcodes a server may send (ECHO's reply is the request itself).
constexpr bool is_reply(opcode op) noexcept {
  auto v = static_cast<std::uint8_t>(op);
  return v == 0x01 || (v >= 0x82 && v <= 0x85) || v == 0xFF;
}

// The reply opcode a request is answered with.
constexpr opcode reply_opcode(opcode request) noexcept {
  return request == opcode::echo ? opcode::echo
                                 : static_cast<opcode>(static_cast<std::uint8_t>(request) | 0x80);
}

std::string_view opcode_name(opcode op) noexcept;

struct header {
  opcode op = opcode::echo;
  std::uint32_t length = 0;
  std::uint64_t id = 0;
};

// Big-endian helpers, usable on unaligned bytes.
constexpr std::uint32_t load_be32(const char* p) noexcept {
  auto b = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}
constexpr std::uint64_t load_be64(const char* p) noexcept {
  return (static_cast<std::uint64_t>(load_be32(p)) << 32) | load_be32(p + 4);
}
constexpr void store_be32(char* p, std::uint32_t v) noexcept {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
}
constexpr void store_be64(char* p, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
}

// Writes the 16 header bytes (magic and version included) at `out`.
constexpr void encode_header(char* out, const header& h) noexcept {
  out[0] = static_cast<char>(magic_0);
  out[1] = static_cast<char>(magic_1);
  out[2] = static_cast<char>(protocol_version);
  out[3] = static_cast<char>(static_cast<std::uint8_t>(h.op));
  store_be32(out + 4, h.length);
  store_be64(out + 8, h.id);
}

// Reads opcode, length and id from 16 header bytes; validation is the parser's.
constexpr header decode_header(const char* in) noexcept {
  return header{static_cast<opcode>(static_cast<std::uint8_t>(in[3])), load_be32(in + 4),
                load_be64(in + 8)};
}

// A complete frame, viewing bytes owned by someone else (a buffer or the parser).
struct frame {
  header hdr;
  std::span<const char> payload;
};

// Byte i of a SOURCE reply's payload for request `id` is (id + i) mod 256.
// `offset` lets the pattern be produced (or checked) in pieces.
void fill_source_pattern(std::span<char> out, std::uint64_t id, std::uint64_t offset = 0) noexcept;

// Index of the first byte that breaks the pattern, or out.size() when all match.
std::size_t check_source_pattern(std::span<const char> in, std::uint64_t id,
                                 std::uint64_t offset = 0) noexcept;

}  // namespace ioduel::protocol
