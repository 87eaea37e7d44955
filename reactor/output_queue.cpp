#include "reactor/output_queue.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>

namespace ioduel::reactor {

namespace {

// Run lists this long or shorter are kept once empty: steady traffic
// allocates nothing.
constexpr std::size_t kept_runs = 16;

}  // namespace

void output_queue::append_pattern(const reply_batch::pattern_run& run) {
  if (run.empty()) return;
  if (runs() == max_runs) {
    reply_batch::append_pattern(run, bytes_);  // the copy, past max_runs only
    return;
  }
  run_.push_back(run_at{bytes_.readable(), run});
  run_bytes_ += run.len;
}

int output_queue::block_of(std::span<const char> bytes) const noexcept {
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const held_block& b = blocks_[i];
    if (b.data && bytes.data() >= b.data.get() && bytes.data() + bytes.size() <= b.data.get() + b.size)
      return static_cast<int>(i);
  }
  return -1;
}

std::size_t output_queue::blocks_held() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(blocks_.begin(), blocks_.end(), [](const held_block& b) { return b.data != nullptr; }));
}

bool output_queue::append_held(std::span<const char> bytes) {
  if (bytes.empty()) return true;
  const int block = block_of(bytes);
  if (block < 0) return false;
  // Bytes that follow the last run in the same block, with nothing copied
  // between: the same run, longer.
  if (runs() > 0) {
    run_at& last = run_.back();
    if (last.held && last.block == static_cast<std::uint32_t>(block) && last.at == bytes_.readable() &&
        last.held + last.run.len == bytes.data()) {
      last.run.len += bytes.size();
      run_bytes_ += bytes.size();
      return true;
    }
  }
  if (runs() == max_runs) return false;
  run_.push_back(run_at{bytes_.readable(), {0, bytes.size()}, bytes.data(), static_cast<std::uint32_t>(block)});
  ++blocks_[static_cast<std::size_t>(block)].runs;
  run_bytes_ += bytes.size();
  return true;
}

bool output_queue::can_take_block() const noexcept {
  return runs() < max_runs && blocks_held() < max_blocks;
}

void output_queue::make_room_for_block() {
  if (run_.size() == run_.capacity()) run_.reserve(std::max<std::size_t>(kept_runs, 2 * run_.size()));
  if (blocks_held() == blocks_.size() && blocks_.size() == blocks_.capacity())
    blocks_.reserve(std::max<std::size_t>(4, 2 * blocks_.size()));
}

void output_queue::take_block(std::unique_ptr<char[]> data, std::size_t size, bool lent) noexcept {
  auto slot = std::find_if(blocks_.begin(), blocks_.end(), [](const held_block& b) { return !b.data; });
  if (slot == blocks_.end()) slot = blocks_.emplace(blocks_.end());  // within the room made
  *slot = held_block{std::move(data), size, 0, lent};
}

void output_queue::pop_run() noexcept {
  if (++head_ == run_.size()) {
    run_.clear();
    head_ = 0;
  } else if (head_ >= kept_runs && 2 * head_ >= run_.size()) {
    // A queue that never empties (a reader that keeps up with half of the
    // output): drop the sent runs before the list grows past twice the live
    // ones (at most max_runs).
    run_.erase(run_.begin(), run_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void output_queue::clear() noexcept {
  bytes_.clear();
  run_.clear();
  head_ = 0;
  run_bytes_ = 0;
  for (held_block& b : blocks_) {
    if (b.lent) read_blocks_.give_back(std::move(b.data));
    b = held_block{};
  }
}

void output_queue::release_if_empty(std::size_t keep) noexcept {
  if (runs() != 0) return;
  bytes_.release_if_empty(keep);
  // A burst's lists go too, once every block is back.
  if (run_.capacity() > kept_runs) std::vector<run_at>().swap(run_);
  if (blocks_held() == 0 && blocks_.capacity() > 0) std::vector<held_block>().swap(blocks_);
}

long output_queue::send(int fd, std::size_t limit, std::size_t& offered) const {
  std::array<iovec, reply_batch::max_iov> iov;
  std::size_t count = 0, total = 0, pos = 0;
  auto add_bytes = [&](std::size_t end) {
    if (end > pos && total < limit && count < iov.size()) {
      const std::size_t len = std::min(end - pos, limit - total);
      iov[count++] = iovec{const_cast<char*>(bytes_.peek() + pos), len};
      total += len;
    }
    pos = end;
  };
  for (std::size_t i = head_; i < run_.size() && total < limit && count < iov.size(); ++i) {
    add_bytes(run_[i].at);
    if (total >= limit || count == iov.size()) break;
    const run_at& r = run_[i];
    if (r.held) {
      const std::size_t len = std::min(r.run.len, limit - total);
      iov[count++] = iovec{const_cast<char*>(r.held), len};
      total += len;
    } else {
      total += reply_batch::add_pattern_iov(r.run, limit - total, iov.data(), count, iov.size());
    }
  }
  add_bytes(bytes_.readable());
  offered = total;
  if (count == 1) return ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

}  // namespace ioduel::reactor
