#include "reactor/server.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <thread>

#include "reactor/acceptor.hpp"
#include "reactor/event_loop.hpp"

namespace ioduel::reactor {

std::string_view poller_name(poller_kind kind) noexcept {
  switch (kind) {
    case poller_kind::poll: return "poll";
    case poller_kind::select: return "select";
    case poller_kind::epoll: break;
  }
  return "epoll";
}

server::server(reactor_options opts) : opts_(std::move(opts)) {
  sigset_t stop;
  ::sigemptyset(&stop);
  ::sigaddset(&stop, SIGTERM);
  ::sigaddset(&stop, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  // Belt and braces with MSG_NOSIGNAL: no write to a dead peer may kill us.
  ::signal(SIGPIPE, SIG_IGN);

  const unsigned n = opts_.common.threads;
  identity_.server = "reactor";
  identity_.backend = poller_name(opts_.poller);
  identity_.threads = n;

  unique_fd first = acceptor::open_listener(opts_.common.bind, opts_.common.port, n > 1);
  port_ = acceptor::local_port(first.get());
  loops_.push_back(std::make_unique<event_loop>(*this, std::move(first), true));
  for (unsigned i = 1; i < n; ++i)
    loops_.push_back(std::make_unique<event_loop>(
        *this, acceptor::open_listener(opts_.common.bind, port_, true), false));
#if defined(__SANITIZE_ADDRESS__)
  // Sanitized builds (ASan with UBSan): UBSan checks a polymorphic object's
  // type on first use with a probe that needs a spare descriptor, so a first
  // STATS while the server is out of descriptors would be reported falsely.
  // Building the reply once here puts those types in UBSan's cache.
  static_cast<void>(stats_json());
#endif
}

server::~server() = default;

int server::run() {
  std::atomic<int> status{0};
  auto run_loop = [this, &status](event_loop& loop) {
    try {
      loop.run();
    } catch (const std::exception& e) {
      // Out of memory or a kernel refusal the loop cannot work around: stop
      // the whole server gracefully rather than lose one loop's clients.
      std::fprintf(stderr, "ioduel-reactor: event loop failed: %s\n", e.what());
      status = 1;
      request_drain();
    }
  };
  {
    std::vector<std::jthread> threads;
    threads.reserve(loops_.size());
    for (std::size_t i = 1; i < loops_.size(); ++i)
      threads.emplace_back([&run_loop, &loop = *loops_[i]] { run_loop(loop); });
    run_loop(*loops_[0]);
  }  // joins every loop thread
  return status.load();
}

void server::request_drain() noexcept {
  for (auto& loop : loops_) loop->request_drain();
}

bool server::try_open_connection() noexcept {
  const std::uint64_t max = opts_.common.max_connections;
  std::uint64_t cur = open_.load(std::memory_order_relaxed);
  while (cur < max) {
    if (open_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void server::connection_closed() noexcept { open_.fetch_sub(1, std::memory_order_relaxed); }

std::string server::stats_json() const {
  protocol::counter_snapshot sum;
  for (const auto& loop : loops_) sum += loop->counters().snapshot();
  return protocol::stats_json(identity_, sum);
}

}  // namespace ioduel::reactor
