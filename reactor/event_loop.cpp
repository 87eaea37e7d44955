#include "reactor/event_loop.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "reactor/server.hpp"

namespace ioduel::reactor {

namespace {

// How long accepting pauses when the kernel refuses (no descriptor to spare,
// no memory) instead of being retried on every turn.
constexpr std::chrono::milliseconds accept_retry_delay{100};

// A timer cookie: the kind in the low byte, then the descriptor (24 bits)
// and the connection's generation, so a timer outliving its connection (or
// reaching a new connection on a reused descriptor) is recognised and ignored.
std::uint64_t make_cookie(unsigned kind, int fd, std::uint32_t generation) noexcept {
  return (static_cast<std::uint64_t>(generation) << 32) |
         (static_cast<std::uint64_t>(static_cast<unsigned>(fd) & 0xFFFFFFu) << 8) | kind;
}

unique_fd checked(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::generic_category(), what);
  return unique_fd(fd);
}

}  // namespace

event_loop::event_loop(server& owner, unique_fd listener, bool handles_signals)
    : event_loop(owner, std::move(listener), handles_signals,
                 make_poller(owner.options().poller, owner.options().trigger)) {}

event_loop::event_loop(server& owner, unique_fd listener, bool handles_signals,
                       std::unique_ptr<poller> demux)
    : owner_(owner),
      opts_(owner.options()),
      poller_(std::move(demux)),
      edge_(poller_->edge_triggered()),
      acceptor_(std::move(listener)),
      timer_fd_(checked(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                        "timerfd_create")),
      wake_fd_(checked(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")),
      now_(clock::now()) {
  if (handles_signals) {
    sigset_t set;
    ::sigemptyset(&set);
    ::sigaddset(&set, SIGTERM);
    ::sigaddset(&set, SIGINT);
    signal_fd_ = checked(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd");
    add_internal(signal_fd_);
  }
  add_internal(timer_fd_);
  add_internal(wake_fd_);
  if (!poller_->add(acceptor_.fd(), want_read))
    throw std::system_error(EBADF, std::generic_category(), "cannot watch the listener");
}

event_loop::~event_loop() = default;

void event_loop::add_internal(const unique_fd& fd) {
  if (!poller_->add(fd.get(), want_read))
    throw std::system_error(EBADF, std::generic_category(), "cannot watch an internal descriptor");
}

void event_loop::run() {
  while (!finished()) {
    events_.clear();
    poller_->wait(ready_.empty() ? -1 : 0, events_);
    now_ = clock::now();
    counters_.loop_turns.add_local();
    for (const ready_event& ev : events_) dispatch(ev);
    serve_ready();
    if (auto next = timers_.next_deadline(); next && *next <= now_)
      timers_.expire(now_, [this](std::uint64_t cookie) { on_timer(cookie); });
    arm_timer();
    blocks_.trim();
  }
  // The drain deadline passed: whatever is still open is closed now.
  for (auto& c : conns_) {
    if (!c) continue;
    poller_->remove(c->fd());
    counters_.connections_closed.add_local();
    owner_.connection_closed();
    c.reset();
  }
  open_ = 0;
}

bool event_loop::finished() const noexcept { return draining_ && (open_ == 0 || drain_expired_); }

void event_loop::request_drain() noexcept {
  drain_requested_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void event_loop::dispatch(const ready_event& ev) {
  // Connections first: they are nearly every event (the loop's own
  // descriptors never have a connection slot).
  if (static_cast<std::size_t>(ev.fd) < conns_.size()) {
    if (transport* c = conns_[static_cast<std::size_t>(ev.fd)].get()) {
      // A connection accepted during this turn cannot have events in this
      // batch: they belong to an earlier connection closed this turn that
      // had the same descriptor (a stale hang-up must not close the new one).
      if (c->accepted_turn() == turn()) return;
      serve_connection(*c, [&ev](transport& conn) { conn.on_event(ev); });
      return;
    }
  }
  if (ev.fd == acceptor_.fd() && acceptor_.open()) {
    accept_connections();
  } else if (ev.fd == timer_fd_.get()) {
    std::uint64_t expirations;
    if (::read(timer_fd_.get(), &expirations, sizeof expirations) > 0) armed_.reset();
  } else if (ev.fd == wake_fd_.get()) {
    std::uint64_t wakes;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &wakes, sizeof wakes);
    if (drain_requested_.load(std::memory_order_acquire) && !draining_) start_drain();
  } else if (signal_fd_.valid() && ev.fd == signal_fd_.get()) {
    read_signals();
  }
}

void event_loop::accept_connections() {
  for (;;) {
    unique_fd fd;
    switch (acceptor_.accept_one(fd)) {
      case acceptor::result::accepted:
        adopt(std::move(fd));
        break;
      case acceptor::result::rejected:
        counters_.connections_rejected.add_local();
        break;
      case acceptor::result::empty:
        return;
      case acceptor::result::stalled:
        pause_accepting();
        return;
    }
  }
}

void event_loop::pause_accepting() {
  if (accept_paused_) return;
  poller_->remove(acceptor_.fd());
  accept_paused_ = true;
  timers_.schedule(now_ + accept_retry_delay,
                   make_cookie(static_cast<unsigned>(loop_timer::accept_retry), 0, 0));
}

void event_loop::resume_accepting() {
  if (!accept_paused_ || !acceptor_.open()) return;
  accept_paused_ = false;
  acceptor_.restore_spare();
  poller_->add(acceptor_.fd(), want_read);
  accept_connections();
}

void event_loop::adopt(unique_fd fd) {
  if (draining_) return;
  if (!owner_.try_open_connection()) {
    counters_.connections_rejected.add_local();
    return;
  }
  const unsigned interest = transport::initial_interest(edge_);
  // select cannot watch descriptors at or above FD_SETSIZE: refuse the
  // connection rather than write outside an fd_set.
  if (static_cast<unsigned>(fd.get()) > 0xFFFFFFu || !poller_->add(fd.get(), interest)) {
    owner_.connection_closed();
    counters_.connections_rejected.add_local();
    return;
  }
  const auto slot = static_cast<std::size_t>(fd.get());
  try {
    if (slot >= conns_.size()) conns_.resize(slot + 1);
    conns_[slot] = std::make_unique<transport>(*this, std::move(fd), next_generation_++, interest, turn());
    if (opts_.common.idle_timeout_ms > 0) conns_[slot]->arm_idle_timer();
  } catch (const std::bad_alloc&) {
    // No memory for one more connection: turn this one away, keep the others.
    poller_->remove(static_cast<int>(slot));
    if (slot < conns_.size()) conns_[slot].reset();
    owner_.connection_closed();
    counters_.connections_rejected.add_local();
    return;
  }
  if (next_generation_ == 0) next_generation_ = 1;
  ++open_;
  counters_.connections_accepted.add_local();
}

void event_loop::reap(transport& c) {
  if (!c.finished()) return;
  const int fd = c.fd();
  // Its timers go with it, so the heap holds only open connections' timers.
  for (const timer_queue::handle h : c.timers()) timers_.cancel(h);
  poller_->remove(fd);
  counters_.connections_closed.add_local();
  if (c.failed()) counters_.connections_failed.add_local();
  owner_.connection_closed();
  --open_;
  conns_[static_cast<std::size_t>(fd)].reset();
  // The loop's last connection gone: give the heap's free memory (a burst's
  // buffers) back to the kernel, so that an idle server holds what idle
  // needs.  At most once a second, so that churn does not pay for it.
  if (open_ == 0 && now_ - last_trim_ >= std::chrono::seconds(1)) {
    ::malloc_trim(0);
    last_trim_ = now_;
  }
}

template <class Handler>
void event_loop::serve_connection(transport& c, Handler&& handler) {
  try {
    handler(c);
  } catch (const std::bad_alloc&) {
    c.on_alloc_failure();
  }
  // Its replies were sent or copied behind its output before the handler
  // returned (or were moot: it is closing); none may reach the next one.
  batch_.clear();
  reap(c);
}

transport* event_loop::find(int fd, std::uint32_t generation) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= conns_.size()) return nullptr;
  transport* c = conns_[static_cast<std::size_t>(fd)].get();
  return c && c->generation() == generation ? c : nullptr;
}

void event_loop::schedule_ready(const transport& c) {
  ready_.emplace_back(c.fd(), c.generation());
}

timer_queue::handle event_loop::schedule(clock::time_point when, connection_timer which,
                                         const transport& c, timer_queue::handle replaces) {
  timers_.cancel(replaces);
  return timers_.schedule(when, make_cookie(static_cast<unsigned>(which), c.fd(), c.generation()));
}

void event_loop::serve_ready() {
  // Connections queued during this pass wait for the next turn, after the
  // others have had theirs.
  serving_.swap(ready_);
  ++ready_round_;
  for (const auto& [fd, generation] : serving_) {
    if (transport* c = find(fd, generation))
      serve_connection(*c, [](transport& conn) { conn.on_ready(); });
  }
  serving_.clear();
}

void event_loop::on_timer(std::uint64_t cookie) {
  const auto kind = static_cast<unsigned>(cookie & 0xFF);
  if (kind == static_cast<unsigned>(loop_timer::drain_deadline)) {
    drain_expired_ = true;
    return;
  }
  if (kind == static_cast<unsigned>(loop_timer::accept_retry)) {
    resume_accepting();
    return;
  }
  const int fd = static_cast<int>((cookie >> 8) & 0xFFFFFF);
  if (transport* c = find(fd, static_cast<std::uint32_t>(cookie >> 32)))
    serve_connection(*c, [kind](transport& conn) { conn.on_timer(static_cast<connection_timer>(kind)); });
}

void event_loop::arm_timer() {
  const auto next = timers_.next_deadline();
  if (!next || (armed_ && *armed_ <= *next)) return;
  // An earlier armed deadline (even a stale one) will wake the loop in time
  // to re-arm; only a deadline earlier than the armed one needs a syscall.
  const auto ns = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::nanoseconds>(next->time_since_epoch()).count());
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &its, nullptr) == 0) armed_ = *next;
}

void event_loop::start_drain() {
  draining_ = true;
  if (acceptor_.open()) {
    if (!accept_paused_) poller_->remove(acceptor_.fd());
    acceptor_.close();
  }
  timers_.schedule(now_ + std::chrono::milliseconds(opts_.common.drain_timeout_ms),
                   make_cookie(static_cast<unsigned>(loop_timer::drain_deadline), 0, 0));
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    if (transport* c = conns_[i].get()) serve_connection(*c, [](transport& conn) { conn.begin_drain(); });
  }
}

void event_loop::read_signals() {
  signalfd_siginfo info;
  bool stop = false;
  while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    stop = true;
  // A second signal during the drain changes nothing: every loop is already
  // finishing what it owes.
  if (stop) owner_.request_drain();
}

std::string event_loop::stats_json() const { return owner_.stats_json(); }

}  // namespace ioduel::reactor
