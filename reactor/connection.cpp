#include "reactor/connection.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "protocol/dispatch.hpp"
#include "protocol/parser.hpp"
#include "reactor/event_loop.hpp"

namespace ioduel::reactor {

namespace {

// The stack buffer behind each readv: large enough that one call usually
// drains the socket, free for a connection that keeps nothing.
constexpr std::size_t extra_size = 64 * 1024;
// While a SLEEP holds later frames back, read ahead at most this much.
constexpr std::size_t held_input_cap = 64 * 1024;
// A buffer that grew past this for a burst gives its storage back once empty;
// smaller ones keep it so steady traffic allocates nothing.
constexpr std::size_t kept_capacity = 64 * 1024;
// An input buffer sized for a large frame is freed only after staying empty
// this long: a connection streaming large frames reuses it (freeing and
// reallocating a megabyte per frame costs fresh pages, faulted in one by one,
// on every frame), while one that goes quiet gives it back soon.
constexpr std::chrono::milliseconds big_input_keep{100};
// How long a closing connection waits for the peer's FIN before closing
// anyway.  Closing with unread input would send a reset, which can destroy
// the last replies before the peer reads them.
constexpr std::chrono::milliseconds linger_time{1000};

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

unsigned connection::initial_interest(bool edge) noexcept {
  // Edge mode registers everything once and never calls epoll_ctl again.
  return edge ? (want_read | want_write | want_urgent) : (want_read | want_urgent);
}

connection::connection(event_loop& loop, unique_fd fd, std::uint32_t generation,
                       unsigned registered)
    : loop_(loop),
      fd_(std::move(fd)),
      last_active_(loop.now()),
      generation_(generation),
      registered_(registered) {}

void connection::on_event(const ready_event& ev) {
  if (phase_ == phase::done) return;
  if (ev.urgent) discard_urgent();
  if (ev.writable) write_blocked_ = false;
  if (ev.peer_shut) eof_pending_ = true;
  pump(ev.readable || ev.hangup || ev.error);
  if ((ev.hangup || ev.error) && phase_ != phase::done) {
    // Both directions are gone (or the socket failed) and reading did not
    // tell: nothing more can be delivered, so waiting would only spin.
    if (phase_ == phase::lingering || (!sleeping_ && out_.empty() && !ev.error)) {
      phase_ = phase::done;
    } else {
      fail();
    }
  }
}

void connection::on_ready() {
  queued_ = false;
  if (phase_ != phase::done) pump(true);
}

void connection::on_timer(connection_timer which) {
  if (phase_ == phase::done) return;
  switch (which) {
    case connection_timer::release_input:
      // Still empty: free it.  Refilled since: the flush that empties it
      // again arms a new timer.
      release_pending_ = false;
      in_.release_if_empty(kept_capacity);
      return;
    case connection_timer::sleep: {
      if (!sleeping_) return;
      sleeping_ = false;
      buffer& out = reply_target();
      protocol::append_empty_reply(out, protocol::opcode::sleep_reply, sleep_id_);
      auto& c = loop_.counters();
      c.frames_out.add_local();
      c.bytes_out.add_local(protocol::header_size);
      last_active_ = loop_.now();
      pump(more_input_);
      return;
    }
    case connection_timer::idle: {
      if (phase_ != phase::serving) return;  // lingering has its own deadline
      const auto idle = std::chrono::milliseconds(loop_.options().common.idle_timeout_ms);
      const auto deadline = last_active_ + idle;
      if (sleeping_) {
        loop_.schedule(loop_.now() + idle + idle_slack, connection_timer::idle, *this);
      } else if (loop_.now() >= deadline) {
        loop_.counters().idle_timeouts.add_local();
        phase_ = phase::done;
      } else {
        loop_.schedule(deadline + idle_slack, connection_timer::idle, *this);
      }
      return;
    }
    case connection_timer::linger:
      if (phase_ == phase::lingering) phase_ = phase::done;
      return;
  }
}

void connection::begin_drain() {
  if (phase_ == phase::done) return;
  // Requests already in the socket were fully received: read them once more,
  // then no more.
  final_read_ = true;
  pump(true);
  final_read_ = false;
  if (phase_ != phase::done) settle();
}

void connection::pump(bool try_read) {
  if (phase_ == phase::lingering) {
    if (try_read || more_input_) {
      more_input_ = false;
      discard_input();
    }
  } else {
    handle_buffered();
    if (try_read || more_input_) read_input();
    flush();
  }
  settle();
}

bool connection::can_read() const noexcept {
  if (phase_ != phase::serving || peer_eof_ || output_paused_ || failed_) return false;
  if (loop_.draining() && !final_read_) return false;
  // A pending SLEEP holds later frames; read ahead only a little.
  return !(sleeping_ && in_.readable() >= held_input_cap);
}

void connection::read_input() {
  const std::uint64_t budget_opt = loop_.options().read_budget;
  std::size_t budget = budget_opt == 0 || final_read_ ? std::numeric_limits<std::size_t>::max()
                                                       : static_cast<std::size_t>(budget_opt);
  const bool raw = loop_.options().common.mode == protocol::server_mode::raw_echo;
  char extra[extra_size];
  more_input_ = false;
  for (;;) {
    if (!can_read() || budget == 0) {
      // Stopped with input possibly waiting: come back when allowed.
      more_input_ = phase_ == phase::serving && !peer_eof_ && !failed_;
      break;
    }
    // Reading past the urgent mark makes the kernel drop the urgent byte
    // unseen; once a peer has used urgent data, take any pending byte first.
    if (urgent_seen_) discard_urgent();
    iovec iov[2];
    int count = 0;
    std::size_t into_in = 0;
    if (!in_.empty() && in_.writable() > 0) {
      into_in = std::min(in_.writable(), budget);
      iov[count++] = {in_.write_ptr(), into_in};
    }
    if (into_in < budget) iov[count++] = {extra, std::min(extra_size, budget - into_in)};
    std::size_t offered = 0;
    for (int i = 0; i < count; ++i) offered += iov[i].iov_len;

    const ssize_t n = ::readv(fd_.get(), iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!would_block(errno)) fail();
      break;
    }
    if (n == 0) {
      peer_eof_ = true;
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    budget -= got;
    last_active_ = loop_.now();
    if (raw) loop_.counters().bytes_in.add_local(got);

    if (in_.empty() && into_in == 0) {
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
    reserve_partial();
    if (failed_) break;
    // A short read means the socket is empty (a new arrival raises a new
    // edge), unless urgent data was seen (reads stop short at the urgent
    // mark) or the FIN came with the data (its edge is already spent).
    if (got < offered && !urgent_seen_ && !eof_pending_) break;
  }
}

void connection::discard_input() {
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd_.get(), sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) return;
    phase_ = phase::done;  // EOF or error: the peer is gone
    return;
  }
  more_input_ = true;  // still flooding: finish on a later turn (the linger timer bounds it)
}

void connection::discard_urgent() {
  urgent_seen_ = true;
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

void connection::handle_buffered() {
  if (phase_ != phase::serving || sleeping_ || output_paused_ || in_.empty()) return;
  in_.consume(serve_bytes(in_.view()));
}

void connection::serve_from_stack(std::span<const char> data) {
  std::size_t used = 0;
  if (!sleeping_) used = serve_bytes(data);
  const auto rest = data.subspan(used);
  if (rest.empty()) return;
  // in_ is empty here: size it for the whole partial frame at once (when its
  // header is in), so the rest of the payload is read in place.
  in_.prepare(std::max(partial_frame_size(rest), rest.size()));
  in_.append(rest);
}

std::size_t connection::partial_frame_size(std::span<const char> data) const noexcept {
  // Only a frame that will be read on: not in raw mode, not while a SLEEP
  // holds input back (read-ahead is capped then), never for a bad header
  // (an oversized frame's payload is not read, so no room is made for it).
  const auto& opts = loop_.options();
  if (phase_ != phase::serving || sleeping_ ||
      opts.common.mode == protocol::server_mode::raw_echo)
    return 0;
  const protocol::parse_options popts{opts.common.max_frame, protocol::role::server};
  const auto r = protocol::decode_frame(data, popts);
  if (r.what != protocol::decode_result::status::need_more) return 0;
  return r.needed;  // the header alone until the header is in
}

void connection::reserve_partial() {
  if (in_.empty()) return;
  const std::size_t need = partial_frame_size(in_.view());
  // prepare() compacts (moving only the partial frame, a read's worth at
  // most) or grows to exactly the frame's size; the payload still to come
  // then lands in place and is never moved again.
  if (need > in_.readable()) in_.prepare(need - in_.readable());
}

std::size_t connection::serve_bytes(std::span<const char> data) {
  std::size_t used = 0;
  for (;;) {
    bool full = false;
    used += handle_frames(data.subspan(used), full);
    if (!full) return used;
    // Output reached --high-water: send it, and go on only if the socket took it.
    flush();
    if (!out_.empty() || failed_) return used;
  }
}

std::size_t connection::handle_frames(std::span<const char> data, bool& full) {
  const auto& opts = loop_.options();
  auto& c = loop_.counters();
  buffer& out = reply_target();
  if (opts.common.mode == protocol::server_mode::raw_echo) {
    out.append(data);
    c.bytes_out.add_local(data.size());
    full = out.readable() >= opts.common.high_water;
    return data.size();
  }
  const protocol::parse_options popts{opts.common.max_frame, protocol::role::server};
  std::size_t used = 0;
  while (phase_ == phase::serving && !sleeping_) {
    if (out.readable() >= opts.common.high_water) {
      full = true;
      break;
    }
    const auto r = protocol::decode_frame(data.subspan(used), popts);
    if (r.what == protocol::decode_result::status::need_more) break;
    const std::size_t before = out.readable();
    if (r.what == protocol::decode_result::status::error) {
      // Replies owed for earlier frames are already queued ahead of this one.
      protocol::append_error_reply(out, r.failure.id(), r.failure.message(popts));
      c.protocol_errors.add_local();
      c.frames_out.add_local();
      c.bytes_out.add_local(out.readable() - before);
      phase_ = phase::closing;
      used = data.size();  // nothing after a bad frame is read as a frame
      break;
    }
    used += r.consumed;
    c.frames_in.add_local();
    c.bytes_in.add_local(r.consumed);
    const auto outcome =
        protocol::answer_request(r.f, out, [this] { return loop_.stats_json(); });
    if (outcome.deferred) {
      sleeping_ = true;
      sleep_id_ = r.f.hdr.id;
      loop_.schedule(loop_.now() + std::chrono::microseconds(outcome.sleep_us),
                     connection_timer::sleep, *this);
      break;
    }
    c.frames_out.add_local();
    c.bytes_out.add_local(out.readable() - before);
  }
  return used;
}

buffer& connection::reply_target() noexcept {
  // Replies go straight to the loop's scratch buffer unless output is already
  // queued, in which case they must queue behind it.
  return out_.empty() ? loop_.scratch() : out_;
}

void connection::flush() {
  buffer& s = loop_.scratch();
  if (!s.empty()) {
    if (out_.empty() && !write_blocked_ && !failed_) send_from(s);
    if (!s.empty() && !failed_) out_.append(s.view());
    s.clear();  // the scratch buffer is shared by the whole loop
  }
  if (failed_) return;
  if (!out_.empty() && !write_blocked_) send_from(out_);
  const std::uint64_t high = loop_.options().common.high_water;
  if (out_.readable() >= high) {
    output_paused_ = true;
  } else if (output_paused_ && out_.readable() <= high / 2) {
    output_paused_ = false;
  }
  out_.release_if_empty(kept_capacity);
  if (in_.empty() && in_.capacity() > kept_capacity && !release_pending_) {
    release_pending_ = true;
    loop_.schedule(loop_.now() + big_input_keep, connection_timer::release_input, *this);
  }
}

void connection::send_from(buffer& b) {
  while (!b.empty()) {
    const ssize_t n = ::send(fd_.get(), b.peek(), b.readable(), MSG_NOSIGNAL);
    if (n >= 0) {
      const auto sent = static_cast<std::size_t>(n);
      const bool partial = sent < b.readable();
      b.consume(sent);
      // The reply left now, not at the start of the turn: idleness counts
      // from here (a vDSO clock read, no system call).
      if (sent > 0) last_active_ = std::chrono::steady_clock::now();
      if (partial) {
        // The socket buffer is full: its writability will be reported.
        write_blocked_ = true;
        return;
      }
      continue;
    }
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      write_blocked_ = true;
      return;
    }
    fail();
    return;
  }
}

void connection::settle() {
  if (phase_ == phase::serving) {
    const bool owed = sleeping_ || !out_.empty();
    if (!owed && peer_eof_) {
      // Half-close: every reply has been sent; the peer cannot send more.
      phase_ = phase::done;
    } else if (!owed && loop_.draining() && !final_read_) {
      start_linger();
    }
  }
  if (phase_ == phase::closing && out_.empty()) start_linger();
  if (phase_ == phase::done) return;

  if (loop_.edge()) {
    if (more_input_ && !queued_ && (can_read() || phase_ == phase::lingering)) {
      queued_ = true;
      loop_.schedule_ready(*this);
    }
    return;
  }
  // Level-triggered: register exactly what is wanted, or a paused or
  // half-closed connection would be reported ready on every turn.
  unsigned want = want_urgent;
  if (phase_ == phase::lingering || can_read()) want |= want_read;
  if (!out_.empty()) want |= want_write;
  if (want != registered_) {
    loop_.demux().modify(fd_.get(), want);
    registered_ = want;
  }
}

void connection::start_linger() {
  if (peer_eof_) {
    phase_ = phase::done;  // the peer already closed its side: nothing to wait for
    return;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  phase_ = phase::lingering;
  more_input_ = true;  // drain what the peer sent meanwhile
  loop_.schedule(loop_.now() + linger_time, connection_timer::linger, *this);
}

void connection::fail() noexcept {
  failed_ = true;
  phase_ = phase::done;
}

}  // namespace ioduel::reactor
