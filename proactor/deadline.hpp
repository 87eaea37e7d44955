#pragma once
// The deadlines a session's one timer serves: the idle timeout, the end of a
// SLEEP, the end of the linger after an ERROR (or of a drain that found
// unread input), and the io_uring backoff.  The idle timeout is not re-armed
// per request: the session notes its last activity (a read, a part of a write
// leaving, a SLEEP's reply falling due) and, when the timer fires early,
// re-arms for the rest.

#include <chrono>
#include <cstdint>

namespace ioduel::proactor {

// How long a connection that sent its FIN with input unread (after an ERROR
// reply, or a drain that found bytes behind its end of stream) keeps reading
// and discarding, so that closing does not reset the connection before the
// client has read what was sent.
inline constexpr std::chrono::milliseconds linger_time{2000};
// Backoff before retrying an operation io_uring refused for want of
// submission-queue space (ENOBUFS).
inline constexpr std::chrono::milliseconds enobufs_backoff{5};

class session_deadline {
 public:
  using clock = std::chrono::steady_clock;

  // What the timer's expiry at `now` means.
  enum class expiry : std::uint8_t { none, sleep_over, linger_over, idle };

  explicit session_deadline(std::uint32_t idle_timeout_ms) : idle_(idle_timeout_ms) {}

  void touch(clock::time_point now) noexcept { last_activity_ = now; }
  void sleep_for(std::chrono::microseconds d) noexcept { sleep_until_ = clock::now() + d; }
  void linger() noexcept { linger_until_ = clock::now() + linger_time; }

  // The earliest deadline, or time_point::max() for none.  A session owing a
  // SLEEP is not idle; a lingering one has only its linger deadline.
  clock::time_point next(bool sleeping, bool lingering) const noexcept {
    if (sleeping) return sleep_until_;
    if (lingering) return linger_until_;
    if (idle_.count() != 0) return last_activity_ + idle_;
    return clock::time_point::max();
  }

  expiry expired(clock::time_point now, bool sleeping, bool lingering) const noexcept {
    if (sleeping) return now >= sleep_until_ ? expiry::sleep_over : expiry::none;
    if (lingering) return now >= linger_until_ ? expiry::linger_over : expiry::none;
    if (idle_.count() != 0 && now - last_activity_ >= idle_) return expiry::idle;
    return expiry::none;
  }

 private:
  std::chrono::milliseconds idle_;
  clock::time_point last_activity_{};
  clock::time_point sleep_until_{};
  clock::time_point linger_until_{};
};

}  // namespace ioduel::proactor
