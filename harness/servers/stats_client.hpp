#pragma once
// Asks a server for its STATS (opcode 0x05) over a short-lived blocking
// connection.  The request and its reply count in the server's own counters;
// the returned sizes let callers allow for that.

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/load/engine.hpp"

namespace ioduel::harness {

struct stats_reply {
  nlohmann::json stats;              // the parsed JSON object
  std::uint64_t request_bytes = 0;   // wire bytes of the request (16)
  std::uint64_t reply_bytes = 0;     // wire bytes of the reply, header included
};

// Throws std::runtime_error when the server cannot be reached, does not answer
// within `timeout`, or answers something that is not a STATS reply.
stats_reply fetch_stats(const endpoint& target,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace ioduel::harness
