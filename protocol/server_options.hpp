#pragma once
// The command-line options both servers share, defined once so that a flag
// means the same thing on every server.  Each server adds its own on top.

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/frame.hpp"

// CLI11 is included only where a command line is parsed: it is 40k lines of
// headers, and the servers' hot code includes this file for the struct alone.
namespace CLI {
class App;
}

namespace ioduel::protocol {

enum class server_mode : std::uint8_t { framed, raw_echo };

struct server_options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7100;
  unsigned threads = 1;
  std::uint32_t max_frame = default_max_frame;
  std::uint32_t idle_timeout_ms = 60'000;  // 0 = never
  std::uint32_t max_connections = 100'000;
  std::uint64_t high_water = 4u << 20;     // bytes of queued output
  std::uint32_t drain_timeout_ms = 5'000;
  server_mode mode = server_mode::framed;
};

// Adds --bind, --port, --threads, --max-frame, --idle-timeout-ms,
// --max-connections, --high-water, --drain-timeout-ms and --mode.
void add_server_options(CLI::App& app, server_options& opts);

// Parses the command line.  Returns an exit status when the program should
// stop now: 0 after --help, 2 (with a message on stderr) for a bad flag.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv);

// Prints the "listening on ADDR:PORT" line that scripts and the harness wait
// for, and flushes it.
void announce_listening(const std::string& address, std::uint16_t port);

}  // namespace ioduel::protocol
