#pragma once
// session: the framed protocol spoken over one connection, without the
// socket.  It decodes the frames handed to it where they lie
// (protocol::serve_frames), answers them into the loop's reply batch, keeps
// the SLEEP reply it owes, counts requests as they are taken and replies as
// the socket takes them, and keeps the per-turn output budget of replies
// built.  It never reads, writes, arms a timer or changes the connection's
// lifecycle: what a pass asks of the transport (a SLEEP to time, an ERROR
// that ends the input, output that filled the batch) comes back in
// `answered`.  transport.hpp owns the socket, the buffers and the lifecycle.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/frame_session.hpp"

namespace ioduel::reactor {

class event_loop;
class reply_batch;

class session {
 public:
  // What one pass over the input did.
  struct answered {
    std::size_t used = 0;   // input bytes taken
    bool full = false;      // held for room (batch or --high-water): send, then go on
    protocol::frames_stop stop = protocol::frames_stop::need_more;
    std::uint32_t sleep_us = 0;  // stop == deferred: time the reply after this long
  };

  explicit session(event_loop& loop) noexcept : loop_(loop) {}

  // A fresh write budget (each service of the connection is one turn's share).
  void begin_turn() noexcept { turn_output_ = 0; }
  bool out_of_turn_budget() const noexcept;

  // Answers the frames at the front of `in` into the loop's batch; `queued`
  // is the output already waiting in the connection (the high-water mark
  // counts it).  In raw-echo mode the whole input is its own reply.
  answered answer(std::span<const char> in, std::size_t queued);

  // A SLEEP reply is owed; nothing after it is answered until it is sent.
  bool deferred() const noexcept { return sleep_id_.has_value(); }
  // The SLEEP's time is up: its reply joins the batch.
  void answer_deferred();
  void drop_deferred() noexcept { sleep_id_.reset(); }

  // `in` holds a frame to answer (a bad one included: its ERROR is owed).
  // Looks at the header only.
  bool has_complete_frame(std::span<const char> in) const noexcept;
  // The bytes the frame at the front of `in` needs in all, if it is partial,
  // valid and will be read on (0 otherwise: raw mode, a SLEEP pending, a bad
  // header whose payload is never read).
  std::size_t partial_frame_size(std::span<const char> in) const noexcept;

  // frames_out and bytes_out count what the socket took (docs/protocol.md).
  void count_batch_sent(const reply_batch& b, std::size_t sent) noexcept;
  // `sent` bytes of queued output from `p` on (whole replies, or the rest of
  // the one the last send cut) left.
  void count_queued_sent(const char* p, std::size_t sent) noexcept;
  // `sent` bytes of a SOURCE payload left from the pattern cursor: the rest
  // of the reply being sent.
  void count_pattern_sent(std::size_t sent) noexcept;
  // A reply is cut mid-way: no other frame may follow before its rest.
  bool reply_cut() const noexcept { return sending_left_ != 0; }

 private:
  struct frame_side;
  friend struct frame_side;

  event_loop& loop_;
  std::optional<std::uint64_t> sleep_id_;  // the SLEEP whose reply is owed
  std::uint64_t turn_output_ = 0;  // reply bytes built in this service (the write budget)
  std::size_t sending_left_ = 0;   // bytes of the reply being sent still to go
};

}  // namespace ioduel::reactor
