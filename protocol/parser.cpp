#include "protocol/parser.hpp"

#include <string>

namespace ioduel::protocol {

std::string_view parse_error_name(parse_error e) noexcept {
  switch (e) {
    case parse_error::none: return "none";
    case parse_error::bad_magic: return "bad_magic";
    case parse_error::bad_version: return "bad_version";
    case parse_error::bad_opcode: return "bad_opcode";
    case parse_error::frame_too_large: return "frame_too_large";
    case parse_error::bad_payload_size: return "bad_payload_size";
    case parse_error::value_out_of_range: return "value_out_of_range";
  }
  return "unknown";
}

std::string parse_failure::message(const parse_options& opts) const {
  const auto op = static_cast<unsigned>(static_cast<std::uint8_t>(hdr.op));
  switch (error) {
    case parse_error::none:
      return "no error";
    case parse_error::bad_magic:
      return "bad magic: a frame must start with the bytes 0x49 0x4F (\"IO\")";
    case parse_error::bad_version:
      return "unknown protocol version: only version 1 is spoken";
    case parse_error::bad_opcode:
      return "unknown opcode " + std::to_string(op);
    case parse_error::frame_too_large:
      return "payload length " + std::to_string(hdr.length) + " exceeds the maximum frame of " +
             std::to_string(opts.max_frame) + " bytes";
    case parse_error::bad_payload_size:
      if (hdr.op == opcode::stats)
        return "STATS takes an empty payload, not " + std::to_string(hdr.length) + " bytes";
      return std::string(opcode_name(hdr.op)) + " takes a 4-byte payload, not " +
             std::to_string(hdr.length) + " bytes";
    case parse_error::value_out_of_range:
      if (hdr.op == opcode::sleep)
        return "SLEEP of " + std::to_string(value) + " us exceeds the maximum of " +
               std::to_string(max_sleep_us) + " us";
      return "SOURCE of " + std::to_string(value) + " bytes exceeds the maximum frame of " +
             std::to_string(opts.max_frame) + " bytes";
  }
  return "protocol error";
}

namespace {

decode_result fail(parse_error e, header h = {}, std::uint32_t value = 0) noexcept {
  decode_result r;
  r.what = decode_result::status::error;
  r.failure = parse_failure{e, h, value};
  return r;
}

decode_result need(std::size_t total) noexcept {
  decode_result r;
  r.what = decode_result::status::need_more;
  r.needed = total;
  return r;
}

// The payload size an opcode demands, or -1 for "any".
constexpr long required_length(opcode op) noexcept {
  switch (op) {
    case opcode::source:
    case opcode::sleep: return 4;
    case opcode::stats: return 0;
    default: return -1;
  }
}

}  // namespace

decode_result decode_frame(std::span<const char> in, const parse_options& opts) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(in[i]); };
  // Reject garbage as early as its first bytes show it.
  if (in.size() >= 1 && byte(0) != magic_0) return fail(parse_error::bad_magic);
  if (in.size() >= 2 && byte(1) != magic_1) return fail(parse_error::bad_magic);
  if (in.size() >= 3 && byte(2) != protocol_version) return fail(parse_error::bad_version);
  if (in.size() < header_size) return need(header_size);

  const header h = decode_header(in.data());
  const bool known = opts.side == role::server ? is_request(h.op) : is_reply(h.op);
  if (!known) return fail(parse_error::bad_opcode, h);
  if (h.length > opts.max_frame) return fail(parse_error::frame_too_large, h);
  if (opts.side == role::server) {
    const long want = required_length(h.op);
    if (want >= 0 && h.length != static_cast<std::uint32_t>(want))
      return fail(parse_error::bad_payload_size, h);
  }
  const std::size_t total = header_size + h.length;
  if (in.size() < total) return need(total);

  decode_result r;
  r.what = decode_result::status::frame;
  r.f = frame{h, in.subspan(header_size, h.length)};
  r.consumed = total;
  if (opts.side == role::server) {
    if (h.op == opcode::source) {
      const std::uint32_t n = load_be32(r.f.payload.data());
      if (n > opts.max_frame) return fail(parse_error::value_out_of_range, h, n);
    } else if (h.op == opcode::sleep) {
      const std::uint32_t us = load_be32(r.f.payload.data());
      if (us > max_sleep_us) return fail(parse_error::value_out_of_range, h, us);
    }
  }
  return r;
}

}  // namespace ioduel::protocol
