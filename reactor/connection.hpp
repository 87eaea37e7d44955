#pragma once
// connection: one accepted TCP connection and everything it is owed.
//
// Data path: socket -> (readv into the free end of in_ plus a 64 KiB stack
// buffer) -> frames parsed in place (protocol::serve_frames) -> replies
// gathered where their bytes are (reply_batch.hpp: ECHO and raw-echo bytes
// where they were read, SOURCE from the shared pattern) -> one writev at
// once -> only what the socket would not take is copied, into out_.  While
// out_ holds output, new replies are copied behind it.  A connection that queues
// nothing owns no buffer storage at all, which is what keeps idle
// connections small.  A partial frame whose header is in gets in_ sized for
// the whole frame, so its payload is read in place and parsed once.
//
// The connection never destroys itself: it moves to phase::done (or failed) and the event
// loop, which owns it, reaps it after the call returns.

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

#include "reactor/buffer.hpp"
#include "reactor/poller.hpp"
#include "reactor/reply_batch.hpp"
#include "reactor/timer_queue.hpp"
#include "base/unique_fd.hpp"

namespace ioduel::reactor {

class event_loop;

// The timers a connection asks its loop for.
enum class connection_timer : std::uint8_t { idle, sleep, linger, release_input };

class connection {
 public:
  // Idle checks run this much after the deadline: erring late is what
  // guarantees a connection is closed only after a full --idle-timeout-ms of
  // silence as its peer sees it (the peer notes the time after our send).
  static constexpr std::chrono::milliseconds idle_slack{5};

  // The events registered when the connection is added to the poller.
  static unsigned initial_interest(bool edge) noexcept;

  connection(event_loop& loop, unique_fd fd, std::uint32_t generation, unsigned registered,
             std::uint64_t accepted_turn);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int fd() const noexcept { return fd_.get(); }
  std::uint32_t generation() const noexcept { return generation_; }
  bool finished() const noexcept { return ended(); }
  bool failed() const noexcept { return phase_ == phase::failed; }
  // Its pending timers, one per kind at most, cancelled when it is reaped.
  const std::array<timer_queue::handle, 4>& timers() const noexcept { return timers_; }
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
  // Sizes shared by the transport (connection.cpp, connection_output.cpp)
  // and the framing (connection_frames.cpp).
  // The stack buffer behind each readv: large enough that one call usually
  // drains the socket, free for a connection that keeps nothing.
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

  enum class phase : std::uint8_t {
    serving,    // reading requests and answering them
    closing,    // an ERROR reply is the last thing owed: flush it (with a deadline), then linger
    lingering,  // write side shut; discarding input until the peer closes
    done,       // to be reaped
    failed,     // to be reaped, counted as failed (a socket error, or no memory left for it)
  };
  // How far the peer's end of stream has come: reported by the poller
  // (read on until it shows, even after a short read), then read.
  enum class input_end : std::uint8_t { open, fin_reported, fin_read };

  bool ended() const noexcept { return phase_ >= phase::done; }
  bool peer_eof() const noexcept { return input_ == input_end::fin_read; }

  // Derived states: what is owed and what can be done now, from the buffers.
  bool has_complete_frame() const noexcept;  // in_ holds a frame (or a bad one) to answer
  bool output_queued() const noexcept { return !out_.empty(); }
  bool owes_reply() const noexcept { return sleeping_ || has_complete_frame() || output_queued(); }
  bool may_answer() const noexcept {
    return phase_ == phase::serving && !sleeping_ && !output_paused_ && !failed();
  }
  bool out_of_turn_budget() const noexcept;
  std::chrono::milliseconds closing_deadline() const noexcept;

  void begin_service() noexcept { turn_output_ = turn_sent_ = 0; }  // a fresh write budget
  void pump(bool try_read);
  bool can_read() const noexcept;
  void read_input();
  void discard_input();
  void discard_urgent();
  void handle_buffered();
  void serve_from_stack(std::span<const char> data);
  std::size_t partial_frame_size(std::span<const char> data) const noexcept;
  void reserve_partial();
  std::size_t serve_bytes(std::span<const char> data);
  std::size_t handle_frames(std::span<const char> data, bool& full);
  void flush();
  void flush_batch();
  void flush_queued();
  void send_batch(reply_batch& b);
  void echo_from_stack(std::span<const char> data);
  void send_from(buffer& b);
  std::size_t send_allowance(std::size_t queued) const noexcept;
  void after_send(std::size_t sent, std::size_t allowed) noexcept;
  void count_sent(const buffer& b, std::size_t sent) noexcept;

  // The framed session's side of protocol::serve_frames (connection_frames.cpp).
  struct frame_side;
  friend struct frame_side;
  void settle();
  void settle_owed();
  void enter_closing();
  void start_linger();
  void fail() noexcept;
  void arm(std::chrono::steady_clock::time_point when, connection_timer which);

  event_loop& loop_;
  unique_fd fd_;
  int kernel_queued_ = -1;  // the send queue's size when the idle timer last looked
  buffer in_;   // received bytes not yet handled (a partial frame, or frames waiting their turn)
  buffer out_;  // replies the socket has not taken yet
  std::chrono::steady_clock::time_point last_active_;
  std::array<timer_queue::handle, 4> timers_{};  // by connection_timer
  std::uint64_t sleep_id_ = 0;  // id of the SLEEP whose timer is pending
  std::uint64_t accepted_turn_;
  std::uint64_t turn_output_ = 0;  // reply bytes built in this service (the write budget)
  std::uint64_t turn_sent_ = 0;    // bytes sent in this service (the write budget)
  std::size_t sending_left_ = 0;   // bytes of the reply being sent still to go (frames_out when sent)
  std::uint32_t generation_;
  unsigned registered_;          // interest registered with a level-triggered poller
  phase phase_ = phase::serving;
  bool sleeping_ = false;        // a SLEEP reply is pending; later frames wait
  input_end input_ = input_end::open;  // the peer's write side
  bool write_blocked_ = false;   // the socket refused bytes; wait for writability
  bool output_paused_ = false;   // out_ passed --high-water; no reading until half drained
  bool more_input_ = false;      // reading stopped with data possibly left in the socket
  bool urgent_mark_ = false;     // urgent data reported: reads may stop short at the mark until EAGAIN
  bool queued_ = false;          // in the loop's ready list
  bool final_read_ = false;      // the one read allowed while starting to drain
};

}  // namespace ioduel::reactor
