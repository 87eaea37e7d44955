#pragma once
// Reply builders.  They append whole frames to any output buffer that offers
//   char* prepare(std::size_t n)  -- at least n writable bytes
//   void  commit(std::size_t n)   -- n of them are now readable
// (the reactor's buffer does; string_output adapts a std::string).

#include <concepts>
#include <cstring>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"

namespace ioduel::protocol {

template <class B>
concept output_buffer = requires(B& b, std::size_t n) {
  { b.prepare(n) } -> std::same_as<char*>;
  b.commit(n);
};

// A frame with the given payload.
template <output_buffer B>
void append_frame(B& out, opcode op, std::uint64_t id, std::span<const char> payload) {
  char* p = out.prepare(header_size + payload.size());
  encode_header(p, header{op, static_cast<std::uint32_t>(payload.size()), id});
  if (!payload.empty()) std::memcpy(p + header_size, payload.data(), payload.size());
  out.commit(header_size + payload.size());
}

// ECHO's reply: the request frame byte for byte.
template <output_buffer B>
void append_echo_reply(B& out, const frame& request) {
  append_frame(out, opcode::echo, request.hdr.id, request.payload);
}

// SINK and SLEEP replies: a header alone.
template <output_buffer B>
void append_empty_reply(B& out, opcode op, std::uint64_t id) {
  append_frame(out, op, id, {});
}

// SOURCE's reply: n bytes of the (id + i) mod 256 pattern.
template <output_buffer B>
void append_source_reply(B& out, std::uint64_t id, std::uint32_t n) {
  char* p = out.prepare(header_size + n);
  encode_header(p, header{opcode::source_reply, n, id});
  fill_source_pattern({p + header_size, n}, id);
  out.commit(header_size + n);
}

template <output_buffer B>
void append_error_reply(B& out, std::uint64_t id, std::string_view message) {
  append_frame(out, opcode::error, id, message);
}

// Adapts a std::string to output_buffer (tests, clients, STATS).
class string_output {
 public:
  explicit string_output(std::string& s) : s_(s) {}
  char* prepare(std::size_t n) {
    used_ = s_.size();
    s_.resize(used_ + n);
    return s_.data() + used_;
  }
  void commit(std::size_t n) { s_.resize(used_ + n); }

 private:
  std::string& s_;
  std::size_t used_ = 0;
};

}  // namespace ioduel::protocol
