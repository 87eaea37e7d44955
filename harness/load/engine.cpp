#include "harness/load/engine.hpp"

#include "harness/load/engine_worker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <queue>
#include <stdexcept>
#include <thread>

#include "harness/load/schedule.hpp"
#include "base/unique_fd.hpp"

namespace ioduel::harness {

namespace proto = ioduel::protocol;

error_counts& error_counts::operator+=(const error_counts& o) noexcept {
  mismatches += o.mismatches;
  error_replies += o.error_replies;
  resets += o.resets;
  unexpected_closes += o.unexpected_closes;
  timeouts += o.timeouts;
  connect_failures += o.connect_failures;
  lost_requests += o.lost_requests;
  dropped_arrivals += o.dropped_arrivals;
  return *this;
}

endpoint parse_endpoint(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument("'" + text + "' is not HOST:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw std::invalid_argument("'" + text + "' is not HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p == 0 || p > 65535)
    throw std::invalid_argument("'" + port + "' is not a port (1-65535)");
  return endpoint{host, static_cast<std::uint16_t>(p)};
}

namespace {

using namespace engine_detail;


void resolve(const endpoint& target, sockaddr_storage& addr, socklen_t& len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(target.port);
  const int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    throw std::runtime_error("cannot resolve " + target.to_string() + ": " + ::gai_strerror(rc));
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  ::freeaddrinfo(res);
}

// Whether the generator, not the server, may have set the figures: from what
// the generator suffered (docs/workloads.md, "Generator saturation").
void judge_saturation(engine_outcome& out, std::uint64_t arrivals, std::uint64_t late) {
  const auto flag = [&out](std::string why) {
    out.generator_saturated = true;
    out.saturated_reasons.push_back(std::move(why));
  };
  const auto pct = [](double f) { return std::to_string(static_cast<int>(f * 100 + 0.5)) + "%"; };
  if (out.busiest_thread_busy > 0.9)
    flag("an engine thread was busy on a CPU " + pct(out.busiest_thread_busy) +
         " of the window, spinning to deadlines aside (over 90%)");
  if (out.busiest_thread_waiting > 0.1)
    flag("an engine thread waited for a CPU " + pct(out.busiest_thread_waiting) +
         " of the window (over 10%): the machine's cores were taken");
  if (arrivals > 0) {
    out.schedule_late_fraction = static_cast<double>(late) / static_cast<double>(arrivals);
    if (*out.schedule_late_fraction > 0.01)
      flag("the open-loop schedule slipped: " + std::to_string(late) + " of " + std::to_string(arrivals) +
           " arrivals issued over 1 ms late");
  }
  // The generator's lateness against the latency it measures: a send lag
  // whose p99 is a tenth of the latency p99 (and over 50 us) is in the figure.
  if (out.open_loop && out.send_lag.total_count() > 0 && out.latency.total_count() > 0) {
    const auto lag = out.send_lag.value_at_percentile(99), latency = out.latency.value_at_percentile(99);
    if (lag > 50'000 && lag * 10 > latency)
      flag("the send lag's p99 (" + std::to_string(lag / 1000) + " us) is over a tenth of the latency p99 (" +
           std::to_string(latency / 1000) + " us)");
  }
}

}  // namespace

engine_outcome run_engine(const workload& w, const endpoint& target, const engine_options& opts) {
  engine_outcome out;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  resolve(target, addr, addr_len);
  const pattern_buffer pattern(std::max<std::uint64_t>(w.largest_payload(), 64));
  shared_control control;
  std::int64_t planned_window_ns = 0;  // the window as planned, before any interrupt
  const unsigned threads = std::max(1u, w.threads);
  out.threads = threads;

  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.push_back(std::make_unique<worker>(w, t, threads, addr, addr_len, pattern, control));
  std::vector<std::thread> running;
  running.reserve(threads);
  {
    // Joined on every path, exceptions included: no thread outlives run_engine.
    struct joiner {
      std::vector<std::thread>& ts;
      shared_control& control;
      std::vector<std::unique_ptr<worker>>& ws;
      ~joiner() {
        if (!control.go.load()) {
          control.aborted = true;
          for (auto& wk : ws) wk->wake();
        }
        for (auto& t : ts)
          if (t.joinable()) t.join();
      }
    } join_all{running, control, workers};
    for (unsigned t = 0; t < threads; ++t) {
      running.emplace_back([&, t] {
        if (!opts.cpus.empty()) {
          cpu_set_t set;
          CPU_ZERO(&set);
          CPU_SET(opts.cpus[t % opts.cpus.size()], &set);
          ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
        }
        workers[t]->run();
      });
    }

    // Wait for the connections, then start the clock.
    const std::int64_t connect_deadline = now_ns() + static_cast<std::int64_t>(opts.connect_timeout_s * 1e9);
    const auto interrupted = [&] { return opts.interrupt && opts.interrupt->load(); };
    while (control.ready.load() < threads && now_ns() < connect_deadline && !interrupted())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t start = now_ns();
    const auto warm = static_cast<std::int64_t>(w.warmup_s * 1e9);
    const auto measure = static_cast<std::int64_t>(w.duration_s * 1e9);
    if (interrupted()) {
      out.interrupted = true;
      out.setup_error = "interrupted while connecting";
    } else {
      control.start_ns = start;
      control.window_start_ns = start + warm;
      control.window_end_ns = start + warm + measure;
      planned_window_ns = measure;
      // The window's start on the wall clock, for the interval log's StartTime.
      out.window_start_epoch_s =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() +
          static_cast<double>(warm) / 1e9;
      control.go.store(true, std::memory_order_release);
      for (auto& wk : workers) wk->wake();

      auto wait_until = [&](std::int64_t t, double total_s) {
        std::int64_t last_progress = now_ns();
        while (now_ns() < t) {
          if (interrupted()) return false;
          const std::int64_t step = std::min<std::int64_t>(t - now_ns(), 100'000'000);
          std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<std::int64_t>(step, 0)));
          if (opts.on_progress && now_ns() - last_progress >= 1'000'000'000) {
            last_progress = now_ns();
            const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
            opts.on_progress(elapsed, std::max(0.0, total_s - elapsed));
          }
        }
        return true;
      };
      const double total_s = w.warmup_s + w.duration_s;
      if (wait_until(start + warm, total_s)) {
        if (opts.on_window_start) opts.on_window_start();
        if (!wait_until(start + warm + measure, total_s)) {
          out.interrupted = true;
          control.window_end_ns = now_ns();
          for (auto& wk : workers) wk->wake();
        }
      } else {
        out.interrupted = true;
        control.window_start_ns = now_ns();
        control.window_end_ns = now_ns();
        for (auto& wk : workers) wk->wake();
      }
      if (opts.on_window_end) opts.on_window_end();
    }
    out.window_s = static_cast<double>(control.window_end_ns.load() - control.window_start_ns.load()) / 1e9;
    out.window_s = std::max(0.0, out.window_s);
  }

  // Merge what the workers saw.
  const std::size_t groups = w.groups.size() + (w.trace ? 1 : 0);
  out.groups.resize(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    auto& go = out.groups[g];
    if (g < w.groups.size()) {
      go.name = w.groups[g].name;
      go.connections = w.groups[g].connections;
      go.open_loop = w.groups[g].loop == loop_kind::open;
      if (w.groups[g].loop == loop_kind::closed)
        go.expected_interval_ns = static_cast<std::int64_t>(w.groups[g].think_us.mean() * 1000);
    } else {
      go.name = "trace";
      go.connections = w.trace->connections;
      go.open_loop = !w.trace->as_fast_as_possible;
    }
    out.open_loop |= go.open_loop;
  }
  std::uint64_t arrivals = 0, late = 0;
  for (auto& wk : workers) {
    worker_result& r = wk->result();
    out.completed += r.completed;
    out.total_sent += r.total_sent;
    out.total_completed += r.total_completed;
    out.window_bytes_sent += r.window_bytes_sent;
    out.window_bytes_received += r.window_bytes_received;
    out.total_bytes_sent += r.total_bytes_sent;
    out.total_bytes_received += r.total_bytes_received;
    out.connections_opened += r.connections_opened;
    out.errors += r.errors;
    out.cpu_user_s += r.user_s;
    out.cpu_system_s += r.sys_s;
    out.cpu_on_s += static_cast<double>(r.sched.on_cpu_ns) / 1e9;
    out.spin_s += static_cast<double>(r.spin_ns) / 1e9;
    if (out.window_s > 0) {
      const double window_ns = out.window_s * 1e9;
      out.busiest_thread_busy =
          std::max(out.busiest_thread_busy, static_cast<double>(r.sched.on_cpu_ns - r.spin_ns) / window_ns);
      out.busiest_thread_waiting =
          std::max(out.busiest_thread_waiting, static_cast<double>(r.sched.run_queue_ns) / window_ns);
    }
    arrivals += r.arrivals;
    late += r.late_arrivals;
    out.send_lag.merge(r.send_lag);
    // Interval k of every thread is the same span of the window.
    const double interval_s = static_cast<double>(interval_length_ns(planned_window_ns)) / 1e9;
    for (std::size_t k = 0; k < r.intervals.size(); ++k) {
      while (out.intervals.size() <= k)
        out.intervals.push_back({static_cast<double>(out.intervals.size()) * interval_s, interval_s,
                                 histogram::nanoseconds()});
      if (r.intervals[k]) out.intervals[k].latency.merge(*r.intervals[k]);
    }
    for (std::size_t g = 0; g < groups; ++g) {
      out.groups[g].completed += r.group_completed[g];
      out.groups[g].latency.merge(r.latency[g]);
      out.groups[g].latency_uncorrected.merge(r.uncorrected[g]);
      out.groups[g].latency_co_corrected.merge(r.co_corrected[g]);
    }
  }
  for (const auto& g : out.groups) {
    out.latency.merge(g.latency);
    out.latency_uncorrected.merge(g.latency_uncorrected);
  }
  judge_saturation(out, arrivals, late);
  if (out.connections_opened == 0 && w.total_connections() > 0 && out.setup_error.empty())
    out.setup_error = "no connection to " + target.to_string() + " could be opened";
  return out;
}

}  // namespace ioduel::harness
