// transport, the output half: the reply batch sent from where its parts lie
// (or copied behind queued output), queued output sent from out_, raw echo
// straight from the stack buffer, the write budget of one service, the pause
// at --high-water, and buffers given back once a burst is over.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "reactor/event_loop.hpp"
#include "reactor/transport.hpp"

namespace ioduel::reactor {

namespace {

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

// flush() runs after every pass; its common case (all sent, nothing held)
// needs no bookkeeping.
void transport::flush() {
  if (!loop_.batch().empty()) flush_batch();
  if (failed() || (!output_queued() && phase_ != phase::paused && out_.capacity() <= kept_capacity &&
                   in_.capacity() <= kept_capacity))
    return;
  flush_queued();
}

void transport::flush_batch() {
  reply_batch& batch = loop_.batch();
  // Sent from where the replies lie unless output is queued ahead of them;
  // what the socket does not take now is copied behind out_, once.
  if (!output_queued() && !write_blocked() && !failed()) {
    send_batch(batch);
  } else if (!failed()) {
    batch.spill(0, out_);
  }
  batch.clear();
}

void transport::flush_queued() {
  if (output_queued() && !write_blocked()) send_queued();
  // The pause: no reading or answering while the queued output is past
  // --high-water, until it is down to half of it.
  const std::uint64_t high = loop_.options().common.high_water;
  if (phase_ == phase::serving && queued_bytes() >= high) {
    phase_ = phase::paused;
  } else if (phase_ == phase::paused && queued_bytes() <= high / 2) {
    phase_ = phase::serving;
  }
  out_.release_if_empty(kept_capacity);
  if (in_.empty() && in_.capacity() > kept_capacity &&
      !loop_.timer_pending(timers_[static_cast<std::size_t>(connection_timer::release_input)])) {
    arm(loop_.now() + big_input_keep, connection_timer::release_input);
  }
}

[[gnu::always_inline]] inline std::size_t transport::send_allowance(std::size_t queued) const noexcept {
  // The write budget bounds what one service sends as well as what it
  // builds: one send of --high-water queued bytes is a turn's worth of
  // kernel copying.  What is left goes on a later turn (settle).
  const std::uint64_t budget = loop_.options().write_budget;
  if (budget == 0) return queued;
  if (turn_sent_ >= budget) return 0;
  return std::min<std::size_t>(queued, budget - turn_sent_);
}

[[gnu::always_inline]] inline void transport::after_send(std::size_t sent, std::size_t allowed) noexcept {
  turn_sent_ += sent;
  loop_.counters().bytes_out.add_local(sent);
  // With idle timeouts on, the reply left now, not at the start of the turn:
  // idleness counts from here (a vDSO clock read, no system call).  Without,
  // only the closing deadline (--drain-timeout-ms) reads it, and the turn's
  // time is close enough (two calls per message saved).
  if (sent > 0)
    last_active_ = idle_timeouts_ ? std::chrono::steady_clock::now() : loop_.now();
  // Short of what was offered: the socket buffer is full and its
  // writability will be reported.
  if (sent < allowed) output_ = output_state::blocked;
}

void transport::echo_from_stack(std::span<const char> data) {
  // The raw-echo answer, without the batch: the input is its own reply.  It
  // counts against the write budget like any reply; what the budget or the
  // socket does not take is queued.
  std::size_t sent = 0;
  if (const std::size_t allowed = send_allowance(data.size()); allowed > 0) {
    for (;;) {
      const ssize_t n = ::send(fd_.get(), data.data(), allowed, MSG_NOSIGNAL);
      if (n >= 0) {
        sent = static_cast<std::size_t>(n);
        after_send(sent, allowed);
      } else if (errno == EINTR) {
        continue;
      } else if (send_failed(errno)) {
        return;
      }
      break;
    }
  }
  if (sent < data.size()) {
    out_.append(data.subspan(sent));
    flush();  // the pause at --high-water
  }
}

void transport::send_batch(reply_batch& b) {
  std::size_t sent = 0;
  if (const std::size_t allowed = send_allowance(b.bytes()); allowed > 0) {
    for (;;) {
      std::size_t offered = allowed;
      const long n = b.send(fd_.get(), allowed, &offered);
      if (n >= 0) {
        sent = static_cast<std::size_t>(n);
        after_send(sent, offered);
        break;
      }
      if (errno == EINTR) continue;
      if (send_failed(errno)) return;
      break;
    }
  }
  session_.count_batch_sent(b, sent);
  // What the socket did not take: copied into out_, except SOURCE payloads,
  // whose rest is sent from the pattern later.
  if (sent < b.bytes()) b.spill(sent, out_);
}

void transport::send_queued() {
  while (!out_.empty()) {
    const std::size_t allowed = send_allowance(out_.size());
    if (allowed == 0) return;
    std::size_t offered = 0;
    const long n = out_.send(fd_.get(), allowed, offered);
    if (n >= 0) {
      const auto sent = static_cast<std::size_t>(n);
      after_send(sent, offered);
      out_.consume(
          sent, [this](const char* p, std::size_t k) { session_.count_queued_sent(p, k); },
          [this](std::size_t k) { session_.count_pattern_sent(k); });
      if (sent < offered) return;
      continue;
    }
    if (errno == EINTR) continue;
    send_failed(errno);
    return;
  }
}

bool transport::send_failed(int err) {
  if (would_block(err)) {
    output_ = output_state::blocked;  // the socket is full: writability will be reported
    return false;
  }
  if (err == ENOBUFS || err == ENOMEM) {
    // Nothing was written and the connection is sound: what was offered
    // stays queued (the callers spill it into out_) for a retry.
    output_ = output_state::refused;
    arm(loop_.now() + send_retry_delay, connection_timer::send_retry);
    return false;
  }
  fail();  // EPIPE, a reset
  return true;
}

}  // namespace ioduel::reactor
