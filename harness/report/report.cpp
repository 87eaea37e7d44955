#include "harness/report/report.hpp"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "base/unique_fd.hpp"

#ifndef IODUEL_SOURCE_DIR
#define IODUEL_SOURCE_DIR "."
#endif
#ifndef IODUEL_BUILD_TYPE
#define IODUEL_BUILD_TYPE "unknown"
#endif
#ifndef IODUEL_VERSION
#define IODUEL_VERSION "0"
#endif

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

// The first line a command prints, or "" if it fails.
std::string command_output(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = ::pclose(p);
  if (status != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string file_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

std::string compiler() {
#if defined(__clang__)
  return std::string("Clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("GCC ") + __VERSION__;
#else
  return "unknown";
#endif
}

// The first line of a sysfs file, or null where there is none (a VM
// without cpufreq).  For the THP setting, the bracketed choice.
json sysfs_word(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line.empty()) return nullptr;
  if (const auto open = line.find('['), close = line.find(']');
      open != std::string::npos && close != std::string::npos && close > open)
    return line.substr(open + 1, close - open - 1);
  return line;
}

}  // namespace

std::string utc_now_iso() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json run_metadata(const std::string& started, const std::string& finished, double duration_s,
                  const std::vector<int>& pin_client, const std::vector<int>& pin_server,
                  std::uint64_t nofile_limit) {
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string src = IODUEL_SOURCE_DIR;
  const std::string commit = command_output("git -C '" + src + "' rev-parse HEAD 2>/dev/null");
  json dirty = nullptr;
  if (!commit.empty())
    dirty = !command_output("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null").empty();
  const std::string mem = file_field("/proc/meminfo", "MemTotal");  // "25165824 kB"
  const std::uint64_t mem_bytes = mem.empty() ? 0 : std::stoull(mem) * 1024;
  std::string cpu = file_field("/proc/cpuinfo", "model name");
  if (cpu.empty()) cpu = u.machine;
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return {
      {"started_at", started},
      {"finished_at", finished},
      {"duration_s", duration_s},
      {"git_commit", commit.empty() ? json(nullptr) : json(commit)},
      {"git_dirty", dirty},
      {"host",
       {{"hostname", host},
        {"kernel", std::string(u.sysname) + " " + u.release + " " + u.version},
        {"cpu_model", cpu},
        {"cores", cores > 0 ? cores : 1},
        {"memory_bytes", mem_bytes},
        // What shapes a measurement on this host: the clock the timings
        // come from, CPU frequency scaling, huge pages.
        {"clocksource", sysfs_word("/sys/devices/system/clocksource/clocksource0/current_clocksource")},
        {"cpu_governor", sysfs_word("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")},
        {"transparent_hugepages", sysfs_word("/sys/kernel/mm/transparent_hugepage/enabled")}}},
      {"build",
       {{"compiler", compiler()}, {"build_type", IODUEL_BUILD_TYPE}, {"boost_version", BOOST_LIB_VERSION}}},
      {"harness",
       {{"version", IODUEL_VERSION},
        {"pin_client", pin_client},
        {"pin_server", pin_server},
        {"nofile_limit", nofile_limit}}},
  };
}

json latency_json(const histogram& h) {
  if (h.total_count() == 0) return nullptr;
  // The histogram counts nanoseconds; the figures are in microseconds, with
  // the histogram's own resolution (3 significant digits) kept.
  const auto us = [](double ns) { return ns / 1000.0; };
  return {{"count", h.total_count()},
          {"unit", "us"},
          {"histogram_unit", "ns"},
          {"min", us(static_cast<double>(h.min()))},
          {"p50", us(static_cast<double>(h.value_at_percentile(50)))},
          {"p90", us(static_cast<double>(h.value_at_percentile(90)))},
          {"p99", us(static_cast<double>(h.value_at_percentile(99)))},
          {"p99_9", us(static_cast<double>(h.value_at_percentile(99.9)))},
          {"p99_99", us(static_cast<double>(h.value_at_percentile(99.99)))},
          {"max", us(static_cast<double>(h.max()))},
          {"mean", us(h.mean())},
          {"histogram", h.encode()}};
}

void write_report_atomically(const json& report, const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::filesystem::create_directories(dir);
  const std::filesystem::path tmp =
      dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));
  const std::string text = report.dump(1) + "\n";
  {
    unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(err));
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot sync " + tmp.string() + ": " + std::strerror(err));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename to " + path.string() + ": " + std::strerror(err));
  }
}

}  // namespace ioduel::harness
