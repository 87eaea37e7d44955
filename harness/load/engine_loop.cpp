// The worker's loop: pacing to deadlines, timers, open-loop arrivals and
// timeouts, and the window's edges (harness/load/engine_worker.hpp).
#include "harness/load/engine_worker.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace ioduel::harness::engine_detail {

void worker::poll_once(std::int64_t deadline) {
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

void worker::fire_timers(std::int64_t now) {
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

void worker::note_arrival(std::int64_t intended, std::int64_t now) noexcept {
  ++result_.arrivals;
  if (now - intended > late_threshold_ns) ++result_.late_arrivals;
}

void worker::fire_arrivals(std::int64_t now) {
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

std::int64_t worker::next_deadline(std::int64_t now) const noexcept {
  std::int64_t d = now + 100'000'000;
  if (!timers_.empty()) d = std::min(d, timers_.top().when);
  if (!stopping())
    for (const auto& a : arrivals_) d = std::min(d, start_ns_ + a.schedule.next_offset_ns());
  if (!result_.window_started) d = std::min(d, window_start_);
  if (!result_.window_ended) d = std::min(d, window_end_);
  if (draining_) d = std::min(d, drain_deadline_);
  return d;
}

void worker::pace_and_poll(std::int64_t now, std::int64_t deadline) {
  const pace_step step = next_pace_step(now, deadline);
  poll_once(step.poll_until);  // now: a zero timeout, take what is ready and look at the clock again
  if (step.spinning) spin_ns_ += now_ns() - now;
}

void worker::check_timeouts(std::int64_t now) {
  const std::int64_t limit = std::int64_t{w_.timeout_ms} * 1'000'000;
  for (std::uint32_t i = 0; i < conns_.size(); ++i) {
    connection& c = conns_[i];
    if (c.state == conn_state::open && !c.queue.empty() && now - c.queue.front().intended_ns > limit) {
      ++result_.errors.timeouts;
      fail(i, nullptr);
    }
  }
}

std::uint64_t worker::outstanding() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : conns_)
    if (c.state == conn_state::open || c.state == conn_state::connecting) n += c.queue.size();
  return n;
}

void worker::main_loop() {
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

}  // namespace ioduel::harness::engine_detail
