#include "harness/servers/servers.hpp"

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <system_error>
#include <utility>

#ifndef IODUEL_BUILD_DIR
#define IODUEL_BUILD_DIR ""
#endif

namespace ioduel::harness {

std::filesystem::path default_bin_dir() {
  if (const char* env = std::getenv("IODUEL_BIN_DIR"); env && *env) return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return exe.parent_path().parent_path();  // <build>/harness/ioduel -> <build>
  return IODUEL_BUILD_DIR;
}

std::vector<std::string> known_server_names() {
  return {"reactor", "reactor-level", "reactor-poll", "reactor-select",
          "proactor", "proactor-shared", "proactor-uring"};
}

std::optional<server_spec> named_server(const std::string& name, const std::filesystem::path& bin_dir) {
  const auto binary = [&bin_dir](const std::string& wing, const std::string& file) {
    const auto nested = bin_dir / wing / file;
    if (std::filesystem::exists(nested) || !std::filesystem::exists(bin_dir / file)) return nested.string();
    return (bin_dir / file).string();
  };
  const std::string reactor = binary("reactor", "ioduel-reactor");
  const std::string proactor = binary("proactor", "ioduel-proactor");
  static const std::map<std::string, std::vector<std::string>> extra = {
      {"reactor", {"--poller", "epoll", "--trigger", "edge"}},
      {"reactor-level", {"--poller", "epoll", "--trigger", "level"}},
      {"reactor-poll", {"--poller", "poll"}},
      {"reactor-select", {"--poller", "select"}},
      {"proactor", {"--contexts", "per-thread"}},
      {"proactor-shared", {"--contexts", "shared"}},
      {"proactor-uring", {}},
  };
  auto it = extra.find(name);
  if (it == extra.end()) return std::nullopt;
  server_spec s{name, {}};
  if (name.rfind("reactor", 0) == 0) s.argv.push_back(reactor);
  else if (name == "proactor-uring") s.argv.push_back(binary("proactor", "ioduel-proactor-uring"));
  else s.argv.push_back(proactor);
  s.argv.insert(s.argv.end(), it->second.begin(), it->second.end());
  return s;
}

std::vector<std::string> split_command_line(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : text) {
    if (quote) {
      if (ch == quote) quote = 0;
      else cur += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in_word) out.push_back(std::exchange(cur, {}));
      in_word = false;
    } else {
      cur += ch;
      in_word = true;
    }
  }
  if (quote) throw std::invalid_argument("unterminated quote in '" + text + "'");
  if (in_word) out.push_back(cur);
  return out;
}

}  // namespace ioduel::harness
