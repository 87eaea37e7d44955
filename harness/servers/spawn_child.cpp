#include "harness/servers/spawn_child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace ioduel::harness::detail {

namespace {

// Tells the parent why the child could not exec, and exits.
[[noreturn]] void child_failed(int error_fd) noexcept {
  const int err = errno;
  [[maybe_unused]] auto n = ::write(error_fd, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

// The child's side of the fork: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp,
                             int stdout_fd, int stderr_fd, int error_fd, pid_t parent,
                             const server_launch& launch) {
  const auto fail = [error_fd] { child_failed(error_fd); };
  // Die with the thread that started us, so a crashed test leaves no server.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail();
  if (::getppid() != parent) ::_exit(127);

  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0) fail();
  if (::dup2(stdout_fd, 1) < 0 || ::dup2(stderr_fd, 2) < 0) fail();
  // Whatever else we hold (test sockets, other servers' pipes) stays with us.
  ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);

  // A server must see signals as a fresh process would, whatever we block or ignore.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);

  if (launch.nofile_limit) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) fail();
    lim.rlim_cur = std::min<rlim_t>(*launch.nofile_limit, lim.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) fail();
  }
  if (launch.address_space_limit) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_AS, &lim) != 0) fail();
    lim.rlim_cur = std::min<rlim_t>(*launch.address_space_limit, lim.rlim_max);
    if (::setrlimit(RLIMIT_AS, &lim) != 0) fail();
  }
  if (!launch.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : launch.cpus) CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) fail();
  }
  ::execve(path, argv, envp);
  child_failed(error_fd);
}

}  // namespace ioduel::harness::detail
