#include "protocol/server_options.hpp"

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

namespace ioduel::protocol {

void add_server_options(CLI::App& app, server_options& o) {
  app.add_option("--bind", o.bind, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port to listen on (0 = any free port)")->capture_default_str();
  app.add_option("--threads", o.threads, "event-loop threads")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--max-frame", o.max_frame, "largest payload accepted, in bytes")
      ->check(CLI::Range(1u, 1u << 30))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", o.idle_timeout_ms,
                 "close a connection idle this long (0 = never)")
      ->capture_default_str();
  app.add_option("--max-connections", o.max_connections,
                 "connections served at once; more are accepted and closed at once")
      ->check(CLI::Range(1u, 10'000'000u))
      ->capture_default_str();
  app.add_option("--high-water", o.high_water,
                 "stop reading from a connection whose queued output passes this many bytes")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", o.drain_timeout_ms,
                 "on SIGTERM/SIGINT, how long to finish owed replies before exiting")
      ->capture_default_str();
  // Parsed as text so that --help and errors show the names, not enum values.
  app.add_option_function<std::string>(
         "--mode",
         [&o](const std::string& v) {
           o.mode = v == "raw-echo" ? server_mode::raw_echo : server_mode::framed;
         },
         "framed: the ioduel protocol; raw-echo: echo bytes as they come, unframed")
      ->transform(CLI::IsMember({"framed", "raw-echo"}, CLI::ignore_case))
      ->default_str("framed");
}

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n"
              << "Run with --help for the options.\n";
    return 2;
  }
  return std::nullopt;
}

void announce_listening(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  std::printf(v6 ? "listening on [%s]:%u\n" : "listening on %s:%u\n", address.c_str(),
              static_cast<unsigned>(port));
  std::fflush(stdout);
}

}  // namespace ioduel::protocol
