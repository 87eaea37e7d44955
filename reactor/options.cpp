#include "reactor/options.hpp"

#include <string>

#include <CLI/CLI.hpp>

namespace ioduel::reactor {

void add_reactor_options(CLI::App& app, reactor_options& o) {
  protocol::add_server_options(app, o.common);
  // Named values are parsed as text: CLI11 would print a uint8_t enum's value
  // as a raw byte in the help and error messages.
  app.add_option_function<std::string>(
         "--poller",
         [&o](const std::string& v) {
           o.poller = v == "poll" ? poller_kind::poll
                      : v == "select" ? poller_kind::select
                                      : poller_kind::epoll;
         },
         "event demultiplexer")
      ->transform(CLI::IsMember({"epoll", "poll", "select"}, CLI::ignore_case))
      ->default_str("epoll");
  app.add_option_function<std::string>(
         "--trigger",
         [&o](const std::string& v) {
           o.trigger = v == "level" ? trigger_mode::level : trigger_mode::edge;
         },
         "epoll triggering (poll and select are always level)")
      ->transform(CLI::IsMember({"edge", "level"}, CLI::ignore_case))
      ->default_str("edge");
  app.add_option("--read-budget", o.read_budget,
                 "bytes one connection may read per loop turn (0 = until the socket is empty)")
      ->capture_default_str();
  app.add_option("--write-budget", o.write_budget,
                 "reply bytes one connection may build, and bytes it may send, per loop turn; at least one reply (0 = no limit)")
      ->capture_default_str();
}

std::optional<int> parse_reactor_command_line(int argc, char** argv, reactor_options& opts) {
  CLI::App app{"ioduel-reactor: the ioduel protocol on a hand-written reactor", "ioduel-reactor"};
  add_reactor_options(app, opts);
  return protocol::parse_command_line(app, argc, argv);
}

}  // namespace ioduel::reactor
