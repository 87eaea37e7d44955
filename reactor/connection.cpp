#include "reactor/connection.hpp"

#include "base/socket_queue.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "protocol/dispatch.hpp"
#include "protocol/parser.hpp"
#include "reactor/event_loop.hpp"

namespace ioduel::reactor {

namespace {

// How long a closing connection waits for the peer's FIN before closing
// anyway.  Closing with unread input would send a reset, which can destroy
// the last replies before the peer reads them.
constexpr std::chrono::milliseconds linger_time{1000};

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

unsigned connection::initial_interest(bool edge) noexcept {
  // Edge mode registers everything once and never calls epoll_ctl again.
  return edge ? (want_read | want_write | want_urgent) : (want_read | want_urgent);
}

connection::connection(event_loop& loop, unique_fd fd, std::uint32_t generation,
                       unsigned registered, std::uint64_t accepted_turn)
    : loop_(loop),
      fd_(std::move(fd)),
      last_active_(loop.now()),
      accepted_turn_(accepted_turn),
      generation_(generation),
      registered_(registered) {}

void connection::on_event(const ready_event& ev) {
  if (ended()) return;
  begin_service();
  if (ev.urgent) {
    // Reads stop short at the urgent mark until the socket is emptied past it.
    urgent_mark_ = true;
    discard_urgent();
  }
  if (ev.writable) write_blocked_ = false;
  if (ev.peer_shut) if (input_ == input_end::open) input_ = input_end::fin_reported;
  pump(ev.readable || ev.hangup || ev.error);
  if ((ev.hangup || ev.error) && !ended()) {
    // Both directions are gone (or the socket failed) and reading did not
    // tell: nothing more can be delivered, so waiting would only spin.
    if (phase_ == phase::lingering || (!owes_reply() && !ev.error)) {
      phase_ = phase::done;
    } else {
      fail();
    }
  }
}

void connection::on_ready() {
  // A turn promised by settle(): input left unread (edge mode) or frames
  // left unanswered (the output budget, or a pause that has cleared).
  queued_ = false;
  begin_service();
  if (!ended()) pump(true);
}

void connection::on_timer(connection_timer which) {
  if (ended()) return;
  switch (which) {
    case connection_timer::release_input:
      // Still empty: free it.  Refilled since: the flush that empties it
      // again arms a new timer.
      in_.release_if_empty(kept_capacity);
      return;
    case connection_timer::sleep: {
      if (!sleeping_) return;
      sleeping_ = false;
      begin_service();
      loop_.batch().add_frame(protocol::opcode::sleep_reply, sleep_id_, {});
      last_active_ = loop_.now();
      pump(more_input_);
      return;
    }
    case connection_timer::idle: {
      if (phase_ == phase::lingering) return;  // lingering has its own deadline
      // Serving: idle means nothing owed and nothing heard or sent for the
      // idle timeout; a connection owed a reply (a SLEEP, frames not yet
      // answered, output not yet taken) is waiting on us, not idle.
      // Closing: nothing more will be answered, so only the output matters:
      // closed once it has not moved for closing_deadline().
      const bool closing = phase_ == phase::closing;
      const auto limit = closing ? closing_deadline()
                                 : std::chrono::milliseconds(loop_.options().common.idle_timeout_ms);
      const auto deadline = last_active_ + limit;
      if (!closing && owes_reply()) {
        arm(loop_.now() + limit + idle_slack, connection_timer::idle);
      } else if (send_queue_moved(fd(), kernel_queued_)) {
        // Replies already handed to the kernel still leaving it for a peer
        // that keeps reading: output progress (base/socket_queue.hpp).
        last_active_ = loop_.now();
        arm(last_active_ + limit + idle_slack, connection_timer::idle);
      } else if (loop_.now() >= deadline) {
        loop_.counters().idle_timeouts.add_local();
        phase_ = phase::done;
      } else {
        arm(deadline + idle_slack, connection_timer::idle);
      }
      return;
    }
    case connection_timer::linger:
      if (phase_ == phase::lingering) phase_ = phase::done;
      return;
  }
}

void connection::begin_drain() {
  if (ended()) return;
  begin_service();
  // Requests already in the socket were fully received: read them once more,
  // then no more.
  final_read_ = true;
  pump(true);
  final_read_ = false;
  if (!ended()) settle();
}

// settle() runs after every event; its common case (nothing queued, nothing
// owed) is decided first, the rest out of line.
void connection::settle() {
  // The common case, edge-triggered: serving, everything answered and sent,
  // the socket read empty.  Nothing to decide.
  if (phase_ == phase::serving && in_.empty() && out_.empty() && !sleeping_ && !more_input_ &&
      !peer_eof() && loop_.edge() && !loop_.draining())
    return;
  settle_owed();
}

void connection::pump(bool try_read) {
  if (phase_ == phase::lingering) {
    if (try_read || more_input_) {
      more_input_ = false;
      discard_input();
    }
  } else {
    handle_buffered();
    if (try_read || more_input_) read_input();
    flush();
  }
  settle();
}

bool connection::can_read() const noexcept {
  if (phase_ != phase::serving || peer_eof() || output_paused_ || failed()) return false;
  if (loop_.draining() && !final_read_) return false;
  // Frames that wait (behind a SLEEP, or past this turn's output budget):
  // read ahead only a little, or in_ would grow by a read budget every turn.
  return !(in_.readable() >= held_input_cap && (sleeping_ || has_complete_frame()));
}

void connection::read_input() {
  const std::uint64_t budget_opt = loop_.options().read_budget;
  std::size_t budget = budget_opt == 0 || final_read_ ? std::numeric_limits<std::size_t>::max()
                                                       : static_cast<std::size_t>(budget_opt);
  const bool raw = loop_.options().common.mode == protocol::server_mode::raw_echo;
  char extra[extra_size];
  more_input_ = false;
  bool after_short_read = false;
  for (;;) {
    if (!can_read() || budget == 0) {
      // Stopped with input possibly waiting: come back when allowed.
      more_input_ = phase_ == phase::serving && !peer_eof() && !failed();
      break;
    }
    // A short read may have stopped at an urgent mark (reported or not yet):
    // take the urgent byte before reading past it, or the kernel drops it.
    // Only then: ordinary reads pay no recv(MSG_OOB).
    if (after_short_read) discard_urgent();
    iovec iov[2];
    int count = 0;
    std::size_t into_in = 0;
    if (!in_.empty() && in_.writable() > 0) {
      into_in = std::min(in_.writable(), budget);
      iov[count++] = {in_.write_ptr(), into_in};
    }
    if (into_in < budget) iov[count++] = {extra, std::min(extra_size, budget - into_in)};
    std::size_t offered = 0;
    for (int i = 0; i < count; ++i) offered += iov[i].iov_len;

    const ssize_t n = ::readv(fd_.get(), iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) {
        urgent_mark_ = false;  // emptied: no mark left to stop at
      } else {
        fail();
      }
      break;
    }
    if (n == 0) {
      input_ = input_end::fin_read;
      urgent_mark_ = false;
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    budget -= got;
    last_active_ = loop_.now();
    if (raw) loop_.counters().bytes_in.add_local(got);

    if (raw && into_in == 0 && in_.empty() && out_.empty() && !write_blocked_ && may_answer()) {
      // Raw echo with nothing queued, the pingpong case: the bytes go back
      // from where they were read, and only what the socket refuses is kept.
      echo_from_stack({extra, got});
    } else if (in_.empty() && into_in == 0) {
      // The common case: handle straight from the stack buffer and keep only
      // what is left (a partial frame, or frames waiting their turn).
      serve_from_stack({extra, got});
    } else {
      const std::size_t to_in = std::min(got, into_in);
      in_.commit(to_in);
      if (got > to_in) {
        // The buffer's tail is full, usually because the frame reserved there
        // is complete: handle it before the overflow is stored, so a large
        // frame is never moved to make room for the bytes behind it.
        handle_buffered();
        if (in_.empty()) {
          serve_from_stack({extra, got - to_in});
        } else {
          in_.append({extra, got - to_in});
        }
      }
      handle_buffered();
    }
    reserve_partial();
    if (failed()) break;
    // A short read means the socket is empty (a new arrival raises a new
    // edge), unless urgent data was seen (reads stop short at the urgent
    // mark) or the FIN came with the data (its edge is already spent).
    after_short_read = got < offered;
    if (after_short_read && !urgent_mark_ && input_ == input_end::open) break;
  }
}

void connection::discard_input() {
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd_.get(), sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) return;
    phase_ = phase::done;  // EOF or error: the peer is gone
    return;
  }
  more_input_ = true;  // still flooding: finish on a later turn (the linger timer bounds it)
}

void connection::discard_urgent() {
  char b[16];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd_.get(), b, sizeof b, MSG_OOB);
    if (n > 0) {
      loop_.counters().oob_discarded.add_local(static_cast<std::uint64_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EINVAL: nothing (more) pending
  }
}

void connection::settle_owed() {
  // Every frame fully received is owed a reply: a half-closed or draining
  // connection ends only once nothing is owed (frames still in in_ included).
  if (phase_ == phase::serving && !owes_reply()) {
    if (peer_eof()) {
      phase_ = phase::done;  // half-close: all answered; the peer cannot send more
    } else if (loop_.draining() && !final_read_) {
      start_linger();
    }
  }
  if (phase_ == phase::closing && !output_queued()) start_linger();
  if (ended()) return;

  // Work no event will announce: frames already in in_ that can be answered
  // now (left by the write budget, or held by a pause that flush cleared),
  // or, edge-triggered, input left in the socket or output left unsent.
  const bool answerable = may_answer() && has_complete_frame();
  const bool unread = loop_.edge() && more_input_ && (can_read() || phase_ == phase::lingering);
  // Output the write budget held back: edge-triggered, no new edge will come
  // (level-triggered pollers report it writable again).
  const bool unsent = loop_.edge() && output_queued() && !write_blocked_;
  if ((answerable || unread || unsent) && !queued_) {
    queued_ = true;
    loop_.schedule_ready(*this);
  }
  if (loop_.edge()) return;
  // Level-triggered: register exactly what is wanted, or a paused or
  // half-closed connection would be reported ready on every turn.
  unsigned want = want_urgent;
  if (phase_ == phase::lingering || can_read()) want |= want_read;
  if (!out_.empty()) want |= want_write;
  if (want != registered_) {
    loop_.demux().modify(fd_.get(), want);
    registered_ = want;
  }
}

std::chrono::milliseconds connection::closing_deadline() const noexcept {
  const auto& c = loop_.options().common;
  return std::chrono::milliseconds(c.idle_timeout_ms > 0 ? c.idle_timeout_ms : c.drain_timeout_ms);
}

void connection::enter_closing() {
  phase_ = phase::closing;
  // With idle timeouts on, the idle timer is already running and now applies
  // the closing deadline; without, a closing connection needs one of its own.
  if (loop_.options().common.idle_timeout_ms == 0)
    arm(loop_.now() + closing_deadline() + idle_slack, connection_timer::idle);
}

void connection::start_linger() {
  if (peer_eof()) {
    phase_ = phase::done;  // the peer already closed its side: nothing to wait for
    return;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  phase_ = phase::lingering;
  more_input_ = true;  // drain what the peer sent meanwhile
  arm(loop_.now() + linger_time, connection_timer::linger);
}

void connection::arm_idle_timer() {
  const auto idle = std::chrono::milliseconds(loop_.options().common.idle_timeout_ms);
  arm(last_active_ + idle + idle_slack, connection_timer::idle);
}

void connection::arm(std::chrono::steady_clock::time_point when, connection_timer which) {
  // One pending timer per kind: a new one replaces (cancels) the old.
  auto& h = timers_[static_cast<std::size_t>(which)];
  h = loop_.schedule(when, which, *this, h);
}

void connection::fail() noexcept {
  phase_ = phase::failed;
}

}  // namespace ioduel::reactor
