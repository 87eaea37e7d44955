#pragma once
// Helpers shared by the flow-control and resource cases (issue 12).
#include <sys/socket.h>

#include <fstream>
#include <string>
#include <vector>

#include "server_fixture.hpp"

namespace ioduel::testing::flow {

constexpr std::uint32_t mib = 1u << 20;

// A 64 KiB receive buffer: the server's output backs up after a few replies.
inline void small_receive_buffer(client& c) {
  const int size = 64 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

inline std::vector<request> sources(std::size_t n, std::uint32_t size, std::uint64_t first_id) {
  std::vector<request> batch;
  for (std::size_t i = 0; i < n; ++i) batch.push_back(request::source(first_id + i, size));
  return batch;
}

// /proc/PID/status's VmSize: the address space the server holds.
inline std::uint64_t address_space(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key) {
    if (key == "VmSize:") {
      in >> kib;
      return kib << 10;
    }
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

}  // namespace ioduel::testing::flow
