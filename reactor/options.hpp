#pragma once
// The reactor's command line: the options every server shares
// (protocol::server_options) plus the reactor's own.

#include <cstdint>
#include <optional>

#include "protocol/server_options.hpp"
#include "reactor/poller.hpp"

namespace ioduel::reactor {

struct reactor_options {
  protocol::server_options common;
  poller_kind poller = poller_kind::epoll;
  trigger_mode trigger = trigger_mode::edge;  // epoll only; poll and select are level by nature
  std::uint64_t read_budget = 64 * 1024;      // bytes per connection per loop turn; 0 = no limit
  // Reply bytes one connection may build, and bytes it may send, per loop
  // turn (at least one reply is built); 0 = no limit.  Requests are cheap and
  // replies need not be (a 20-byte SOURCE asks for 1 MiB), so input alone
  // does not bound a turn.
  std::uint64_t write_budget = 256 * 1024;
};

// Adds --poller, --trigger, --read-budget and --write-budget to the shared options.
void add_reactor_options(CLI::App& app, reactor_options& opts);

// Parses argv into opts.  Returns an exit status when the program should stop
// now (0 after --help, 2 with a message for a bad command line).
std::optional<int> parse_reactor_command_line(int argc, char** argv, reactor_options& opts);

}  // namespace ioduel::reactor
