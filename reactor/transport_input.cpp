// transport, the input half: readv into the free end of in_ and a stack
// buffer, input handed to the session where it lies, only what must wait
// kept in in_, the partial-frame reservation, urgent data and lingering
// input discarded.
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "reactor/event_loop.hpp"
#include "reactor/transport.hpp"

namespace ioduel::reactor {

namespace {

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

void transport::read_input(read_mode mode) {
  const std::uint64_t budget_opt = loop_.options().read_budget;
  std::size_t budget = budget_opt == 0 || mode == read_mode::final
                           ? std::numeric_limits<std::size_t>::max()
                           : static_cast<std::size_t>(budget_opt);
  const bool raw = loop_.options().common.mode == protocol::server_mode::raw_echo;
  static_assert(extra_size <= read_blocks::block_size);
  bool after_short_read = false;
  for (;;) {
    if (!can_read(mode) || budget == 0) {
      // Stopped with input possibly waiting: come back when allowed.
      if (peer_eof()) break;
      if (!answering()) {
        input_ = input_state::drained;
      } else if (input_ != input_state::to_eagain) {
        input_ = input_state::unread;
      }
      break;
    }
    // A short read may have stopped at an urgent mark (reported or not yet):
    // take the urgent byte before reading past it, or the kernel drops it.
    // Only then: ordinary reads pay no recv(MSG_OOB).
    if (after_short_read) discard_urgent();
    char* const extra = loop_.read_buffer();  // per read: a pass may keep the last one
    iovec iov[2];
    int count = 0;
    std::size_t into_in = 0;
    // Into in_ when it holds input already (the frame being completed), or
    // when it is empty but has room for a whole read (storage kept from a
    // large frame or a burst): then a frame the read leaves partial stays
    // where it landed instead of being copied out of the loop's buffer.
    if (in_.writable() > 0 && (!in_.empty() || in_.writable() >= extra_size)) {
      // Into an empty in_ no more than a read of the loop's block would
      // take: frames held back (a SLEEP) must not read ahead further.
      into_in = std::min({in_.writable(), budget, in_.empty() ? extra_size : in_.writable()});
      iov[count++] = {in_.write_ptr(), into_in};
    }
    if (into_in < budget) iov[count++] = {extra, std::min(extra_size, budget - into_in)};
    std::size_t offered = 0;
    for (int i = 0; i < count; ++i) offered += iov[i].iov_len;

    const ssize_t n = ::readv(fd_.get(), iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) {
        input_ = input_state::drained;  // emptied: no mark left to stop at
      } else {
        fail();
      }
      break;
    }
    if (n == 0) {
      input_ = input_state::eof;
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    budget -= got;
    last_active_ = loop_.now();
    if (raw) loop_.counters().bytes_in.add_local(got);

    if (raw && into_in == 0 && in_.empty() && out_.empty() && !write_blocked() && may_answer()) {
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
    if (!in_.empty()) reserve_partial();
    if (failed()) break;
    // A short read means the socket is empty (a new arrival raises a new
    // edge), unless urgent data was seen (reads stop short at the urgent
    // mark) or the FIN came with the data (its edge is already spent).
    after_short_read = got < offered;
    if (after_short_read && input_ != input_state::to_eagain) {
      input_ = input_state::drained;
      break;
    }
  }
}

// One read, the bytes echoed from where they were read (echo_from_stack):
// what read_input does for raw echo with nothing held or queued, without its
// general checks.  True if that was the whole pass (a short read: the socket
// is empty); false to go on with the general path (more may be waiting, or
// the end of stream).
bool transport::raw_echo_pass() {
  char* const buf = loop_.read_buffer();
  const ssize_t n = ::recv(fd_.get(), buf, raw_read_, 0);
  if (n <= 0) {
    if (n < 0 && would_block(errno)) return true;
    if (n < 0 && errno != EINTR) {
      fail();
      return true;
    }
    return false;  // EOF (read again there) or EINTR
  }
  const auto got = static_cast<std::size_t>(n);
  last_active_ = loop_.now();
  loop_.counters().bytes_in.add_local(got);
  echo_from_stack({buf, got});
  return got < raw_read_ || failed();
}

void transport::discard_input() {
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd_.get(), sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) return;
    phase_ = phase::done;  // EOF or error: the peer is gone
    return;
  }
  input_ = input_state::unread;  // still flooding: finish on a later turn (the linger timer bounds it)
}

void transport::discard_urgent() {
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

void transport::handle_buffered() {
  if (in_.empty() || !may_answer()) return;
  in_.consume(serve_bytes(in_.view()));
}

void transport::serve_from_stack(std::span<const char> data) {
  std::size_t used = 0;
  if (may_answer()) used = serve_bytes(data);
  const auto rest = data.subspan(used);
  if (rest.empty()) return;
  // in_ is empty here.  Room for the partial frame's payload as it lands,
  // capped (reserve_partial grows it as more arrives).
  const std::size_t need = answering() ? session_.partial_frame_size(rest) : 0;
  in_.reserve(need > rest.size() ? std::min(need, rest.size() + reserve_step) : rest.size());
  in_.append(rest);
}

void transport::reserve_partial() {
  if (in_.empty() || !answering()) return;
  const std::size_t need = session_.partial_frame_size(in_.view());
  const std::size_t have = in_.readable();
  if (need <= have) return;
  // Grow with what has landed (doubling, at least a step ahead), never past
  // the frame: a header that declares 1 MiB and sends one byte holds 64 KiB.
  // reserve() compacts (moving a read's worth at most) or grows exactly, so
  // the payload still to come lands in place; growth moves what is there,
  // about once more the frame in all.
  in_.reserve(std::min(need, std::max(2 * have, have + reserve_step)));
}

std::size_t transport::serve_bytes(std::span<const char> data) {
  std::size_t used = 0;
  for (;;) {
    bool full = false;
    used += answer(data.subspan(used), full);
    // The batch borrows `data`, which changes once this returns (the next
    // read, in_ consumed or compacted): send it now.
    flush();
    // Output reached --high-water, or the batch its size: go on only if the
    // socket took it.
    if (!full || output_queued() || failed()) return used;
  }
}

std::size_t transport::answer(std::span<const char> data, bool& full) {
  if (!may_answer()) return 0;
  const session::answered r = session_.answer(data, queued_bytes());
  full = r.full;
  if (r.stop == protocol::frames_stop::deferred) {
    arm(loop_.now() + std::chrono::microseconds(r.sleep_us), connection_timer::sleep);
  } else if (r.stop == protocol::frames_stop::rejected) {
    enter_closing();
  }
  return r.used;
}

}  // namespace ioduel::reactor
