#pragma once
// A server binary running as a child process, from start to reaped exit.
//
// server_process starts the binary, waits for its "listening on ADDR:PORT"
// line, and then lets the harness and the tests signal it, watch it, sample
// its CPU and memory from /proc, and stop it (SIGTERM, then SIGKILL after a
// deadline).  It owns the child: the destructor kills and reaps one that is
// still running, so no server outlives the test or run that started it.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ioduel::harness {

// How a child ended.
struct process_exit {
  bool exited = false;  // true: `code` is its exit status; false: killed by `signal`
  int code = 0;
  int signal = 0;
  bool killed = false;  // stop() had to send SIGKILL after its timeout

  bool clean() const noexcept { return exited && code == 0; }
  // "exit status 3", "killed by signal 9 (Killed)", ...
  std::string describe() const;
};

// A snapshot of a process's resource use, from /proc/PID/stat and the
// status files of all its threads.
struct process_metrics {
  double user_s = 0;    // CPU time in user mode, all threads
  double system_s = 0;  // CPU time in the kernel, all threads
  std::uint64_t rss_bytes = 0;  // VmRSS
  std::uint64_t hwm_bytes = 0;  // VmHWM, the peak RSS
  std::uint64_t voluntary_switches = 0;    // summed over live threads
  std::uint64_t involuntary_switches = 0;  // summed over live threads
  unsigned threads = 0;

  double cpu_s() const noexcept { return user_s + system_s; }
};

// Reads the metrics of any process (a server, or the harness itself with
// getpid()).  Throws std::system_error when /proc has no such process.
process_metrics read_process_metrics(pid_t pid);

// One thread's scheduler times, in nanoseconds (/proc/PID/task/TID/schedstat):
// on a CPU, and runnable but waiting for one.  Their sum is how long the
// thread wanted a CPU.  A thread asleep in poll or epoll_wait adds almost
// nothing to it however busy the machine is, while a spinning thread adds the
// whole interval: the measure of spinning that holds when other processes
// take the cores.
struct thread_times {
  std::uint64_t on_cpu_ns = 0;
  std::uint64_t run_queue_ns = 0;
  std::uint64_t runnable_ns() const noexcept { return on_cpu_ns + run_queue_ns; }
};

// Every live thread of `pid`, by thread id; empty when /proc has no such
// process or the kernel keeps no schedstat.
std::map<pid_t, thread_times> read_thread_times(pid_t pid);

// What to start and how.
struct server_launch {
  std::vector<std::string> argv;  // argv[0] is the binary: a path, or a name searched in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
  std::optional<std::uint64_t> nofile_limit;  // RLIMIT_NOFILE soft limit set in the child
  std::optional<std::uint64_t> address_space_limit;  // RLIMIT_AS (bytes) set in the child
  std::vector<int> cpus;                      // CPU affinity of the child; empty: inherit
  std::chrono::milliseconds start_timeout{10'000};  // for the "listening on" line
  // False for a child that announces nothing (a client, a tool): the
  // constructor returns once it has been executed; host() and port() are empty.
  bool await_listening = true;
};

// The server did not come up: it exited, closed stdout without announcing
// itself, timed out, or could not be executed.  `status` is set when it exited.
class server_start_error : public std::runtime_error {
 public:
  server_start_error(const std::string& what, std::optional<process_exit> status,
                     std::string stderr_tail);

  const std::optional<process_exit>& status() const noexcept { return status_; }
  const std::string& stderr_tail() const noexcept { return stderr_tail_; }

 private:
  std::optional<process_exit> status_;
  std::string stderr_tail_;
};

// The server exited with status 3: its backend (io_uring) is refused by this
// kernel.  Callers skip such a server rather than fail.
class server_unavailable : public server_start_error {
 public:
  using server_start_error::server_start_error;
};

inline constexpr int exit_status_unavailable = 3;

class server_process {
 public:
  // Starts the server and waits for its "listening on" line.  Throws
  // server_unavailable for exit status 3, server_start_error otherwise.
  explicit server_process(const server_launch& launch);
  ~server_process();

  server_process(server_process&& other) noexcept;
  server_process& operator=(server_process&& other) noexcept;
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // The command line it was started with, for messages.
  const std::string& command() const noexcept { return command_; }
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }

  // Sends `sig`; does nothing once the child has been reaped.
  void signal(int sig);

  // The exit, if the child has exited (reaping it); never blocks.
  std::optional<process_exit> try_wait();
  // Waits up to `timeout` for the child to exit.
  std::optional<process_exit> wait_for(std::chrono::milliseconds timeout);

  // SIGTERM, up to `timeout` for the child to exit, then SIGKILL.  Returns how
  // it ended; calling it again returns the same.
  process_exit stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // CPU, memory and context switches now.  Throws std::system_error once the
  // child has been reaped.
  process_metrics sample() const;

  // The last few KiB the child wrote to stderr and, after the listening line,
  // to stdout (what has arrived so far).
  std::string stderr_tail() const;
  std::string stdout_tail();

 private:
  void wait_for_listening(std::chrono::milliseconds timeout);
  bool wait_readable(int fd, int timeout_ms) const;
  process_exit reap();
  void drain_stdout();
  [[noreturn]] void fail_start(const std::string& why);
  void release() noexcept;

  pid_t pid_ = -1;
  int pidfd_ = -1;   // -1 when the kernel has no pidfd_open; then waits poll waitpid
  int stdout_ = -1;  // read end of the child's stdout pipe
  int stderr_ = -1;  // a memfd the child's stderr is appended to
  std::string command_;
  std::string stdout_buf_;
  std::optional<process_exit> exit_;
  std::string host_;
  std::uint16_t port_ = 0;
};

}  // namespace ioduel::harness
