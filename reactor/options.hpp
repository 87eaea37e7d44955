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
};

// Adds --poller, --trigger and --read-budget to the shared options.
void add_reactor_options(CLI::App& app, reactor_options& opts);

// Parses argv into opts.  Returns an exit status when the program should stop
// now (0 after --help, 2 with a message for a bad command line).
std::optional<int> parse_reactor_command_line(int argc, char** argv, reactor_options& opts);

}  // namespace ioduel::reactor
