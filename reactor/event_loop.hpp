#pragma once
// event_loop: one thread's reactor.  It owns a poller, a listener of its own
// (SO_REUSEPORT: the kernel spreads connections over the loops), a timerfd
// over its timer queue, an eventfd to be woken by other threads, and the
// connections it accepted, indexed by descriptor.
//
// One turn: wait for events (without blocking when some connection was left
// with unread input), dispatch them, serve the connections left over from
// the last turn, fire due timers, re-arm the timerfd if the earliest deadline
// moved.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/stats.hpp"
#include "reactor/acceptor.hpp"
#include "reactor/buffer.hpp"
#include "reactor/options.hpp"
#include "reactor/poller.hpp"
#include "reactor/read_blocks.hpp"
#include "reactor/reply_batch.hpp"
#include "reactor/timer_queue.hpp"
#include "reactor/transport.hpp"
#include "base/unique_fd.hpp"

namespace ioduel::reactor {

class server;

class event_loop {
 public:
  using clock = std::chrono::steady_clock;

  // Throws std::system_error when a kernel object cannot be created.
  // The loop that handles signals owns the signalfd (the signals must already
  // be blocked in every thread).
  event_loop(server& owner, unique_fd listener, bool handles_signals);
  // With a poller of the caller's (the unit tests' fake poller).
  event_loop(server& owner, unique_fd listener, bool handles_signals, std::unique_ptr<poller> demux);
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // Runs until drained after a stop request.
  void run();
  // Any thread: start the graceful stop.
  void request_drain() noexcept;
  const protocol::server_counters& counters() const noexcept { return counters_; }

  // What connections use.
  const reactor_options& options() const noexcept { return opts_; }
  bool edge() const noexcept { return edge_; }
  poller& demux() noexcept { return *poller_; }
  protocol::server_counters& counters() noexcept { return counters_; }
  // The replies of the connection being served (one at a time), sent before its handler returns.
  reply_batch& batch() noexcept { return batch_; }
  clock::time_point now() const noexcept { return now_; }
  bool draining() const noexcept { return draining_; }
  // The ready list's round: connections put in it now are served on the
  // next pass of serve_ready (a transport compares it with its own stamp).
  std::uint64_t ready_round() const noexcept { return ready_round_; }
  void schedule_ready(const transport& c);
  // Schedules a connection's timer, cancelling `replaces` (its previous one
  // of that kind, fired or not); returns the new timer's handle.
  timer_queue::handle schedule(clock::time_point when, connection_timer which, const transport& c,
                               timer_queue::handle replaces = 0);
  std::string stats_json() const;
  // The buffer behind every connection's readv (connections are served one
  // at a time; what must outlive the pass is copied out of it, or the
  // connection takes the block: read_blocks.hpp).
  char* read_buffer() noexcept { return blocks_.current(); }
  read_blocks& blocks() noexcept { return blocks_; }
  bool timer_pending(timer_queue::handle h) const noexcept { return timers_.pending(h); }

 private:
  enum class loop_timer : std::uint8_t { drain_deadline = 16, accept_retry };

  bool finished() const noexcept;
  // This turn's number: the turns counted so far (STATS loop_turns); 64
  // bits never wrap, unlike a generation.
  std::uint64_t turn() const noexcept { return counters_.loop_turns.get(); }
  void dispatch(const ready_event& ev);
  void accept_connections();
  void pause_accepting();
  void resume_accepting();
  void adopt(unique_fd fd);
  void reap(transport& c);
  void on_timer(std::uint64_t cookie);
  void serve_ready();
  void arm_timer();
  void start_drain();
  void read_signals();
  void add_internal(const unique_fd& fd);
  transport* find(int fd, std::uint32_t generation) noexcept;
  // Runs one of a connection's handlers; an allocation failure in it is that
  // connection's alone (closed with an ERROR reply if possible), not the loop's.
  template <class Handler>
  void serve_connection(transport& c, Handler&& handler);

  server& owner_;
  const reactor_options& opts_;
  std::unique_ptr<poller> poller_;
  bool edge_;
  acceptor acceptor_;
  unique_fd timer_fd_;
  unique_fd wake_fd_;
  unique_fd signal_fd_;
  timer_queue timers_;
  std::optional<clock::time_point> armed_;
  read_blocks blocks_;  // before conns_: their output queues give blocks back when destroyed
  std::vector<std::unique_ptr<transport>> conns_;  // by descriptor
  std::size_t open_ = 0;
  clock::time_point last_trim_{};  // of malloc_trim, when the last connection closed
  std::uint32_t next_generation_ = 1;
  std::uint64_t ready_round_ = 1;  // advances each time serve_ready takes the list
  std::vector<std::pair<int, std::uint32_t>> ready_, serving_;  // (fd, generation)
  std::vector<ready_event> events_;
  buffer scratch_;  // the batch's headers and small replies
  reply_batch batch_{scratch_};
  protocol::server_counters counters_;
  clock::time_point now_;
  std::atomic<bool> drain_requested_{false};
  bool draining_ = false;
  bool drain_expired_ = false;
  bool accept_paused_ = false;
};

// The transport's read check, here because it needs the loop's type: inline
// in the read loop, once per readv.
inline bool transport::can_read(read_mode mode) const noexcept {
  if (phase_ != phase::serving || peer_eof()) return false;
  if (mode == read_mode::budgeted && loop_.draining()) return false;
  // Frames that wait (behind a SLEEP, or past this turn's output budget):
  // read ahead only a little, or in_ would grow by a read budget every turn.
  return in_.readable() < held_input_cap || !(session_.deferred() || has_complete_frame());
}

}  // namespace ioduel::reactor
