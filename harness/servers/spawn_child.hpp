#pragma once
// The child's side of server_process's fork: set up the descriptors, the
// signal state and the limits a server runs with, then execve.  Only
// async-signal-safe calls between fork and execve.  Internal to
// server_process.cpp.

#include <sys/types.h>

#include "harness/servers/server_process.hpp"

namespace ioduel::harness::detail {

// Runs in the child: never returns (execs, or writes errno to error_fd and exits 127).
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, int stdout_fd,
                             int stderr_fd, int error_fd, pid_t parent, const server_launch& launch);

}  // namespace ioduel::harness::detail
