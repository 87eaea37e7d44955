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
                   in_.capacity() <= kept_capacity && !spare_input_))
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
    queue_unsent(batch, 0);
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
  if (((in_.empty() && in_.capacity() > kept_capacity) || spare_input_) &&
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
    // Kept where it was read (out_ takes the read block) unless too little.
    if (const auto rest = data.subspan(sent); !keep_in_place(rest, false)) out_.append(rest);
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
  if (sent < b.bytes()) queue_unsent(b, sent);
}

void transport::queue_unsent(const reply_batch& b, std::size_t sent) {
  // What the socket did not take (all of it, behind queued output) goes to
  // out_ without a copy where it can: SOURCE payloads as cursors into the
  // pattern, borrowed bytes where they lie.  in_'s storage may go with them
  // only if this pass answers all of in_, which it does when the last
  // borrowed bytes in it end where its input ends, and only if they fill at
  // least half of it: out_ then never holds more than twice what it queues
  // (a small ECHO in a buffer grown for a large frame is copied).
  const char* last_in_input = nullptr;
  std::size_t in_input = 0;
  b.for_each_unsent(sent, [&](const reply_batch::unsent_piece& u) {
    if (!u.borrowed || !in_.owns(u.bytes.data())) return;
    last_in_input = u.bytes.data() + u.bytes.size();
    in_input += u.bytes.size();
  });
  const bool take_input =
      last_in_input != nullptr && last_in_input == in_.end() && 2 * in_input >= in_.capacity();
  b.for_each_unsent(sent, [&](const reply_batch::unsent_piece& u) {
    if (u.pattern) {
      out_.append_pattern(u.run);
    } else if (!(u.borrowed && keep_in_place(u.bytes, take_input))) {
      out_.append(u.bytes);  // headers and small replies, or past out_'s runs
    }
  });
}

bool transport::keep_in_place(std::span<const char> bytes, bool take_input) {
  if (out_.append_held(bytes)) return true;  // in a block out_ holds already
  if (bytes.size() < min_kept_in_place || !out_.can_take_block()) return false;
  read_blocks& blocks = loop_.blocks();
  const bool in_read_block = blocks.in_current(bytes.data()) && blocks.can_lend();
  const bool in_input = !in_read_block && take_input && in_.owns(bytes.data());
  if (!in_read_block && !in_input) return false;
  // Whatever may fail to allocate, before anything changes hands.
  out_.make_room_for_block();
  if (in_read_block) {
    out_.take_block(blocks.lend(), read_blocks::block_size, true);
  } else {
    // The input to come lands in storage as large (the spare, if out_ gave
    // one back), not in a buffer regrown, and so copied, as each frame lands:
    // as much memory as when in_ kept its storage and out_ had a copy.
    const std::size_t capacity = in_.capacity();
    std::unique_ptr<char[]> next = spare_input_size_ >= capacity
                                       ? std::move(spare_input_)
                                       : std::make_unique_for_overwrite<char[]>(capacity);
    const std::size_t next_size = spare_input_size_ >= capacity ? spare_input_size_ : capacity;
    spare_input_.reset();
    spare_input_size_ = 0;
    std::size_t size = 0;
    std::unique_ptr<char[]> storage = in_.take_storage(size);
    out_.take_block(std::move(storage), size, false);
    in_.give_storage(std::move(next), next_size);
  }
  return out_.append_held(bytes);
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
          [this](std::size_t k) { session_.count_pattern_sent(k); },
          // in_'s storage, taken with replies kept in it: back to in_ if that
          // is empty and smaller, else kept as the spare (the larger one).
          [this](std::unique_ptr<char[]> storage, std::size_t size) {
            if (in_.empty() && in_.capacity() < size) {
              in_.give_storage(std::move(storage), size);
            } else if (size > spare_input_size_) {
              spare_input_ = std::move(storage);
              spare_input_size_ = size;
            }
          });
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
