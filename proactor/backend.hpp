#pragma once
// Which Asio backend this library was compiled for, and the io_uring probe.
// Each library (ioduel_proactor, ioduel_proactor_uring) compiles backend.cpp
// with its own defines, so the answer is fixed per binary.

#include <string>
#include <string_view>

namespace ioduel::proactor {

// "epoll" or "io_uring", as STATS reports it.
std::string_view backend_name() noexcept;

bool uses_io_uring() noexcept;

// Asks the kernel for a small io_uring (io_uring_queue_init) and gives it back.
// Returns an empty string when that works, else why not (io_uring disabled,
// blocked by a seccomp sandbox, too old a kernel).
std::string probe_io_uring();

}  // namespace ioduel::proactor
