#include "harness/engine.hpp"

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

#include "harness/schedule.hpp"
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

std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double thread_cpu_s(bool user) {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  const timeval& tv = user ? ru.ru_utime : ru.ru_stime;
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// Pacing: a worker sleeps (with a 1 us timer slack) until spin_window_ns
// before its next deadline, then polls without sleeping until the deadline,
// so that an arrival goes out on time rather than when the kernel's timer
// wakes the thread (docs/workloads.md, "Pacing").
constexpr std::int64_t spin_window_ns = 30'000;
constexpr unsigned long timer_slack_ns = 1'000;

// The intervals a window is cut into: as many as whole 100 ms fit, from 1 to
// 20, of equal length (at most 20 histograms a thread).
std::int64_t interval_count(std::int64_t window_ns) {
  return std::clamp<std::int64_t>(window_ns / 100'000'000, 1, 20);
}
std::int64_t interval_length_ns(std::int64_t window_ns) {
  return std::max<std::int64_t>(1, window_ns / interval_count(window_ns));
}

// This thread's time on a CPU and waiting for one, from its schedstat.
struct thread_schedstat {
  std::int64_t on_cpu_ns = 0, run_queue_ns = 0;
};
thread_schedstat read_own_schedstat() {
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
  std::vector<histogram> latency, uncorrected;  // per group
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
         socklen_t addr_len, const pattern_buffer& pattern, shared_control& control)
      : w_(w), addr_(addr), addr_len_(addr_len), pattern_(pattern), control_(control),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        read_buf_(read_buffer_size) {
    if (!epoll_ || !wake_) throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_tag;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
    // Connections are dealt to threads round robin over the whole workload.
    std::uint64_t global = 0;
    for (std::uint32_t g = 0; g < w.groups.size(); ++g)
      for (std::uint32_t i = 0; i < w.groups[g].connections; ++i, ++global)
        if (global % threads == index) add_connection(g, i);
    if (w.trace)
      for (std::uint32_t i = 0; i < w.trace->connections; ++i, ++global)
        if (global % threads == index) add_connection(trace_group(), i);
    const std::size_t groups = w.groups.size() + (w.trace ? 1 : 0);
    result_.latency.assign(groups, histogram::nanoseconds());
    result_.uncorrected.assign(groups, histogram::nanoseconds());
    result_.group_completed.resize(groups);
    // Open-loop arrivals: this thread's share of each group's rate.
    for (std::uint32_t g = 0; g < w.groups.size(); ++g) {
      const auto& grp = w.groups[g];
      if (grp.loop != loop_kind::open) continue;
      std::vector<std::uint32_t> mine;
      for (std::uint32_t c = 0; c < conns_.size(); ++c)
        if (conns_[c].group == g) mine.push_back(c);
      if (mine.empty()) continue;
      const double share = grp.rate * static_cast<double>(mine.size()) / grp.connections;
      arrivals_.push_back({g, std::move(mine), 0,
                           arrival_schedule(share, grp.arrivals, mix_seed(w.seed, 0xA11, g, index))});
    }
  }

  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  worker_result& result() noexcept { return result_; }

  void run() {
    ::prctl(PR_SET_TIMERSLACK, timer_slack_ns, 0, 0, 0);
    start_initial_connects();
    check_ready();
    while (!control_.go.load(std::memory_order_acquire) && !control_.aborted.load()) {
      poll_once(now_ns() + 100'000'000);
      check_ready();
    }
    if (control_.go.load()) main_loop();
    for (auto& c : conns_) c.fd.reset();
  }

 private:
  std::uint32_t trace_group() const noexcept { return static_cast<std::uint32_t>(w_.groups.size()); }
  bool is_trace(const connection& c) const noexcept { return c.group == trace_group(); }

  void add_connection(std::uint32_t group, std::uint32_t index) {
    connection& c = conns_.emplace_back();
    c.group = group;
    c.index = index;
    c.requests = rng(mix_seed(w_.seed, group, index, 0));
  }

  // ---- connecting -------------------------------------------------------

  void start_initial_connects() {
    for (std::uint32_t i = 0; i < conns_.size(); ++i) waiting_.push_back(i);
    pump_connects();
  }

  void pump_connects() {
    while (connecting_ < max_connecting_per_thread && !waiting_.empty()) {
      const std::uint32_t i = waiting_.front();
      waiting_.erase(waiting_.begin());
      open_socket(i);
    }
  }

  void open_socket(std::uint32_t i) {
    connection& c = conns_[i];
    c.fd.reset(::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.fd) {
      connect_failed(i);
      return;
    }
    const int one = 1;
    ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0 &&
        errno != EINPROGRESS) {
      connect_failed(i);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
    c.state = conn_state::connecting;
    c.writable = false;
    ++connecting_;
    // A running connection's first requests are issued now, so that churn's
    // latency includes the connect.
    if (running_ && !c.initial) issue_initial(i);
  }

  void connect_failed(std::uint32_t i) {
    connection& c = conns_[i];
    ++result_.errors.connect_failures;
    const bool was_connecting = c.state == conn_state::connecting;
    close_connection(i);
    if (was_connecting) --connecting_;
    if (c.initial) ++initial_settled_;
    retry_later(i);
    pump_connects();
  }

  void connected(std::uint32_t i) {
    connection& c = conns_[i];
    --connecting_;
    c.state = conn_state::open;
    c.writable = true;
    ++result_.connections_opened;
    if (c.initial) {
      ++initial_settled_;
      c.initial = false;
    }
    pump_connects();
    flush(i);
  }

  void check_ready() {
    if (!reported_ready_ && initial_settled_ >= conns_.size()) {
      reported_ready_ = true;
      control_.ready.fetch_add(1);
    }
  }

  void retry_later(std::uint32_t i) {
    connection& c = conns_[i];
    c.initial = false;
    if (stopping()) return;
    ++c.generation;
    c.state = conn_state::waiting;
    timers_.push({now_ns() + 50'000'000, i, c.generation});
  }

  void close_connection(std::uint32_t i) {
    connection& c = conns_[i];
    c.fd.reset();  // closing the fd removes it from the epoll set
    c.state = conn_state::closed;
    c.writable = false;
    c.queue.clear();
    c.write_offset = 0;
    c.head_have = 0;
    c.payload_left = 0;
    c.payload_done = 0;
    c.issued = 0;
    ++c.generation;
  }

  // An I/O error or a broken reply: count, drop the connection, and (while
  // running) open a fresh one.
  // `what` is null when the caller has counted the error itself.
  void fail(std::uint32_t i, std::uint64_t error_counts::*what) {
    connection& c = conns_[i];
    if (what) ++(result_.errors.*what);
    result_.errors.lost_requests += c.queue.size();
    if (c.state == conn_state::connecting) --connecting_;
    if (c.initial) {
      ++initial_settled_;
      c.initial = false;
    }
    const bool was_connecting = c.state == conn_state::connecting;
    close_connection(i);
    if (was_connecting) pump_connects();
    retry_later(i);
  }

  // ---- issuing requests -------------------------------------------------

  bool stopping() const noexcept { return draining_; }

  void issue_initial(std::uint32_t i) {
    connection& c = conns_[i];
    const auto& g = group_of(c);
    if (is_trace(c)) {
      if (w_.trace->as_fast_as_possible)
        for (std::uint32_t k = 0; k < w_.trace->pipeline; ++k) issue_scripted(i, now_ns());
      else
        schedule_script(i);
      return;
    }
    if (g.loop != loop_kind::closed) return;
    for (std::uint32_t k = 0; k < g.pipeline; ++k) issue_generated(i, now_ns());
  }

  const connection_group& group_of(const connection& c) const noexcept {
    static const connection_group none;
    return c.group < w_.groups.size() ? w_.groups[c.group] : none;
  }

  bool lifetime_allows(const connection& c) const noexcept {
    const auto& g = group_of(c);
    return g.requests_per_connection == 0 || c.issued < g.requests_per_connection;
  }

  pending& new_request(connection& c, proto::opcode op, std::uint32_t size, std::int64_t intended) {
    pending& p = c.queue.push();
    p.id = c.next_id++;
    p.intended_ns = intended;
    p.sent_ns = 0;
    p.op = op;
    std::uint32_t length = 0;
    switch (op) {
      case proto::opcode::echo:
        length = p.payload = p.expect = size;
        break;
      case proto::opcode::sink:
        length = p.payload = size;
        p.expect = 0;
        break;
      case proto::opcode::source:
      case proto::opcode::sleep:
        length = 4;
        p.payload = 0;
        p.expect = op == proto::opcode::source ? size : 0;
        proto::store_be32(p.head + proto::header_size, size);
        break;
      default:
        break;
    }
    proto::encode_header(p.head, proto::header{op, length, p.id});
    p.head_len = static_cast<std::uint8_t>(proto::header_size + (length == 4 && p.payload == 0 ? 4 : 0));
    ++c.issued;
    return p;
  }

  void issue_generated(std::uint32_t i, std::int64_t intended) {
    connection& c = conns_[i];
    if (!lifetime_allows(c)) return;
    const auto& g = group_of(c);
    // Pick by weight; the mixes are short, so a linear scan is cheapest.
    double total = 0;
    for (const auto& e : g.mix) total += e.weight;
    double pick = c.requests.uniform() * total;
    const mix_entry* chosen = &g.mix.back();
    for (const auto& e : g.mix) {
      if (pick < e.weight) {
        chosen = &e;
        break;
      }
      pick -= e.weight;
    }
    const std::uint64_t value = chosen->op == proto::opcode::sleep ? chosen->sleep_us.sample(c.requests)
                                                                   : chosen->size.sample(c.requests);
    new_request(c, chosen->op, static_cast<std::uint32_t>(value), intended);
  }

  const trace_record& script_next(connection& c) {
    const auto& recs = w_.trace->per_connection[c.index];
    const trace_record& r = recs[c.script_pos % recs.size()];
    return r;
  }

  void issue_scripted(std::uint32_t i, std::int64_t intended) {
    connection& c = conns_[i];
    const trace_record& r = script_next(c);
    new_request(c, r.op, r.size, intended);
    if (++c.script_pos % w_.trace->per_connection[c.index].size() == 0) ++c.script_cycle;
  }

  // The intended time of this connection's next trace record.
  std::int64_t script_time(const connection& c) const noexcept {
    const auto& recs = w_.trace->per_connection[c.index];
    const trace_record& r = recs[c.script_pos % recs.size()];
    const double us = static_cast<double>(c.script_cycle * w_.trace->period_us + r.t_us) / w_.trace->speed;
    return start_ns_ + static_cast<std::int64_t>(us * 1000.0);
  }

  void schedule_script(std::uint32_t i) {
    timers_.push({script_time(conns_[i]), i, conns_[i].generation});
  }

  // A reply was checked: keep the closed loop going.
  void after_reply(std::uint32_t i, std::int64_t now) {
    connection& c = conns_[i];
    if (stopping()) return;
    const auto& g = group_of(c);
    if (!lifetime_allows(c)) {
      if (c.queue.empty()) {  // churn: this connection has done its share
        close_connection(i);
        c.initial = false;
        c.state = conn_state::waiting;
        waiting_.push_back(i);
        pump_connects();
      }
      return;
    }
    if (is_trace(c)) {
      if (w_.trace->as_fast_as_possible) issue_scripted(i, now);
      return;
    }
    if (g.loop != loop_kind::closed) return;
    const std::uint64_t think = g.think_us.sample(c.requests);
    if (think == 0) issue_generated(i, now);
    else timers_.push({now + static_cast<std::int64_t>(think) * 1000, i, c.generation});
  }

  // ---- writing ----------------------------------------------------------

  void flush(std::uint32_t i) {
    connection& c = conns_[i];
    if (c.state != conn_state::open || !c.writable) return;
    iovec iov[max_iov * 2];
    while (c.queue.unwritten() > 0) {
      std::size_t n = 0;
      std::uint32_t skip = c.write_offset;
      const std::int64_t now = now_ns();
      for (std::uint64_t s = c.queue.written(); s != c.queue.tail() && n + 2 <= max_iov * 2; ++s) {
        pending& p = c.queue.at(s);
        if (skip < p.head_len) {
          iov[n++] = {p.head + skip, static_cast<std::size_t>(p.head_len - skip)};
          skip = 0;
        } else {
          skip -= p.head_len;
        }
        if (p.payload > skip) {
          iov[n++] = {const_cast<char*>(pattern_.for_id(p.id)) + skip,
                      static_cast<std::size_t>(p.payload - skip)};
        }
        skip = 0;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = n;
      // sendmsg rather than writev: MSG_NOSIGNAL spares every caller SIGPIPE.
      const ssize_t w = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.writable = false;
          return;
        }
        fail(i, &error_counts::resets);
        return;
      }
      count_sent(static_cast<std::uint64_t>(w), now);
      stamp_sent(c, static_cast<std::uint64_t>(w), now);
      // Move past what went out.
      std::uint64_t left = static_cast<std::uint64_t>(w) + c.write_offset;
      while (c.queue.unwritten() > 0) {
        pending& p = c.queue.at(c.queue.written());
        const std::uint64_t whole = p.head_len + p.payload;
        if (left < whole) break;
        left -= whole;
        c.queue.advance_written();
        ++result_.total_sent;
      }
      c.write_offset = static_cast<std::uint32_t>(left);
    }
  }

  // The requests whose first byte went out in a write of `n` bytes (that
  // began at the unwritten queue's write_offset) are stamped with the time
  // the write was issued; a write that failed (EAGAIN) stamps nothing.
  void stamp_sent(connection& c, std::uint64_t n, std::int64_t now) noexcept {
    std::uint64_t start = 0;  // of request s, counted from the write's first byte
    const std::uint64_t end = n + c.write_offset;
    for (std::uint64_t s = c.queue.written(); s != c.queue.tail() && start < end; ++s) {
      pending& p = c.queue.at(s);
      if (p.sent_ns == 0) {
        p.sent_ns = now;
        if (in_window(p.intended_ns)) result_.send_lag.record(std::max<std::int64_t>(1, now - p.intended_ns));
      }
      start += p.head_len + p.payload;
    }
  }

  void count_sent(std::uint64_t n, std::int64_t now) noexcept {
    result_.total_bytes_sent += n;
    if (in_window(now)) result_.window_bytes_sent += n;
  }

  bool in_window(std::int64_t t) const noexcept { return t >= window_start_ && t < window_end_; }

  // ---- reading ----------------------------------------------------------

  // `hangup`: the peer's end is closed too, so read on to the end of file.
  void read_ready(std::uint32_t i, bool hangup) {
    connection& c = conns_[i];
    const std::uint32_t gen = c.generation;
    for (;;) {
      const ssize_t r = ::read(c.fd.get(), read_buf_.data(), read_buf_.size());
      if (r > 0) {
        const std::int64_t now = now_ns();
        result_.total_bytes_received += static_cast<std::uint64_t>(r);
        if (in_window(now)) result_.window_bytes_received += static_cast<std::uint64_t>(r);
        consume(i, read_buf_.data(), static_cast<std::size_t>(r), now);
        if (c.generation != gen || c.state != conn_state::open) return;  // failed or churned
        // A short read drained the socket; more data raises a new edge.
        if (!hangup && static_cast<std::size_t>(r) < read_buf_.size()) break;
        continue;
      }
      if (r == 0) {
        fail(i, &error_counts::unexpected_closes);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(i, &error_counts::resets);
      return;
    }
    flush(i);
  }

  void consume(std::uint32_t i, const char* data, std::size_t n, std::int64_t now) {
    connection& c = conns_[i];
    const std::uint32_t gen = c.generation;
    while (n > 0) {
      if (c.head_have < proto::header_size) {
        const std::size_t take = std::min<std::size_t>(proto::header_size - c.head_have, n);
        std::memcpy(c.reply_head + c.head_have, data, take);
        c.head_have = static_cast<std::uint8_t>(c.head_have + take);
        data += take;
        n -= take;
        if (c.head_have < proto::header_size) return;
        if (!check_header(i)) return;
      }
      if (c.payload_left > 0) {
        const std::size_t take = std::min<std::size_t>(c.payload_left, n);
        const pending& p = c.queue.front();
        if (p.op == proto::opcode::echo || p.op == proto::opcode::source) {
          if (std::memcmp(data, pattern_.for_id(p.id) + c.payload_done, take) != 0) {
            fail(i, &error_counts::mismatches);
            return;
          }
        }
        c.payload_left -= static_cast<std::uint32_t>(take);
        c.payload_done += static_cast<std::uint32_t>(take);
        data += take;
        n -= take;
        if (c.payload_left > 0) return;
      }
      complete(i, now);
      if (c.generation != gen || c.state != conn_state::open) return;
    }
  }

  bool check_header(std::uint32_t i) {
    connection& c = conns_[i];
    const char* h = c.reply_head;
    if (static_cast<std::uint8_t>(h[0]) != proto::magic_0 ||
        static_cast<std::uint8_t>(h[1]) != proto::magic_1 ||
        static_cast<std::uint8_t>(h[2]) != proto::protocol_version || c.queue.awaiting() == 0) {
      fail(i, &error_counts::mismatches);
      return false;
    }
    const proto::header hdr = proto::decode_header(h);
    const pending& p = c.queue.front();
    if (hdr.op == proto::opcode::error) {
      fail(i, &error_counts::error_replies);
      return false;
    }
    if (hdr.op != proto::reply_opcode(p.op) || hdr.id != p.id || hdr.length != p.expect) {
      fail(i, &error_counts::mismatches);
      return false;
    }
    c.payload_left = hdr.length;
    c.payload_done = 0;
    return true;
  }

  void complete(std::uint32_t i, std::int64_t now) {
    connection& c = conns_[i];
    const pending& p = c.queue.front();
    ++result_.total_completed;
    // A request belongs to the window it was meant to be sent in, however
    // late its reply: the slowest replies of an overloaded server come after
    // the window, and the drain waits for them.
    if (in_window(p.intended_ns)) {
      ++result_.completed;
      ++result_.group_completed[c.group];
      result_.latency[c.group].record(std::max<std::int64_t>(1, now - p.intended_ns));
      record_interval(p.intended_ns, std::max<std::int64_t>(1, now - p.intended_ns));
      result_.uncorrected[c.group].record(std::max<std::int64_t>(1, now - p.sent_ns));
    }
    c.queue.pop();
    c.head_have = 0;
    c.payload_done = 0;
    after_reply(i, now);
  }

  void record_interval(std::int64_t intended, std::int64_t latency) {
    // The last interval takes the rounding's few nanoseconds at the end.
    const auto k = static_cast<std::size_t>(std::min((intended - window_start_) / interval_ns_, intervals_ - 1));
    auto& v = result_.intervals;
    if (k >= v.size()) v.resize(k + 1);
    if (!v[k]) v[k] = std::make_unique<histogram>(histogram::nanoseconds());
    v[k]->record(latency);
  }

  // ---- the loop ---------------------------------------------------------

  void poll_once(std::int64_t deadline) {
    epoll_event events[256];
    const std::int64_t wait = std::max<std::int64_t>(0, deadline - now_ns());
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    const int n = ::epoll_pwait2(epoll_.get(), events, 256, &ts, nullptr);
    for (int k = 0; k < n; ++k) {
      const std::uint64_t tag = events[k].data.u64;
      if (tag == wake_tag) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof v);
        continue;
      }
      const auto i = static_cast<std::uint32_t>(tag);
      connection& c = conns_[i];
      const std::uint32_t ev = events[k].events;
      if (c.state == conn_state::connecting) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0 || (ev & EPOLLERR)) {
            connect_failed(i);
            continue;
          }
          connected(i);
        } else {
          continue;
        }
      }
      if (c.state != conn_state::open) continue;
      if (ev & EPOLLOUT) {
        c.writable = true;
        flush(i);
        if (c.state != conn_state::open) continue;
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        read_ready(i, (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }
  }

  void fire_timers(std::int64_t now) {
    while (!timers_.empty() && timers_.top().when <= now) {
      const timer_entry t = timers_.top();
      timers_.pop();
      connection& c = conns_[t.conn];
      if (c.generation != t.generation) continue;  // stale
      if (c.state == conn_state::waiting) {        // reconnect after a failure
        waiting_.push_back(t.conn);
        pump_connects();
        continue;
      }
      if (stopping() || (c.state != conn_state::open && c.state != conn_state::connecting)) continue;
      if (is_trace(c)) {
        if (!lifetime_allows(c)) continue;
        const std::int64_t intended = script_time(c);
        note_arrival(intended, now);
        issue_scripted(t.conn, intended);
        schedule_script(t.conn);
      } else {
        issue_generated(t.conn, t.when);
      }
      flush(t.conn);
    }
  }

  void note_arrival(std::int64_t intended, std::int64_t now) noexcept {
    ++result_.arrivals;
    if (now - intended > late_threshold_ns) ++result_.late_arrivals;
  }

  // Open loop: every arrival due by now is issued, each on the next connection
  // of its group, stamped with its intended time.
  void fire_arrivals(std::int64_t now) {
    for (auto& a : arrivals_) {
      while (!stopping() && start_ns_ + a.schedule.next_offset_ns() <= now) {
        const std::int64_t intended = start_ns_ + a.schedule.next_offset_ns();
        if (intended >= window_end_) break;
        a.schedule.advance();
        note_arrival(intended, now);
        const std::uint32_t i = a.conns[a.rr++ % a.conns.size()];
        connection& c = conns_[i];
        if (c.state != conn_state::open && c.state != conn_state::connecting) {
          ++result_.errors.dropped_arrivals;  // its connection failed and waits to reconnect
          continue;
        }
        issue_generated(i, intended);
        flush(i);
      }
    }
  }

  std::int64_t next_deadline(std::int64_t now) const noexcept {
    std::int64_t d = now + 100'000'000;
    if (!timers_.empty()) d = std::min(d, timers_.top().when);
    if (!stopping())
      for (const auto& a : arrivals_) d = std::min(d, start_ns_ + a.schedule.next_offset_ns());
    if (!result_.window_started) d = std::min(d, window_start_);
    if (!result_.window_ended) d = std::min(d, window_end_);
    if (draining_) d = std::min(d, drain_deadline_);
    return d;
  }

  // Sleeps until spin_window_ns before the deadline; inside that window,
  // polls without sleeping (spinning), counting the time spent so.
  void pace_and_poll(std::int64_t now, std::int64_t deadline) {
    if (deadline - now > spin_window_ns) {
      poll_once(deadline - spin_window_ns);
      return;
    }
    poll_once(now);  // a zero timeout: take what is ready, then look at the clock again
    spin_ns_ += now_ns() - now;
  }

  void check_timeouts(std::int64_t now) {
    const std::int64_t limit = std::int64_t{w_.timeout_ms} * 1'000'000;
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      connection& c = conns_[i];
      if (c.state == conn_state::open && !c.queue.empty() && now - c.queue.front().intended_ns > limit) {
        ++result_.errors.timeouts;
        fail(i, nullptr);
      }
    }
  }

  std::uint64_t outstanding() const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : conns_)
      if (c.state == conn_state::open || c.state == conn_state::connecting) n += c.queue.size();
    return n;
  }

  void main_loop() {
    start_ns_ = control_.start_ns.load();
    window_start_ = control_.window_start_ns.load();
    window_end_ = control_.window_end_ns.load();
    interval_ns_ = interval_length_ns(window_end_ - window_start_);  // as planned: an interrupt comes later
    intervals_ = interval_count(window_end_ - window_start_);
    running_ = true;
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      connection& c = conns_[i];
      if (c.state == conn_state::open || c.state == conn_state::connecting) {
        issue_initial(i);
        flush(i);
      }
    }
    std::int64_t next_scan = now_ns() + 100'000'000;
    for (;;) {
      std::int64_t now = now_ns();
      window_end_ = control_.window_end_ns.load(std::memory_order_relaxed);  // an interrupt moves it
      if (!result_.window_started && now >= window_start_) {
        result_.window_started = true;
        result_.user_at_start = thread_cpu_s(true);
        result_.sys_at_start = thread_cpu_s(false);
        result_.sched_at_start = read_own_schedstat();
        spin_ns_ = 0;
      }
      if (!result_.window_ended && now >= window_end_) {
        result_.window_ended = true;
        result_.user_s = thread_cpu_s(true) - result_.user_at_start;
        result_.sys_s = thread_cpu_s(false) - result_.sys_at_start;
        const thread_schedstat end = read_own_schedstat();
        result_.sched = {end.on_cpu_ns - result_.sched_at_start.on_cpu_ns,
                         end.run_queue_ns - result_.sched_at_start.run_queue_ns};
        result_.spin_ns = spin_ns_;
        if (!result_.window_started) {
          result_.user_s = result_.sys_s = 0;
          result_.sched = {};
          result_.spin_ns = 0;
        }
        draining_ = true;
        drain_deadline_ = now + std::int64_t{w_.timeout_ms} * 1'000'000;
      }
      if (draining_ && (outstanding() == 0 || now >= drain_deadline_)) break;
      fire_timers(now);
      fire_arrivals(now);
      if (now >= next_scan) {
        check_timeouts(now);
        next_scan = now + 100'000'000;
      }
      pace_and_poll(now, std::min(next_deadline(now), next_scan));
    }
    // What is still unanswered at the end timed out.
    result_.errors.timeouts += outstanding();
  }

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
  std::int64_t interval_ns_ = 100'000'000, intervals_ = 1;
  worker_result result_;
};

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
