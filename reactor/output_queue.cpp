#include "reactor/output_queue.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

namespace ioduel::reactor {

void output_queue::append_pattern(const reply_batch::pattern_run& run) {
  if (run.empty()) return;
  if (runs_ == max_runs) {
    reply_batch::append_pattern(run, bytes_);  // the copy, past max_runs only
    return;
  }
  run_[runs_++] = run_at{bytes_.readable(), run};
  run_bytes_ += run.len;
}

void output_queue::pop_run() noexcept {
  std::copy(run_.begin() + 1, run_.begin() + static_cast<std::ptrdiff_t>(runs_), run_.begin());
  --runs_;
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
  for (std::size_t i = 0; i < runs_ && total < limit && count < iov.size(); ++i) {
    add_bytes(run_[i].at);
    if (total < limit) {
      const reply_batch::pattern_run& r = run_[i].run;
      total += reply_batch::add_pattern_iov(r, limit - total, iov.data(), count, iov.size());
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
