#pragma once
// The client engine's worker: one thread's epoll loop over its share of the
// connections (harness/load/engine.hpp says what the engine does).  The class is
// declared here and defined in three files by what its functions do:
//   engine_worker.cpp  its connections' life (connect, fail, retry) and the
//                      requests it issues (closed loop, traces, mixes)
//   engine_io.cpp      writing requests and reading, checking and timing replies
//   engine_loop.cpp    the loop: pacing, timers, open-loop arrivals, timeouts
// Internal to the engine: only engine*.cpp include it.

#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "base/unique_fd.hpp"
#include "harness/load/engine.hpp"
#include "harness/load/pacing.hpp"
#include "harness/load/schedule.hpp"
#include "protocol/frame.hpp"

namespace ioduel::harness::engine_detail {

namespace proto = ioduel::protocol;

inline std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline double thread_cpu_s(bool user) {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  const timeval& tv = user ? ru.ru_utime : ru.ru_stime;
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}


// The intervals a window is cut into: as many as whole 100 ms fit, from 1 to
// 20, of equal length (at most 20 histograms a thread).
inline std::int64_t interval_count(std::int64_t window_ns) {
  return std::clamp<std::int64_t>(window_ns / 100'000'000, 1, 20);
}
inline std::int64_t interval_length_ns(std::int64_t window_ns) {
  return std::max<std::int64_t>(1, window_ns / interval_count(window_ns));
}

// This thread's time on a CPU and waiting for one, from its schedstat.
struct thread_schedstat {
  std::int64_t on_cpu_ns = 0, run_queue_ns = 0;
};
inline thread_schedstat read_own_schedstat() {
  thread_schedstat s;
  std::ifstream in("/proc/thread-self/schedstat");
  in >> s.on_cpu_ns >> s.run_queue_ns;
  return s;
}

constexpr std::uint64_t wake_tag = ~0ull;
constexpr std::int64_t late_threshold_ns = 1'000'000;
constexpr std::size_t max_iov = 64;
constexpr std::size_t read_buffer_size = 256 * 1024;
constexpr unsigned max_connecting_per_thread = 256;

// Byte k is k mod 256, so the payload of request `id` (byte i = (id + i) mod
// 256, the SOURCE pattern) is the slice starting at id mod 256: requests are
// written and replies checked against it without generating anything.
class pattern_buffer {
 public:
  explicit pattern_buffer(std::size_t largest) : bytes_(largest + 256) {
    for (std::size_t k = 0; k < bytes_.size(); ++k) bytes_[k] = static_cast<char>(k & 0xFF);
  }
  const char* for_id(std::uint64_t id) const noexcept { return bytes_.data() + (id & 0xFF); }

 private:
  std::vector<char> bytes_;
};

// One request from the moment it is issued until its reply is checked.
struct pending {
  std::uint64_t id = 0;
  std::int64_t intended_ns = 0;  // when it should have gone out
  std::int64_t sent_ns = 0;      // when its first byte was written
  std::uint32_t payload = 0;     // payload bytes sent from the pattern (ECHO, SINK)
  std::uint32_t expect = 0;      // reply payload length
  proto::opcode op = proto::opcode::echo;
  std::uint8_t head_len = 0;  // header, plus the 4-byte argument of SOURCE and SLEEP
  char head[20];
};

// Requests of one connection in order: [head, written) are awaiting their
// reply, [written, tail) still (partly) to be written.  Grows by doubling,
// which happens only while a connection's backlog reaches a new high.
class pending_ring {
 public:
  pending_ring() : items_(8) {}
  bool empty() const noexcept { return head_ == tail_; }
  std::uint64_t size() const noexcept { return tail_ - head_; }
  std::uint64_t unwritten() const noexcept { return tail_ - written_; }
  std::uint64_t awaiting() const noexcept { return written_ - head_; }
  pending& at(std::uint64_t seq) noexcept { return items_[seq & (items_.size() - 1)]; }
  pending& front() noexcept { return at(head_); }
  pending& push() {
    if (size() == items_.size()) grow();
    return at(tail_++);
  }
  void pop() noexcept { ++head_; }
  void clear() noexcept { head_ = written_ = tail_ = 0; }
  std::uint64_t head() const noexcept { return head_; }
  std::uint64_t written() const noexcept { return written_; }
  std::uint64_t tail() const noexcept { return tail_; }
  void advance_written() noexcept { ++written_; }

 private:
  void grow() {
    std::vector<pending> bigger(items_.size() * 2);
    for (std::uint64_t s = head_; s != tail_; ++s) bigger[s & (bigger.size() - 1)] = at(s);
    items_.swap(bigger);
  }
  std::vector<pending> items_;
  std::uint64_t head_ = 0, written_ = 0, tail_ = 0;
};

enum class conn_state : std::uint8_t { waiting, connecting, open, closed };

struct connection {
  unique_fd fd;
  conn_state state = conn_state::waiting;
  std::uint32_t group = 0;
  std::uint32_t index = 0;       // within its group (trace: the trace's connection)
  std::uint32_t generation = 0;  // bumped on every reconnect; tags timers
  bool writable = false;
  bool initial = true;           // first connection, made before the run starts
  rng requests{1};
  pending_ring queue;
  std::uint64_t next_id = 1;
  std::uint64_t issued = 0;      // on this connection (lifetime)
  std::uint32_t write_offset = 0;  // bytes of queue[written] already written
  // The reply being read.
  char reply_head[proto::header_size];
  std::uint8_t head_have = 0;
  std::uint32_t payload_left = 0;
  std::uint32_t payload_done = 0;
  // Trace replay position.
  std::uint64_t script_pos = 0;
  std::uint64_t script_cycle = 0;
};

struct timer_entry {
  std::int64_t when;
  std::uint32_t conn;
  std::uint32_t generation;
  bool operator>(const timer_entry& o) const noexcept { return when > o.when; }
};

// What one worker thread learns; summed by the coordinator.
struct worker_result {
  std::uint64_t completed = 0, total_sent = 0, total_completed = 0;
  std::uint64_t window_bytes_sent = 0, window_bytes_received = 0;
  std::uint64_t total_bytes_sent = 0, total_bytes_received = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t arrivals = 0, late_arrivals = 0;
  error_counts errors;
  double user_at_start = 0, sys_at_start = 0, user_s = 0, sys_s = 0;
  thread_schedstat sched_at_start, sched;  // sched: over the window
  std::int64_t spin_ns = 0;                // on CPU pacing, over the window
  bool window_started = false, window_ended = false;
  std::vector<histogram> latency, uncorrected, co_corrected;  // per group
  // Intended send time to first byte written, of requests intended in the window.
  histogram send_lag = histogram::nanoseconds();
  // Per interval of the window (by intended send time): made when first needed.
  std::vector<std::unique_ptr<histogram>> intervals;
  std::vector<std::uint64_t> group_completed;
};

// State the coordinator and the workers share.
struct shared_control {
  std::atomic<bool> go{false};
  std::atomic<bool> aborted{false};  // stop before starting (interrupt, or an error)
  std::atomic<std::int64_t> start_ns{0};
  std::atomic<std::int64_t> window_start_ns{0};
  std::atomic<std::int64_t> window_end_ns{0};
  std::atomic<unsigned> ready{0};  // workers whose initial connections are settled
};

// One engine thread: an epoll loop over its connections.
class worker {
 public:
  worker(const workload& w, unsigned index, unsigned threads, const sockaddr_storage& addr,
         socklen_t addr_len, const pattern_buffer& pattern, shared_control& control);

  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  worker_result& result() noexcept { return result_; }

  void run();

 private:
  std::uint32_t trace_group() const noexcept { return static_cast<std::uint32_t>(w_.groups.size()); }
  bool is_trace(const connection& c) const noexcept { return c.group == trace_group(); }

  void add_connection(std::uint32_t group, std::uint32_t index);

  // ---- connecting -------------------------------------------------------

  void start_initial_connects();

  void pump_connects();

  void open_socket(std::uint32_t i);

  void connect_failed(std::uint32_t i);

  void connected(std::uint32_t i);

  void check_ready();

  void retry_later(std::uint32_t i);

  void close_connection(std::uint32_t i);

  // An I/O error or a broken reply: count, drop the connection, and (while
  // running) open a fresh one.
  // `what` is null when the caller has counted the error itself.
  void fail(std::uint32_t i, std::uint64_t error_counts::*what);

  // ---- issuing requests -------------------------------------------------

  bool stopping() const noexcept { return draining_; }

  void issue_initial(std::uint32_t i);

  const connection_group& group_of(const connection& c) const noexcept;

  bool lifetime_allows(const connection& c) const noexcept;

  pending& new_request(connection& c, proto::opcode op, std::uint32_t size, std::int64_t intended);

  void issue_generated(std::uint32_t i, std::int64_t intended);

  const trace_record& script_next(connection& c);

  void issue_scripted(std::uint32_t i, std::int64_t intended);

  // The intended time of this connection's next trace record.
  std::int64_t script_time(const connection& c) const noexcept;

  void schedule_script(std::uint32_t i);

  // A reply was checked: keep the closed loop going.
  void after_reply(std::uint32_t i, std::int64_t now);

  // ---- writing ----------------------------------------------------------

  void flush(std::uint32_t i);

  // The requests whose first byte went out in a write of `n` bytes (that
  // began at the unwritten queue's write_offset) are stamped with the time
  // the write was issued; a write that failed (EAGAIN) stamps nothing.
  void stamp_sent(connection& c, std::uint64_t n, std::int64_t now) noexcept;

  void count_sent(std::uint64_t n, std::int64_t now) noexcept;

  bool in_window(std::int64_t t) const noexcept { return t >= window_start_ && t < window_end_; }

  // ---- reading ----------------------------------------------------------

  // `hangup`: the peer's end is closed too, so read on to the end of file.
  void read_ready(std::uint32_t i, bool hangup);

  void consume(std::uint32_t i, const char* data, std::size_t n, std::int64_t now);

  bool check_header(std::uint32_t i);

  void complete(std::uint32_t i, std::int64_t now);

  void record_interval(std::int64_t intended, std::int64_t latency);

  // ---- the loop ---------------------------------------------------------

  void poll_once(std::int64_t deadline);

  void fire_timers(std::int64_t now);

  void note_arrival(std::int64_t intended, std::int64_t now) noexcept;

  // Open loop: every arrival due by now is issued, each on the next connection
  // of its group, stamped with its intended time.
  void fire_arrivals(std::int64_t now);

  std::int64_t next_deadline(std::int64_t now) const noexcept;

  // Sleeps until spin_window_ns before the deadline; inside that window,
  // polls without sleeping (spinning), counting the time spent so.
  void pace_and_poll(std::int64_t now, std::int64_t deadline);

  void check_timeouts(std::int64_t now);

  std::uint64_t outstanding() const noexcept;

  void main_loop();

  struct arrival_state {
    std::uint32_t group;
    std::vector<std::uint32_t> conns;
    std::uint64_t rr;
    arrival_schedule schedule;
  };

  const workload& w_;
  const sockaddr_storage& addr_;
  socklen_t addr_len_;
  const pattern_buffer& pattern_;
  shared_control& control_;
  unique_fd epoll_;
  unique_fd wake_;
  std::vector<char> read_buf_;
  std::vector<connection> conns_;
  std::vector<std::uint32_t> waiting_;
  std::priority_queue<timer_entry, std::vector<timer_entry>, std::greater<>> timers_;
  std::vector<arrival_state> arrivals_;
  unsigned connecting_ = 0;
  std::size_t initial_settled_ = 0;
  bool reported_ready_ = false;
  bool running_ = false;
  bool draining_ = false;
  std::int64_t start_ns_ = 0, window_start_ = 0, window_end_ = 0, drain_deadline_ = 0;
  std::int64_t spin_ns_ = 0;
  std::vector<std::int64_t> expected_interval_ns_;  // per group: think time's mean, for the CO correction
  std::int64_t interval_ns_ = 100'000'000, intervals_ = 1;
  worker_result result_;
};

}  // namespace ioduel::harness::engine_detail
