#pragma once
// A session's state as three small enums (the session's predicates are
// derived from them and from its buffers: session_core.hpp), in place of
// the eleven booleans it once had.
//
//   session_phase  the connection's life: serving -> input_ended (end of
//                  stream) or erred (an ERROR reply queued) -> lingering
//                  (our FIN sent, input read and discarded) -> closed.
//   op_state       each of the read and the write: idle, in flight, or
//                  waiting out ENOBUFS (the timer resumes it).
//   input_hold     why frames in hand are not answered now: a SLEEP owes
//                  its reply, or the output is over --high-water.

#include <cstdint>

namespace ioduel::proactor {

enum class session_phase : std::uint8_t {
  serving,      // reading and answering
  input_ended,  // end of stream: answer every complete frame held, then end
  erred,        // an ERROR reply is queued: nothing more is parsed or read
  lingering,    // our FIN is sent: read and discard until EOF or the deadline
  closed,
};

enum class op_state : std::uint8_t {
  idle,
  in_flight,  // its handler is pending (counted in the session's pending_)
  backoff,    // io_uring refused it (ENOBUFS): the timer starts it again
};

enum class input_hold : std::uint8_t {
  none,
  sleeping,  // a SLEEP's reply falls due at the deadline: nothing after it is answered or read
  paused,    // over --high-water: neither parse nor read until the output is down to half
};

}  // namespace ioduel::proactor
