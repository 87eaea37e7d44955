// The worker's connections (connect, fail, retry, churn) and the requests
// it issues (harness/load/engine_worker.hpp).
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

worker::worker(const workload& w, unsigned index, unsigned threads, const sockaddr_storage& addr,
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
  result_.co_corrected.assign(groups, histogram::nanoseconds());
  // The correction's expected interval, per group: a closed loop's mean think time.
  for (std::uint32_t g = 0; g < groups; ++g)
    expected_interval_ns_.push_back(g < w.groups.size() && w.groups[g].loop == loop_kind::closed
                                        ? static_cast<std::int64_t>(w.groups[g].think_us.mean() * 1000)
                                        : 0);
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

void worker::run() {
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

void worker::add_connection(std::uint32_t group, std::uint32_t index) {
  connection& c = conns_.emplace_back();
  c.group = group;
  c.index = index;
  c.requests = rng(mix_seed(w_.seed, group, index, 0));
}

void worker::start_initial_connects() {
  for (std::uint32_t i = 0; i < conns_.size(); ++i) waiting_.push_back(i);
  pump_connects();
}

void worker::pump_connects() {
  while (connecting_ < max_connecting_per_thread && !waiting_.empty()) {
    const std::uint32_t i = waiting_.front();
    waiting_.erase(waiting_.begin());
    open_socket(i);
  }
}

void worker::open_socket(std::uint32_t i) {
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

void worker::connect_failed(std::uint32_t i) {
  connection& c = conns_[i];
  ++result_.errors.connect_failures;
  const bool was_connecting = c.state == conn_state::connecting;
  close_connection(i);
  if (was_connecting) --connecting_;
  if (c.initial) ++initial_settled_;
  retry_later(i);
  pump_connects();
}

void worker::connected(std::uint32_t i) {
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

void worker::check_ready() {
  if (!reported_ready_ && initial_settled_ >= conns_.size()) {
    reported_ready_ = true;
    control_.ready.fetch_add(1);
  }
}

void worker::retry_later(std::uint32_t i) {
  connection& c = conns_[i];
  c.initial = false;
  if (stopping()) return;
  ++c.generation;
  c.state = conn_state::waiting;
  timers_.push({now_ns() + 50'000'000, i, c.generation});
}

void worker::close_connection(std::uint32_t i) {
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

void worker::fail(std::uint32_t i, std::uint64_t error_counts::*what) {
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

void worker::issue_initial(std::uint32_t i) {
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

const connection_group& worker::group_of(const connection& c) const noexcept {
  static const connection_group none;
  return c.group < w_.groups.size() ? w_.groups[c.group] : none;
}

bool worker::lifetime_allows(const connection& c) const noexcept {
  const auto& g = group_of(c);
  return g.requests_per_connection == 0 || c.issued < g.requests_per_connection;
}

pending& worker::new_request(connection& c, proto::opcode op, std::uint32_t size, std::int64_t intended) {
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

void worker::issue_generated(std::uint32_t i, std::int64_t intended) {
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

const trace_record& worker::script_next(connection& c) {
  const auto& recs = w_.trace->per_connection[c.index];
  const trace_record& r = recs[c.script_pos % recs.size()];
  return r;
}

void worker::issue_scripted(std::uint32_t i, std::int64_t intended) {
  connection& c = conns_[i];
  const trace_record& r = script_next(c);
  new_request(c, r.op, r.size, intended);
  if (++c.script_pos % w_.trace->per_connection[c.index].size() == 0) ++c.script_cycle;
}

std::int64_t worker::script_time(const connection& c) const noexcept {
  const auto& recs = w_.trace->per_connection[c.index];
  const trace_record& r = recs[c.script_pos % recs.size()];
  const double us = static_cast<double>(c.script_cycle * w_.trace->period_us + r.t_us) / w_.trace->speed;
  return start_ns_ + static_cast<std::int64_t>(us * 1000.0);
}

void worker::schedule_script(std::uint32_t i) {
  timers_.push({script_time(conns_[i]), i, conns_[i].generation});
}

void worker::after_reply(std::uint32_t i, std::int64_t now) {
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

}  // namespace ioduel::harness::engine_detail
