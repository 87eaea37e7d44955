// ioduel-proactor and ioduel-proactor-uring: the same main, linked against the
// epoll or the io_uring build of the proactor library.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "proactor/backend.hpp"
#include "proactor/server.hpp"

int main(int argc, char** argv) {
  namespace p = ioduel::proactor;
  // A peer that closes early must cost an EPIPE, never the process.
  std::signal(SIGPIPE, SIG_IGN);

  const char* name = p::uses_io_uring() ? "ioduel-proactor-uring" : "ioduel-proactor";
  CLI::App app{std::string(name) + ": the ioduel protocol on Boost.Asio's completion model (" +
               std::string(p::backend_name()) + ")"};
  app.name(name);
  p::proactor_options options;
  ioduel::protocol::add_server_options(app, options.common);
  const std::map<std::string, p::context_model> models{{"per-thread", p::context_model::per_thread},
                                                       {"shared", p::context_model::shared}};
  app.add_option("--contexts", options.contexts,
                 "per-thread: one io_context per thread; shared: one io_context, a strand per connection")
      ->transform(CLI::CheckedTransformer(models, CLI::ignore_case))
      ->default_str("per-thread");
  if (const auto status = ioduel::protocol::parse_command_line(app, argc, argv)) return *status;

  if (p::uses_io_uring()) {
    if (const std::string why = p::probe_io_uring(); !why.empty()) {
      std::fprintf(stderr,
                   "%s: the kernel refused io_uring (%s); it may be disabled "
                   "(kernel.io_uring_disabled) or blocked by a sandbox. Use ioduel-proactor (epoll).\n",
                   name, why.c_str());
      return 3;
    }
  }
  return p::run_server(options, std::cerr);
}
