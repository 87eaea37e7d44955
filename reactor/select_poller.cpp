// select(2): three fd_sets kept as the master copy and copied into each call.
// fd_set holds descriptors below FD_SETSIZE only; writing a larger one would
// corrupt memory, so add() refuses it and the caller rejects the connection.
#include <sys/select.h>

#include <algorithm>

#include "reactor/poller.hpp"

namespace ioduel::reactor {

namespace {

// Free functions rather than members: UBSan checks the dynamic type of every
// member call, with a probe that needs a spare descriptor and so misfires
// while the server is out of them.
bool registered_in(const std::vector<bool>& registered, int fd) noexcept {
  return fd >= 0 && static_cast<std::size_t>(fd) < registered.size() &&
         registered[static_cast<std::size_t>(fd)];
}

void apply(fd_set& s, int fd, bool on) noexcept {
  if (on) FD_SET(fd, &s); else FD_CLR(fd, &s);
}

void set_interest(fd_set& r, fd_set& w, fd_set& e, int fd, unsigned interest) noexcept {
  apply(r, fd, interest & want_read);
  apply(w, fd, interest & want_write);
  apply(e, fd, interest & want_urgent);
}

class select_poller final : public poller {
 public:
  select_poller() {
    FD_ZERO(&read_);
    FD_ZERO(&write_);
    FD_ZERO(&except_);
  }

  bool add(int fd, unsigned interest) override {
    if (fd < 0 || fd >= FD_SETSIZE) return false;
    registered_.resize(std::max(registered_.size(), static_cast<std::size_t>(fd) + 1), false);
    registered_[static_cast<std::size_t>(fd)] = true;
    set_interest(read_, write_, except_, fd, interest);
    max_fd_ = std::max(max_fd_, fd);
    return true;
  }

  void modify(int fd, unsigned interest) override {
    if (registered_in(registered_, fd)) set_interest(read_, write_, except_, fd, interest);
  }

  void remove(int fd) override {
    if (!registered_in(registered_, fd)) return;
    set_interest(read_, write_, except_, fd, 0);
    registered_[static_cast<std::size_t>(fd)] = false;
    while (max_fd_ >= 0 && !registered_[static_cast<std::size_t>(max_fd_)]) --max_fd_;
  }

  void wait(int timeout_ms, std::vector<ready_event>& out) override {
    fd_set r = read_, w = write_, e = except_;
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int n = ::select(max_fd_ + 1, &r, &w, &e, timeout_ms < 0 ? nullptr : &tv);
    for (int fd = 0; fd <= max_fd_ && n > 0; ++fd) {
      const bool rd = FD_ISSET(fd, &r), wr = FD_ISSET(fd, &w), ex = FD_ISSET(fd, &e);
      if (!rd && !wr && !ex) continue;
      n -= rd + wr + ex;
      out.push_back(ready_event{fd, rd, false, wr, ex, false, false});
    }
  }

  bool edge_triggered() const noexcept override { return false; }
  std::string_view name() const noexcept override { return "select"; }

 private:
  fd_set read_, write_, except_;
  std::vector<bool> registered_;
  int max_fd_ = -1;
};

}  // namespace

std::unique_ptr<poller> make_select_poller() { return std::make_unique<select_poller>(); }

}  // namespace ioduel::reactor
