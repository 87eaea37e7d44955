#include "protocol/stats.hpp"

#include <nlohmann/json.hpp>

namespace ioduel::protocol {

counter_snapshot& counter_snapshot::operator+=(const counter_snapshot& o) noexcept {
  connections_accepted += o.connections_accepted;
  connections_closed += o.connections_closed;
  connections_rejected += o.connections_rejected;
  connections_failed += o.connections_failed;
  frames_in += o.frames_in;
  frames_out += o.frames_out;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  protocol_errors += o.protocol_errors;
  idle_timeouts += o.idle_timeouts;
  oob_discarded += o.oob_discarded;
  loop_turns += o.loop_turns;
  return *this;
}

counter_snapshot server_counters::snapshot() const noexcept {
  counter_snapshot s;
  s.connections_accepted = connections_accepted.get();
  s.connections_closed = connections_closed.get();
  s.connections_rejected = connections_rejected.get();
  s.connections_failed = connections_failed.get();
  s.frames_in = frames_in.get();
  s.frames_out = frames_out.get();
  s.bytes_in = bytes_in.get();
  s.bytes_out = bytes_out.get();
  s.protocol_errors = protocol_errors.get();
  s.idle_timeouts = idle_timeouts.get();
  s.oob_discarded = oob_discarded.get();
  s.loop_turns = loop_turns.get();
  return s;
}

std::string stats_json(const server_identity& who, const counter_snapshot& c) {
  const std::chrono::duration<double> up = std::chrono::steady_clock::now() - who.started;
  nlohmann::ordered_json j;
  j["server"] = who.server;
  j["backend"] = who.backend;
  j["threads"] = who.threads;
  j["connections_accepted"] = c.connections_accepted;
  // Closes may be counted on another thread a moment before the accept is
  // seen; never report a wrapped-around count.
  j["connections_open"] =
      c.connections_accepted >= c.connections_closed ? c.connections_open() : 0;
  j["connections_rejected"] = c.connections_rejected;
  j["connections_failed"] = c.connections_failed;
  j["frames_in"] = c.frames_in;
  j["frames_out"] = c.frames_out;
  j["bytes_in"] = c.bytes_in;
  j["bytes_out"] = c.bytes_out;
  j["protocol_errors"] = c.protocol_errors;
  j["idle_timeouts"] = c.idle_timeouts;
  j["oob_discarded"] = c.oob_discarded;
  // Only from a server that has turns (the reactor): a diagnostic the
  // per-turn budgets are stated in.
  if (c.loop_turns > 0) j["loop_turns"] = c.loop_turns;
  j["uptime_s"] = up.count();
  return j.dump();
}

}  // namespace ioduel::protocol
