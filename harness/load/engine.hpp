#pragma once
// The client engine: replays a workload against one server address.
//
// Several threads, each with its own epoll loop and its own share of the
// connections (non-blocking, edge-triggered, requests written with writev
// straight from a shared pattern buffer, replies verified as they stream in,
// so no request or reply is copied or allocated).  Every reply is checked:
// opcode, id in order, length, ECHO bytes, SOURCE pattern.  Latencies go into
// per-thread histograms, merged at the end.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/measure/histogram.hpp"
#include "harness/measure/interval_log.hpp"
#include "harness/workload/workload.hpp"

namespace ioduel::harness {

struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// "HOST:PORT" (IPv6 as [ADDR]:PORT); throws std::invalid_argument.
endpoint parse_endpoint(const std::string& text);

struct engine_options {
  std::vector<int> cpus;  // pin the engine threads (round robin over these); empty: don't
  // Called on the engine's coordinating thread when the measured window
  // starts and ends (the runner samples the server there), and about once a
  // second with the seconds elapsed and left.
  std::function<void()> on_window_start;
  std::function<void()> on_window_end;
  std::function<void(double elapsed_s, double remaining_s)> on_progress;
  const std::atomic<bool>* interrupt = nullptr;  // set: end the window now
  double connect_timeout_s = 30;
};

struct error_counts {
  std::uint64_t mismatches = 0;         // wrong opcode, id, length or bytes
  std::uint64_t error_replies = 0;      // ERROR frames
  std::uint64_t resets = 0;             // ECONNRESET, EPIPE and other I/O errors
  std::uint64_t unexpected_closes = 0;  // the server closed a connection
  std::uint64_t timeouts = 0;           // requests unanswered after timeout_ms
  std::uint64_t connect_failures = 0;
  std::uint64_t lost_requests = 0;      // in flight on a connection that failed
  std::uint64_t dropped_arrivals = 0;   // open loop: due while their connection was down, never sent

  error_counts& operator+=(const error_counts& o) noexcept;
  std::uint64_t total() const noexcept {
    return mismatches + error_replies + resets + unexpected_closes + timeouts + connect_failures +
           dropped_arrivals;
  }
};

struct group_outcome {
  std::string name;
  std::uint32_t connections = 0;
  bool open_loop = false;
  std::uint64_t completed = 0;  // in the window
  histogram latency = histogram::nanoseconds();              // from the intended send time
  histogram latency_uncorrected = histogram::nanoseconds();  // from the actual send time (open loop)
  // Closed loop with a think time: the latency corrected for coordinated
  // omission with the think time's mean as the expected interval.
  std::int64_t expected_interval_ns = 0;  // 0: no think time, no correction
  histogram latency_co_corrected = histogram::nanoseconds();
};

struct engine_outcome {
  double window_s = 0;
  bool interrupted = false;
  std::uint64_t completed = 0;  // replies in the window
  std::uint64_t total_sent = 0;  // requests fully written, whole run
  std::uint64_t total_completed = 0;
  std::uint64_t window_bytes_sent = 0, window_bytes_received = 0;
  std::uint64_t total_bytes_sent = 0, total_bytes_received = 0;
  std::uint64_t connections_opened = 0;
  error_counts errors;
  bool open_loop = false;
  // Nanoseconds, like every histogram of the engine.
  histogram latency = histogram::nanoseconds();
  histogram latency_uncorrected = histogram::nanoseconds();
  std::vector<group_outcome> groups;
  // Intended send time to first byte written (requests intended in the window), ns.
  histogram send_lag = histogram::nanoseconds();
  // The window cut into intervals (harness/measure/interval_log.hpp), and when it began.
  std::vector<latency_interval> intervals;
  double window_start_epoch_s = 0;
  // The engine's own cost over the window.
  unsigned threads = 1;
  double cpu_user_s = 0, cpu_system_s = 0;  // getrusage, in ticks
  double cpu_on_s = 0;                      // schedstat: on a CPU, all threads, ns resolution
  double spin_s = 0;                        // of that, spinning to a pacing deadline
  double busiest_thread_busy = 0;           // on a CPU but not spinning: fraction of the window
  double busiest_thread_waiting = 0;        // runnable, waiting for a CPU: fraction of the window
  std::optional<double> schedule_late_fraction;  // open loop: arrivals issued > 1 ms late
  bool generator_saturated = false;
  std::vector<std::string> saturated_reasons;
  std::string setup_error;  // non-empty: nothing could be measured (e.g. no connection opened)
};

// Runs the workload against `target`: connect, warm up, measure, drain, close.
// Blocks the calling thread for the whole run.
engine_outcome run_engine(const workload& w, const endpoint& target, const engine_options& opts);

}  // namespace ioduel::harness
