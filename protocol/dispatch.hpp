#pragma once
// What a server does with one complete, valid request: the part of serving
// that is the same whatever the I/O model.  The server only supplies the
// output buffer, the STATS text and, for SLEEP, a timer.

#include <cstdint>
#include <string>

#include "protocol/replies.hpp"

namespace ioduel::protocol {

struct request_outcome {
  // True when the reply waits for a timer: the server appends
  // append_empty_reply(out, opcode::sleep_reply, id) after sleep_us, and
  // handles no later frame of the connection until then.
  bool deferred = false;
  std::uint32_t sleep_us = 0;
};

// Appends the reply to `request` (already validated by the parser) to `out`.
// `stats_json` is called only for STATS and returns the JSON text.
template <output_buffer B, class StatsJson>
request_outcome answer_request(const frame& request, B& out, StatsJson&& stats_json) {
  switch (request.hdr.op) {
    case opcode::echo:
      append_echo_reply(out, request);
      return {};
    case opcode::sink:
      append_empty_reply(out, opcode::sink_reply, request.hdr.id);
      return {};
    case opcode::source:
      append_source_reply(out, request.hdr.id, load_be32(request.payload.data()));
      return {};
    case opcode::sleep:
      return {true, load_be32(request.payload.data())};
    case opcode::stats: {
      const std::string json = stats_json();
      append_frame(out, opcode::stats_reply, request.hdr.id, json);
      return {};
    }
    default:
      // The parser lets only requests through; answer anything else as ERROR
      // rather than trusting that.
      append_error_reply(out, request.hdr.id, "not a request opcode");
      return {};
  }
}

}  // namespace ioduel::protocol
