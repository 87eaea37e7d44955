#pragma once
// The replies a session owes, in two buffers: `pending` collects replies
// while `batch` (what is left of the replies being written) goes out.  Once
// the batch is out the pending replies become the next batch (a swap, no
// copy).  Each write offers at most write_slice bytes of the batch.
//
// frames_out and bytes_out count what the socket took, not what was built
// (docs/protocol.md): sent(n) counts the first n bytes of the batch.  The
// batch holds whole replies from its front, so each reply's header is in
// hand when its first byte leaves; reply_left_ carries a reply cut by a
// partial write into the next one.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <boost/asio/buffer.hpp>

#include "proactor/buffer_pool.hpp"
#include "protocol/parser.hpp"
#include "protocol/stats.hpp"

namespace ioduel::proactor {

// Most bytes one write offers the socket (the reactor's default
// --write-budget): a connection streaming to a fast reader sends this much
// per handler turn, then waits its turn behind the others (session.hpp).
inline constexpr std::size_t write_slice = 256 * 1024;

class output_queue {
 public:
  // Where replies are appended (a protocol::output_buffer).
  io_buffer& pending() noexcept { return out_; }

  bool empty() const noexcept { return out_.empty() && wbuf_.empty(); }
  std::size_t size() const noexcept { return out_.size() + wbuf_.size(); }

  // The bytes the next write offers: the front of the batch, the pending
  // replies first made the batch if it is out.  Empty if nothing is owed.
  boost::asio::const_buffer next_slice() noexcept {
    if (wbuf_.empty()) {
      if (out_.empty()) return {};
      out_.swap(wbuf_);
    }
    return {wbuf_.readable().data(), std::min(wbuf_.size(), write_slice)};
  }

  // The socket took the first n bytes of the slice.  `frames` is null in
  // raw-echo mode (no frames to count).
  void sent(std::size_t n, protocol::counter& bytes, protocol::counter* frames) noexcept {
    bytes.add_local(n);
    if (frames != nullptr) count_frames(n, *frames);
    wbuf_.consume(n);
    if (wbuf_.empty() && out_.empty()) wbuf_.release();
  }

  // Drops the replies not yet started (an allocation failed).
  void drop_pending() noexcept { out_.clear(); }

  // Gives the storage back; the batch's only if no write targets it
  // (io_uring may read it until the operation completes).
  void release(bool writing) noexcept {
    out_.release();
    if (!writing) wbuf_.release();
  }

 private:
  void count_frames(std::size_t n, protocol::counter& frames) noexcept {
    const char* p = wbuf_.readable().data();
    std::uint64_t whole = 0;
    for (std::size_t pos = 0; pos < n;) {
      if (reply_left_ == 0) reply_left_ = protocol::header_size + protocol::load_be32(p + pos + 4);
      const std::size_t take = std::min(reply_left_, n - pos);
      pos += take;
      reply_left_ -= take;
      if (reply_left_ == 0) ++whole;
    }
    if (whole != 0) frames.add_local(whole);
  }

  io_buffer out_;   // replies waiting for the batch to go out
  io_buffer wbuf_;  // the batch: replies being written (what is left of them)
  std::size_t reply_left_ = 0;  // bytes of the reply being written still to go
};

}  // namespace ioduel::proactor
