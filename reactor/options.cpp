#include "reactor/options.hpp"

#include <map>
#include <string>

namespace ioduel::reactor {

void add_reactor_options(CLI::App& app, reactor_options& o) {
  protocol::add_server_options(app, o.common);
  const std::map<std::string, poller_kind> pollers{
      {"epoll", poller_kind::epoll}, {"poll", poller_kind::poll}, {"select", poller_kind::select}};
  app.add_option("--poller", o.poller, "event demultiplexer: epoll, poll or select")
      ->transform(CLI::CheckedTransformer(pollers, CLI::ignore_case))
      ->default_str("epoll");
  const std::map<std::string, trigger_mode> triggers{{"edge", trigger_mode::edge},
                                                     {"level", trigger_mode::level}};
  app.add_option("--trigger", o.trigger,
                 "epoll triggering: edge or level (poll and select are always level)")
      ->transform(CLI::CheckedTransformer(triggers, CLI::ignore_case))
      ->default_str("edge");
  app.add_option("--read-budget", o.read_budget,
                 "bytes one connection may read per loop turn (0 = until the socket is empty)")
      ->capture_default_str();
}

std::optional<int> parse_reactor_command_line(int argc, char** argv, reactor_options& opts) {
  CLI::App app{"ioduel-reactor: the ioduel protocol on a hand-written reactor", "ioduel-reactor"};
  add_reactor_options(app, opts);
  return protocol::parse_command_line(app, argc, argv);
}

}  // namespace ioduel::reactor
