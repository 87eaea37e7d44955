#include "harness/servers/server_process.hpp"

#include "harness/servers/spawn_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

extern char** environ;

namespace ioduel::harness {

namespace {

constexpr std::size_t tail_bytes = 4096;

using clock_type = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void keep_tail(std::string& s) {
  if (s.size() > tail_bytes) s.erase(0, s.size() - tail_bytes);
}

int remaining_ms(clock_type::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1 << 30));
}

// argv[0] as execve wants it: names without a slash are looked up in PATH.
std::string resolve_binary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;  // execve then fails with ENOENT, reported as such
}

// Our environment with `extra` added, a name in `extra` replacing ours.
std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(),
                                      [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  p.reserve(strings.size() + 1);
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

process_exit decode_wait_status(int st) {
  process_exit e;
  if (WIFEXITED(st)) {
    e.exited = true;
    e.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
  }
  return e;
}

}  // namespace

std::string process_exit::describe() const {
  std::string s;
  if (exited) {
    s = "exit status " + std::to_string(code);
  } else {
    const char* name = ::strsignal(signal);
    s = "killed by signal " + std::to_string(signal) + (name ? std::string(" (") + name + ")" : "");
  }
  if (killed) s += " after SIGKILL (did not stop in time)";
  return s;
}

server_start_error::server_start_error(const std::string& what,
                                       std::optional<process_exit> status,
                                       std::string stderr_tail)
    : std::runtime_error(what), status_(status), stderr_tail_(std::move(stderr_tail)) {}

server_process::server_process(const server_launch& launch) {
  if (launch.argv.empty()) throw std::invalid_argument("server_process: empty argv");
  command_ = join(launch.argv);
  const std::string path = resolve_binary(launch.argv[0]);
  std::vector<std::string> args = launch.argv;
  std::vector<std::string> env = child_environment(launch.env);
  const auto argv = pointers(args);
  const auto envp = pointers(env);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
  stdout_ = out[0];
  // Room for whatever a server prints after its listening line, so that it
  // never blocks on stdout between our reads.
  ::fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
  stderr_ = ::memfd_create("ioduel-server-stderr", MFD_CLOEXEC);
  if (stderr_ < 0) {
    const int e = errno;
    ::close(out[1]);
    release();
    throw std::system_error(e, std::generic_category(), "memfd_create");
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(out[1]);
    release();
    throw std::system_error(e, std::generic_category(), "pipe2");
  }

  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0)
    detail::exec_child(path.c_str(), argv.data(), envp.data(), out[1], stderr_, err[1], parent, launch);
  const int fork_errno = errno;
  ::close(out[1]);
  ::close(err[1]);
  if (pid_ < 0) {
    ::close(err[0]);
    release();
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  }

  // The error pipe closes on a successful execve, or carries errno.
  int exec_errno = 0;
  ssize_t n;
  do n = ::read(err[0], &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  ::close(err[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    reap();
    release();
    throw server_start_error("cannot execute `" + command_ + "`: " + std::strerror(exec_errno),
                             std::nullopt, "");
  }

  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // -1: old kernel, fall back
  if (!launch.await_listening) {
    ::fcntl(stdout_, F_SETFL, ::fcntl(stdout_, F_GETFL) | O_NONBLOCK);
    return;
  }
  try {
    wait_for_listening(launch.start_timeout);
  } catch (const server_start_error&) {
    throw;  // fail_start has reaped the child already
  } catch (...) {
    ::kill(pid_, SIGKILL);
    reap();
    release();
    throw;
  }
}

server_process::~server_process() {
  if (pid_ > 0 && !exit_) {
    ::kill(pid_, SIGKILL);
    try {
      reap();
    } catch (const std::system_error&) {
      // ECHILD: reaped behind our back (SIGCHLD ignored); nothing is left to do.
    }
  }
  release();
}

server_process::server_process(server_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdout_(std::exchange(other.stdout_, -1)),
      stderr_(std::exchange(other.stderr_, -1)),
      command_(std::move(other.command_)),
      stdout_buf_(std::move(other.stdout_buf_)),
      exit_(std::exchange(other.exit_, std::nullopt)),
      host_(std::move(other.host_)),
      port_(other.port_) {}

server_process& server_process::operator=(server_process&& other) noexcept {
  if (this != &other) {
    server_process doomed(std::move(*this));  // kills and reaps what we held
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdout_ = std::exchange(other.stdout_, -1);
    stderr_ = std::exchange(other.stderr_, -1);
    command_ = std::move(other.command_);
    stdout_buf_ = std::move(other.stdout_buf_);
    exit_ = std::exchange(other.exit_, std::nullopt);
    host_ = std::move(other.host_);
    port_ = other.port_;
  }
  return *this;
}

void server_process::release() noexcept {
  close_fd(pidfd_);
  close_fd(stdout_);
  close_fd(stderr_);
  pid_ = -1;
}

void server_process::wait_for_listening(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  const std::string prefix = "listening on ";
  for (;;) {
    // Look at every complete line so far.
    for (std::size_t eol; (eol = stdout_buf_.find('\n')) != std::string::npos;) {
      std::string line = stdout_buf_.substr(0, eol);
      stdout_buf_.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string addr = line.substr(prefix.size());
      const auto colon = addr.rfind(':');
      unsigned port = 0;
      const char* port_end = addr.data() + addr.size();
      if (colon == std::string::npos ||
          std::from_chars(addr.data() + colon + 1, port_end, port).ptr != port_end ||
          port == 0 || port > 65535)
        fail_start("announced an unreadable address: \"" + line + "\"");
      host_ = addr.substr(0, colon);
      if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']')
        host_ = host_.substr(1, host_.size() - 2);  // [::1]
      port_ = static_cast<std::uint16_t>(port);
      ::fcntl(stdout_, F_SETFL, ::fcntl(stdout_, F_GETFL) | O_NONBLOCK);
      return;
    }

    const int left = remaining_ms(deadline);
    if (left == 0)
      fail_start("printed no \"listening on\" line within " + std::to_string(timeout.count()) +
                 " ms");
    pollfd fds[2] = {{stdout_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
    const int ready = ::poll(fds, pidfd_ >= 0 ? 2 : 1, pidfd_ >= 0 ? left : std::min(left, 10));
    if (ready < 0 && errno != EINTR) throw_errno("poll");
    if (fds[0].revents != 0) {
      char buf[4096];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n > 0) {
        stdout_buf_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        // stdout closed: the child is exiting, or will never announce itself.
        if (wait_for(std::chrono::milliseconds(remaining_ms(deadline))))
          fail_start("exited before listening");
        fail_start("closed its stdout without a \"listening on\" line");
      }
      if (errno != EINTR) throw_errno("read");
    }
    if ((pidfd_ >= 0 && fds[1].revents != 0) || (pidfd_ < 0 && try_wait()))
      fail_start("exited before listening");
  }
}

void server_process::fail_start(const std::string& why) {
  if (!exit_) {
    ::kill(pid_, SIGKILL);
    reap();
  }
  std::string tail = stderr_tail();
  std::string what = "server `" + command_ + "` " + why + " (" + exit_->describe() + ")";
  if (!tail.empty()) what += "; its stderr ends with:\n" + tail;
  const process_exit status = *exit_;
  release();
  if (status.exited && status.code == exit_status_unavailable)
    throw server_unavailable(what, status, std::move(tail));
  throw server_start_error(what, status, std::move(tail));
}

process_exit server_process::reap() {
  int st = 0;
  pid_t r;
  do r = ::waitpid(pid_, &st, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) throw_errno("waitpid");
  exit_ = decode_wait_status(st);
  return *exit_;
}

void server_process::signal(int sig) {
  if (pid_ > 0 && !exit_ && ::kill(pid_, sig) != 0) throw_errno("kill");
}

std::optional<process_exit> server_process::try_wait() {
  if (exit_ || pid_ <= 0) return exit_;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r < 0) throw_errno("waitpid");
  if (r == pid_) exit_ = decode_wait_status(st);
  return exit_;
}

std::optional<process_exit> server_process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!try_wait()) {
    const int left = remaining_ms(deadline);
    if (left == 0) break;
    if (pidfd_ < 0) {
      // No pidfd on this kernel: check again in a moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 5)));
      continue;
    }
    // Drain stdout while waiting, so that a server printing on its way out
    // never blocks on a full pipe.
    pollfd fds[2] = {{pidfd_, POLLIN, 0}, {stdout_, POLLIN, 0}};
    const int nfds = stdout_ >= 0 ? 2 : 1;
    if (::poll(fds, nfds, left) < 0 && errno != EINTR) throw_errno("poll");
    if (nfds == 2 && fds[1].revents != 0) drain_stdout();
  }
  return exit_;
}

process_exit server_process::stop(std::chrono::milliseconds timeout) {
  if (exit_) return *exit_;
  if (pid_ <= 0) throw std::logic_error("server_process::stop on a moved-from process");
  signal(SIGTERM);
  if (auto e = wait_for(timeout)) return *e;
  ::kill(pid_, SIGKILL);
  reap();
  exit_->killed = true;
  return *exit_;
}

process_metrics server_process::sample() const {
  if (pid_ <= 0 || exit_) throw std::system_error(ESRCH, std::generic_category(), "sample");
  return read_process_metrics(pid_);
}

void server_process::drain_stdout() {
  if (stdout_ < 0) return;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(stdout_, buf, sizeof buf);
    if (n > 0) {
      stdout_buf_.append(buf, static_cast<std::size_t>(n));
      keep_tail(stdout_buf_);
      continue;
    }
    if (n == 0) close_fd(stdout_);  // EOF: nothing more will come
    if (n < 0 && errno == EINTR) continue;
    return;  // EOF or EAGAIN
  }
}

std::string server_process::stdout_tail() {
  drain_stdout();
  return stdout_buf_;
}

std::string server_process::stderr_tail() const {
  if (stderr_ < 0) return {};
  struct stat st{};
  if (::fstat(stderr_, &st) != 0) return {};
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t from = size > tail_bytes ? size - tail_bytes : 0;
  std::string s(size - from, '\0');
  const ssize_t n = ::pread(stderr_, s.data(), s.size(), static_cast<off_t>(from));
  s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return s;
}

}  // namespace ioduel::harness
