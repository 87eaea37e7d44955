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

// Asks STATS on `control` until the server's bytes_out, less the control
// connection's own replies, is non-zero and unchanged over two looks 100 ms
// apart: the server has answered what it could and is held back.  `last` is
// the last figure seen (~0 if STATS was never answered).
struct held_back {
  bool settled = false;
  std::uint64_t last = ~0ull;
};
inline held_back wait_until_held_back(server_fixture& f, client& control, std::uint64_t& id) {
  held_back h;
  const auto deadline = clock_type::now() + scaled(10s);
  while (clock_type::now() < deadline) {
    traffic_ledger before;
    const std::uint64_t out = control.stats(id++, &before).value("bytes_out", 0ull) - before.bytes_out;
    if (out > 0 && out == h.last) {
      h.settled = true;
      return h;
    }
    h.last = out;
    BOOST_TEST(control.silent_for(100ms), f.name() << ": unsolicited bytes on the control connection");
  }
  return h;
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
