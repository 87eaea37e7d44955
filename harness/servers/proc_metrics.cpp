// What /proc says about a process: its CPU in ticks, memory, threads and
// context switches (/proc/PID/stat, status, task/*/status), and each
// thread's time on a CPU and waiting for one in nanoseconds
// (task/*/schedstat).  Declared in harness/servers/server_process.hpp.
#include "harness/servers/server_process.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <system_error>

namespace ioduel::harness {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::system_error(errno ? errno : ESRCH, std::generic_category(), path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number after "Key:" in a /proc status file, or 0 when absent.
std::uint64_t status_field(const std::string& text, std::string_view key) {
  std::size_t at = 0;
  while ((at = text.find(key, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      std::size_t p = at + key.size();
      while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
      std::uint64_t v = 0;
      std::from_chars(text.data() + p, text.data() + text.size(), v);
      return v;
    }
    at += key.size();
  }
  return 0;
}

}  // namespace

process_metrics read_process_metrics(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  process_metrics m;

  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and
  // parentheses, so count fields from the last ')'.
  const std::string stat = read_file(base + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) throw std::runtime_error("unreadable " + base + "/stat");
  std::istringstream fields(stat.substr(close_paren + 1));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  // After ')': [0] state (field 3), so field N is f[N - 3].
  if (f.size() < 18) throw std::runtime_error("short " + base + "/stat");
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  m.user_s = static_cast<double>(std::stoull(f[14 - 3])) / tick;
  m.system_s = static_cast<double>(std::stoull(f[15 - 3])) / tick;
  m.threads = static_cast<unsigned>(std::stoul(f[20 - 3]));

  const std::string status = read_file(base + "/status");
  m.rss_bytes = status_field(status, "VmRSS:") * 1024;
  m.hwm_bytes = status_field(status, "VmHWM:") * 1024;

  // /proc/PID/status counts switches of the main thread only; sum every thread.
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
    std::ifstream in(task.path() / "status");
    if (!in) continue;  // the thread has just exited
    std::ostringstream s;
    s << in.rdbuf();
    m.voluntary_switches += status_field(s.str(), "voluntary_ctxt_switches:");
    m.involuntary_switches += status_field(s.str(), "nonvoluntary_ctxt_switches:");
  }
  return m;
}

std::map<pid_t, thread_times> read_thread_times(pid_t pid) {
  std::map<pid_t, thread_times> out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    // "on-CPU-ns run-queue-ns timeslices"; unreadable once the thread has exited.
    std::ifstream in(task.path() / "schedstat");
    thread_times t;
    if (in >> t.on_cpu_ns >> t.run_queue_ns)
      out[static_cast<pid_t>(std::stol(task.path().filename().string()))] = t;
  }
  return out;
}

}  // namespace ioduel::harness
