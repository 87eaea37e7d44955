#pragma once
// output_queue: a connection's output the socket has not taken yet, in
// order: bytes (copied, in a buffer) with SOURCE payloads between them kept
// as cursors into the shared pattern (reply_batch::pattern_run), so that no
// pattern byte is copied however long the socket refuses it.  Sent with one
// writev of the byte pieces and the pattern's pieces in turn.  Up to
// max_runs cursors are kept; past that a payload is copied (a client
// pipelining more than that many SOURCE requests it does not read).

#include <array>
#include <cstddef>
#include <span>

#include "reactor/buffer.hpp"
#include "reactor/reply_batch.hpp"

namespace ioduel::reactor {

class output_queue {
 public:
  static constexpr std::size_t max_runs = 16;

  bool empty() const noexcept { return bytes_.empty() && runs_ == 0; }
  std::size_t size() const noexcept { return bytes_.readable() + run_bytes_; }
  std::size_t capacity() const noexcept { return bytes_.capacity(); }

  void append(std::span<const char> bytes) { bytes_.append(bytes); }
  void append_pattern(const reply_batch::pattern_run& run);
  // The protocol::output_buffer interface (whole frames appended as bytes).
  char* prepare(std::size_t n) { return bytes_.prepare(n); }
  void commit(std::size_t n) noexcept { bytes_.commit(n); }

  // Sends up to `limit` bytes from the front with one writev; returns the
  // bytes sent, or -1 with errno set; `offered` gets the bytes offered.
  long send(int fd, std::size_t limit, std::size_t& offered) const;

  // Drops the first n bytes; for each piece, on_bytes(const char*, len) for
  // copied bytes and on_pattern(len) for pattern bytes, in order (the
  // session counts the replies that went).
  template <class OnBytes, class OnPattern>
  void consume(std::size_t n, OnBytes&& on_bytes, OnPattern&& on_pattern);

  void clear() noexcept {
    bytes_.clear();
    runs_ = 0;
    run_bytes_ = 0;
  }
  void release_if_empty(std::size_t keep = 0) noexcept {
    if (runs_ == 0) bytes_.release_if_empty(keep);
  }

 private:
  struct run_at {
    std::size_t at;  // the run comes before this byte of bytes_'s readable bytes
    reply_batch::pattern_run run;
  };
  void pop_run() noexcept;

  buffer bytes_;
  std::array<run_at, max_runs> run_{};
  std::size_t runs_ = 0;
  std::size_t run_bytes_ = 0;
};

template <class OnBytes, class OnPattern>
void output_queue::consume(std::size_t n, OnBytes&& on_bytes, OnPattern&& on_pattern) {
  while (n > 0) {
    if (runs_ > 0 && run_[0].at == 0) {
      reply_batch::pattern_run& r = run_[0].run;
      const std::size_t take = n < r.len ? n : r.len;
      on_pattern(take);
      r = reply_batch::advance(r, take);
      run_bytes_ -= take;
      n -= take;
      if (r.empty()) pop_run();
      continue;
    }
    const std::size_t segment = runs_ > 0 ? run_[0].at : bytes_.readable();
    const std::size_t take = n < segment ? n : segment;
    on_bytes(bytes_.peek(), take);
    bytes_.consume(take);
    for (std::size_t i = 0; i < runs_; ++i) run_[i].at -= take;
    n -= take;
  }
}

}  // namespace ioduel::reactor
