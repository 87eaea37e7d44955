#pragma once
// The servers a run can name: the shipped configurations (reactor,
// reactor-level, ..., proactor-uring) found under the build tree, and custom
// ones given as NAME=COMMAND LINE.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ioduel::harness {

struct server_spec {
  std::string name;
  std::vector<std::string> argv;  // without --port (the runner adds --port 0)
};

// The directory the server binaries are found under: --bin-dir, else
// $IODUEL_BIN_DIR, else the build tree this harness was built in.
std::filesystem::path default_bin_dir();

// The command line of a named server (reactor, reactor-level, reactor-poll,
// reactor-select, proactor, proactor-shared, proactor-uring), or nullopt.
std::optional<server_spec> named_server(const std::string& name, const std::filesystem::path& bin_dir);
std::vector<std::string> known_server_names();

// Splits a command line on blanks, honouring '...' and "..." quoting.
std::vector<std::string> split_command_line(const std::string& text);

}  // namespace ioduel::harness
