// transport: events, timers, the lifecycle and the poller interest of one
// connection (transport.hpp).  transport_input.cpp reads, transport_output.cpp
// writes; session.cpp speaks the protocol.
#include "reactor/transport.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "base/socket_queue.hpp"
#include "protocol/replies.hpp"
#include "reactor/event_loop.hpp"

namespace ioduel::reactor {

namespace {

// How long a closing connection waits for the peer's FIN before closing
// anyway.  Closing with unread input would send a reset, which can destroy
// the last replies before the peer reads them.
constexpr std::chrono::milliseconds linger_time{1000};

}  // namespace

unsigned transport::initial_interest(bool edge) noexcept {
  // Edge mode registers everything once and never calls epoll_ctl again.
  return edge ? (want_read | want_write | want_urgent) : (want_read | want_urgent);
}

transport::transport(event_loop& loop, unique_fd fd, std::uint32_t generation, unsigned registered,
                     std::uint64_t accepted_turn)
    : loop_(loop),
      fd_(std::move(fd)),
      session_(loop),
      out_(loop.blocks()),
      last_active_(loop.now()),
      accepted_turn_(accepted_turn),
      generation_(generation),
      registered_(registered),
      idle_timeouts_(loop.options().common.idle_timeout_ms > 0),
      raw_(loop.options().common.mode == protocol::server_mode::raw_echo),
      raw_read_(loop.options().read_budget == 0
                    ? extra_size
                    : static_cast<std::size_t>(std::min<std::uint64_t>(extra_size, loop.options().read_budget))) {}

void transport::begin_service() noexcept {
  session_.begin_turn();
  turn_sent_ = 0;
}

bool transport::scheduled() const noexcept { return ready_round_ == loop_.ready_round(); }

void transport::on_event(const ready_event& ev) {
  if (ended()) return;
  begin_service();
  if (ev.urgent) {
    discard_urgent();
    // Reads stop short at the urgent mark until the socket is emptied past it.
    if (!peer_eof()) input_ = input_state::to_eagain;
  }
  if (ev.writable) output_ = output_state::writable;
  if (ev.peer_shut && !peer_eof()) input_ = input_state::to_eagain;
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

void transport::on_ready() {
  // A turn promised by settle(): input left unread (edge mode), output the
  // write budget held back, or frames left unanswered (the output budget, or
  // a pause that has cleared).
  begin_service();
  if (!ended()) pump(true);
}

void transport::on_timer(connection_timer which) {
  if (ended()) return;
  switch (which) {
    case connection_timer::release_input:
      // Still empty: free it.  Refilled since: the flush that empties it
      // again arms a new timer.  The spare input storage goes too: a stream
      // of large frames that goes on makes another.
      in_.release_if_empty(kept_capacity);
      spare_input_.reset();
      spare_input_size_ = 0;
      return;
    case connection_timer::sleep: {
      if (!session_.deferred()) return;
      begin_service();
      session_.answer_deferred();
      last_active_ = loop_.now();
      pump(input_pending());
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
    case connection_timer::send_retry:
      if (output_ != output_state::refused) return;  // a writability event retried it already
      output_ = output_state::writable;
      begin_service();
      pump(input_pending());
      return;
  }
}

void transport::begin_drain() {
  if (ended()) return;
  begin_service();
  // Requests already in the socket were fully received: read them once more,
  // then no more.
  pump(true, read_mode::final);
}

void transport::pump(bool try_read, read_mode mode) {
  // The pingpong case first: raw echo with nothing held, queued or owed.
  if (raw_ && try_read && phase_ == phase::serving && input_ == input_state::drained && in_.empty() &&
      out_.empty() && !write_blocked() && mode == read_mode::budgeted && !loop_.draining() &&
      in_.capacity() <= kept_capacity && out_.capacity() <= kept_capacity && raw_echo_pass()) {
    settle();
    return;
  }
  if (phase_ == phase::lingering) {
    if (try_read || input_pending()) {
      input_ = input_state::drained;
      discard_input();
    }
  } else {
    // Output already queued goes first: replies answered now would have to
    // be queued behind it (a SOURCE payload kept as a cursor, copied).
    if (output_queued() && !write_blocked()) flush_queued();
    handle_buffered();
    if (try_read || input_pending()) read_input(mode);
    flush();
  }
  settle();
}

// settle() runs after every event; its common case (nothing queued, nothing
// owed) is decided first, the rest out of line.
void transport::settle() {
  // The common case, edge-triggered: serving, everything answered and sent,
  // the socket read empty.  Nothing to decide.
  if (phase_ == phase::serving && in_.empty() && !output_queued() && !session_.deferred() &&
      input_ == input_state::drained && loop_.edge() && !loop_.draining())
    return;
  settle_owed();
}

void transport::settle_owed() {
  // Every frame fully received is owed a reply: a half-closed or draining
  // connection ends only once nothing is owed (frames still in in_ included).
  if (answering() && !owes_reply()) {
    if (peer_eof()) {
      phase_ = phase::done;  // half-close: all answered; the peer cannot send more
    } else if (loop_.draining()) {
      start_linger();
    }
  }
  if (phase_ == phase::closing && !output_queued()) start_linger();
  if (ended()) return;

  // Work no event will announce: frames already in in_ that can be answered
  // now (left by the write budget, or held by a pause that flush cleared),
  // or, edge-triggered, input left in the socket or output left unsent.
  const bool answerable = may_answer() && has_complete_frame();
  const bool unread =
      loop_.edge() && input_pending() && (can_read(read_mode::budgeted) || phase_ == phase::lingering);
  // Output the write budget held back: edge-triggered, no new edge will come
  // (level-triggered pollers report it writable again).
  const bool unsent = loop_.edge() && output_queued() && !write_blocked();
  if ((answerable || unread || unsent) && !scheduled()) {
    ready_round_ = loop_.ready_round();
    loop_.schedule_ready(*this);
  }
  if (loop_.edge()) return;
  // Level-triggered: register exactly what is wanted, or a paused or
  // half-closed connection would be reported ready on every turn.
  unsigned want = want_urgent;
  if (phase_ == phase::lingering || can_read(read_mode::budgeted)) want |= want_read;
  // A refused send waits for its timer: writability says nothing about memory.
  if (output_queued() && output_ != output_state::refused) want |= want_write;
  if (want != registered_) {
    loop_.demux().modify(fd_.get(), want);
    registered_ = want;
  }
}

std::chrono::milliseconds transport::closing_deadline() const noexcept {
  const auto& c = loop_.options().common;
  return std::chrono::milliseconds(c.idle_timeout_ms > 0 ? c.idle_timeout_ms : c.drain_timeout_ms);
}

void transport::enter_closing() {
  phase_ = phase::closing;
  // With idle timeouts on, the idle timer is already running and now applies
  // the closing deadline; without, a closing connection needs one of its own.
  if (loop_.options().common.idle_timeout_ms == 0)
    arm(loop_.now() + closing_deadline() + idle_slack, connection_timer::idle);
}

void transport::start_linger() {
  if (peer_eof()) {
    phase_ = phase::done;  // the peer already closed its side: nothing to wait for
    return;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  phase_ = phase::lingering;
  input_ = input_state::unread;  // drain what the peer sent meanwhile
  arm(loop_.now() + linger_time, connection_timer::linger);
}

void transport::arm_idle_timer() {
  const auto idle = std::chrono::milliseconds(loop_.options().common.idle_timeout_ms);
  arm(last_active_ + idle + idle_slack, connection_timer::idle);
}

void transport::arm(std::chrono::steady_clock::time_point when, connection_timer which) {
  // One pending timer per kind: a new one replaces (cancels) the old.
  auto& h = timers_[static_cast<std::size_t>(which)];
  h = loop_.schedule(when, which, *this, h);
}

void transport::on_alloc_failure() noexcept {
  // Whatever was being built for this connection is incomplete: drop it, and
  // the input that asked for it.
  loop_.batch().clear();
  in_.clear();
  in_.release_if_empty();
  spare_input_.reset();
  spare_input_size_ = 0;
  if (ended()) return;
  if (phase_ == phase::lingering || session_.reply_cut()) {
    // Lingering owes nothing; a reply cut mid-way cannot be followed by a
    // clean ERROR frame.  Close.
    fail();
    return;
  }
  out_.clear();
  out_.release_if_empty();
  session_.drop_deferred();
  try {
    protocol::append_error_reply(out_, 0, "out of memory: the server cannot hold this connection's data");
    loop_.counters().protocol_errors.add_local();
    if (answering()) enter_closing();
    flush();
    settle();
  } catch (const std::bad_alloc&) {
    fail();
  }
}

}  // namespace ioduel::reactor
