// ioduel-pingpong-ref: the least a client can do.  One blocking socket, one
// 64-byte ECHO at a time, the reply read and compared, the round trip timed.
// The harness's added latency is measured against this (bench/harness/).
// Prints one JSON object on stdout.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "harness/load/engine.hpp"
#include "harness/measure/histogram.hpp"
#include "base/unique_fd.hpp"
#include "protocol/frame.hpp"

namespace {

using namespace ioduel;
using steady = std::chrono::steady_clock;

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

double cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ioduel-pingpong-ref: a minimal blocking ECHO ping-pong client (the overhead baseline)"};
  std::string target;
  double duration = 3, warmup = 0.5;
  std::uint32_t size = 64;
  app.add_option("--target,-t", target, "HOST:PORT")->required();
  app.add_option("--duration", duration, "measured seconds")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "warm-up seconds")->check(CLI::NonNegativeNumber);
  app.add_option("--size", size, "ECHO payload bytes")->check(CLI::Range(0u, 1u << 20));
  CLI11_PARSE(app, argc, argv);

  harness::endpoint ep;
  try {
    ep = harness::parse_endpoint(target);
  } catch (const std::exception& e) {
    std::cerr << "ioduel-pingpong-ref: " << e.what() << "\n";
    return 2;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(ep.host.c_str(), std::to_string(ep.port).c_str(), &hints, &res) != 0 || !res) {
    std::cerr << "ioduel-pingpong-ref: cannot resolve " << target << "\n";
    return 1;
  }
  unique_fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const bool ok = fd && ::connect(fd.get(), res->ai_addr, res->ai_addrlen) == 0;
  ::freeaddrinfo(res);
  if (!ok) {
    std::cerr << "ioduel-pingpong-ref: cannot connect to " << target << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  std::vector<char> request(protocol::header_size + size), reply(request.size());
  harness::histogram latency;
  std::uint64_t id = 0, count = 0;
  const auto start = steady::now();
  const auto window_start = start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(warmup));
  const auto window_end = window_start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(duration));
  double cpu_at_start = -1;
  for (;;) {
    ++id;
    protocol::encode_header(request.data(), protocol::header{protocol::opcode::echo, size, id});
    protocol::fill_source_pattern({request.data() + protocol::header_size, size}, id);
    const auto t0 = steady::now();
    if (t0 >= window_end) break;
    if (cpu_at_start < 0 && t0 >= window_start) cpu_at_start = cpu_s();
    if (!write_all(fd.get(), request.data(), request.size()) ||
        !read_all(fd.get(), reply.data(), reply.size())) {
      std::cerr << "ioduel-pingpong-ref: connection failed\n";
      return 1;
    }
    const auto t1 = steady::now();
    if (reply != request) {
      std::cerr << "ioduel-pingpong-ref: reply " << id << " differs from its request\n";
      return 1;
    }
    if (t0 >= window_start) {
      latency.record(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
      ++count;
    }
  }
  const double cpu = cpu_s() - std::max(0.0, cpu_at_start);
  nlohmann::json out = {{"client", "ioduel-pingpong-ref"},
                        {"target", target},
                        {"size", size},
                        {"round_trips", count},
                        {"throughput_rps", static_cast<double>(count) / duration},
                        {"cpu_us_per_request", count ? cpu * 1e6 / static_cast<double>(count) : 0.0},
                        {"latency_us",
                         {{"p50", latency.value_at_percentile(50)},
                          {"p90", latency.value_at_percentile(90)},
                          {"p99", latency.value_at_percentile(99)},
                          {"max", latency.max()},
                          {"mean", latency.mean()}}}};
  std::cout << out.dump(1) << "\n";
  return 0;
}
