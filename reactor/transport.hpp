#pragma once
// transport: one accepted TCP connection as the event loop sees it: the
// socket, its buffers, its lifecycle, its poller interest and its timers.
// The framed protocol spoken over it is the session's (session.hpp): the
// transport hands it the bytes it read and sends what it answered.
//
// Data path: socket -> (readv into the free end of in_ plus the loop's 64 KiB
// read block) -> frames answered where they lie (session) -> replies gathered
// where their bytes are (reply_batch.hpp: ECHO and raw-echo bytes where they
// were read, SOURCE from the shared pattern) -> one writev at once -> only
// what the socket would not take is kept in out_ (output_queue.hpp), and
// not copied: SOURCE payloads as cursors into the pattern, ECHO and raw-echo
// bytes where they were read (out_ takes the read block, or in_'s storage);
// only headers and small replies are copied.  While output is queued, new
// replies are queued behind it.  A connection that queues nothing owns no
// buffer storage at all, which is what keeps idle connections small.
//
// State: a lifecycle phase, how far the peer's input has been read, and
// whether the socket refused bytes; everything else (a frame owed a reply,
// output queued, work left for a later turn) is derived from the buffers.
//
// The transport never destroys itself: it moves to phase::done (or failed)
// and the event loop, which owns it, reaps it after the call returns.

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

#include "reactor/buffer.hpp"
#include "reactor/output_queue.hpp"
#include "reactor/poller.hpp"
#include "reactor/reply_batch.hpp"
#include "reactor/session.hpp"
#include "reactor/timer_queue.hpp"
#include "base/unique_fd.hpp"

namespace ioduel::reactor {

class event_loop;

// The timers a connection asks its loop for.
enum class connection_timer : std::uint8_t { idle, sleep, linger, release_input, send_retry };

class transport {
 public:
  // Idle checks run this much after the deadline: erring late is what
  // guarantees a connection is closed only after a full --idle-timeout-ms of
  // silence as its peer sees it (the peer notes the time after our send).
  static constexpr std::chrono::milliseconds idle_slack{5};

  // The events registered when the connection is added to the poller.
  static unsigned initial_interest(bool edge) noexcept;

  transport(event_loop& loop, unique_fd fd, std::uint32_t generation, unsigned registered,
            std::uint64_t accepted_turn);
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  int fd() const noexcept { return fd_.get(); }
  std::uint32_t generation() const noexcept { return generation_; }
  bool finished() const noexcept { return ended(); }
  bool failed() const noexcept { return phase_ == phase::failed; }
  // Its pending timers, one per kind at most, cancelled when it is reaped.
  const std::array<timer_queue::handle, 5>& timers() const noexcept { return timers_; }
  // The loop turn that accepted it: events of that turn's batch are stale
  // (they were for an earlier connection on the same descriptor).
  std::uint64_t accepted_turn() const noexcept { return accepted_turn_; }

  void on_event(const ready_event& ev);
  void on_ready();  // a turn the loop promised (edge mode: input left unread)
  void on_timer(connection_timer which);
  void begin_drain();  // the server is stopping: answer what was received, then close
  // An allocation for this connection failed: free what it holds, queue an
  // ERROR reply if that can be had, and close; nothing else is affected.
  void on_alloc_failure() noexcept;
  // Starts the --idle-timeout-ms checks (the loop calls it once, at accept).
  void arm_idle_timer();

 private:
  // The loop's buffer behind each readv (event_loop::read_buffer, a
  // read_blocks block): large enough that one call usually drains the
  // socket, free for a connection that keeps nothing.
  static constexpr std::size_t extra_size = 64 * 1024;
  // While frames wait (behind a SLEEP, or past the turn's output budget),
  // read ahead at most this much.
  static constexpr std::size_t held_input_cap = 64 * 1024;
  // A declared frame gets at most this much room beyond the bytes that have
  // landed (and at most as much again as has landed): a header alone must
  // not reserve up to --max-frame.
  static constexpr std::size_t reserve_step = 64 * 1024;
  // A buffer that grew past this for a burst gives its storage back once
  // empty; smaller ones keep it so steady traffic allocates nothing.
  static constexpr std::size_t kept_capacity = 64 * 1024;
  // An input buffer sized for a large frame is freed only after staying empty
  // this long: a connection streaming large frames reuses it (freeing and
  // reallocating a megabyte per frame costs fresh pages, faulted in one by
  // one, on every frame), while one that goes quiet gives it back soon.
  static constexpr std::chrono::milliseconds big_input_keep{100};
  // After the kernel refused a send for want of memory (ENOBUFS, ENOMEM), the
  // next try waits this long: no writability event announces that memory is
  // free again, and trying on every turn would spin.
  static constexpr std::chrono::milliseconds send_retry_delay{5};
  // Unsent ECHO or raw-echo bytes take a block into out_ (the read block, or
  // in_'s storage) only if at least this many: fewer are cheaper copied than
  // a 64 KiB block is kept for them.
  static constexpr std::size_t min_kept_in_place = 4096;

  enum class phase : std::uint8_t {
    serving,    // reading requests and answering them
    paused,     // out_ passed --high-water: no reading or answering until it is half drained
    closing,    // an ERROR reply is the last thing owed: flush it (with a deadline), then linger
    lingering,  // write side shut; discarding input until the peer closes
    done,       // to be reaped
    failed,     // to be reaped, counted as failed (a socket error, or no memory left for it)
  };
  // How far the peer's input has been read.
  enum class input_state : std::uint8_t {
    drained,    // read until the socket was empty: the poller reports more
    unread,     // reading stopped (a budget, a pause, held frames) with input possibly left
    to_eagain,  // urgent data or the peer's FIN reported: read past short reads until
                // EAGAIN or end of stream (a short read may stop at the mark; a FIN's edge is spent)
    eof,        // end of stream read: the peer sends nothing more
  };
  // Whether the socket took everything offered last time.
  enum class output_state : std::uint8_t {
    writable,  // the last send was taken whole (or none was tried)
    blocked,   // the socket refused bytes: wait until the poller reports writability
    refused,   // the kernel had no memory for the send (nothing was written): retry on a timer
  };
  // The one read allowed while the server starts draining is unbounded and
  // allowed although the loop is draining.
  enum class read_mode : std::uint8_t { budgeted, final };

  // Derived states.
  bool ended() const noexcept { return phase_ >= phase::done; }
  bool answering() const noexcept { return phase_ <= phase::paused; }  // now or once drained
  bool peer_eof() const noexcept { return input_ == input_state::eof; }
  bool input_pending() const noexcept {
    return input_ == input_state::unread || input_ == input_state::to_eagain;
  }
  bool write_blocked() const noexcept { return output_ != output_state::writable; }  // send nothing now
  bool scheduled() const noexcept;  // in the loop's ready list for its next pass
  bool has_complete_frame() const noexcept {  // in_ holds a frame (or a bad one) to answer
    return answering() && session_.has_complete_frame(in_.view());
  }
  bool output_queued() const noexcept { return !out_.empty(); }
  std::size_t queued_bytes() const noexcept { return out_.size(); }
  bool owes_reply() const noexcept {
    return session_.deferred() || has_complete_frame() || output_queued();
  }
  bool may_answer() const noexcept { return phase_ == phase::serving && !session_.deferred(); }
  std::chrono::milliseconds closing_deadline() const noexcept;

  void begin_service() noexcept;  // a fresh write budget
  void pump(bool try_read, read_mode mode = read_mode::budgeted);
  void settle();
  void settle_owed();

  // Input (transport_input.cpp).
  inline bool can_read(read_mode mode) const noexcept;  // defined in event_loop.hpp
  void read_input(read_mode mode);
  bool raw_echo_pass();
  void discard_input();
  void discard_urgent();
  void handle_buffered();
  void serve_from_stack(std::span<const char> data);
  void reserve_partial();
  std::size_t serve_bytes(std::span<const char> data);
  std::size_t answer(std::span<const char> data, bool& full);

  // Output (transport_output.cpp).
  void flush();
  void flush_batch();
  void flush_queued();
  void send_batch(reply_batch& b);
  void queue_unsent(const reply_batch& b, std::size_t sent);
  bool keep_in_place(std::span<const char> bytes, bool take_input);
  void echo_from_stack(std::span<const char> data);
  void send_queued();
  std::size_t send_allowance(std::size_t queued) const noexcept;
  void after_send(std::size_t sent, std::size_t allowed) noexcept;
  bool send_failed(int err);  // a send's errno (not EINTR): false if it passes (blocked, refused), true if the connection failed

  // Lifecycle.
  void enter_closing();
  void start_linger();
  void fail() noexcept { phase_ = phase::failed; }
  void arm(std::chrono::steady_clock::time_point when, connection_timer which);

  event_loop& loop_;
  unique_fd fd_;
  session session_;
  int kernel_queued_ = -1;  // the send queue's size when the idle timer last looked
  buffer in_;   // received bytes not yet handled (a partial frame, or frames waiting their turn)
  // Input storage out_ took with replies kept in it, back once they were
  // sent while in_ had storage again: in_ gets it the next time out_ takes
  // in_'s, so a stream of large frames the socket takes in part alternates
  // two buffers instead of growing a new one (copying) for every frame.
  std::unique_ptr<char[]> spare_input_;
  std::size_t spare_input_size_ = 0;
  output_queue out_;  // replies the socket has not taken yet
  std::chrono::steady_clock::time_point last_active_;
  std::array<timer_queue::handle, 5> timers_{};  // by connection_timer
  std::uint64_t accepted_turn_;
  std::uint64_t ready_round_ = 0;  // the loop's ready round it was last put in
  std::uint64_t turn_sent_ = 0;    // bytes sent in this service (the write budget)
  std::uint32_t generation_;
  unsigned registered_;  // interest registered with a level-triggered poller
  const bool idle_timeouts_;  // --idle-timeout-ms is on (options, not states)
  const bool raw_;            // --mode raw-echo
  const std::size_t raw_read_;  // what one raw-echo read asks for
  phase phase_ = phase::serving;
  input_state input_ = input_state::drained;
  output_state output_ = output_state::writable;
};

}  // namespace ioduel::reactor
