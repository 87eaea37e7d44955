// ioduel-reactor: parse the command line, listen, announce, serve until
// SIGTERM or SIGINT has drained every connection.
#include <cstdio>
#include <exception>

#include "protocol/server_options.hpp"
#include "reactor/options.hpp"
#include "reactor/server.hpp"

int main(int argc, char** argv) {
  using namespace ioduel::reactor;
  reactor_options opts;
  if (auto status = parse_reactor_command_line(argc, argv, opts)) return *status;
  try {
    server s(opts);
    ioduel::protocol::announce_listening(opts.common.bind, s.port());
    return s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ioduel-reactor: %s\n", e.what());
    return 1;
  }
}
