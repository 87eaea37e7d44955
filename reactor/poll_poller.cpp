// poll(2): an array of pollfd, with an index from descriptor to slot so that
// add, modify and remove are O(1) (removal moves the last slot into the hole).
#include <poll.h>

#include "reactor/poller.hpp"

namespace ioduel::reactor {

namespace {

short to_poll_events(unsigned interest) noexcept {
  short ev = 0;
  if (interest & want_read) ev |= POLLIN | POLLRDHUP;
  if (interest & want_write) ev |= POLLOUT;
  if (interest & want_urgent) ev |= POLLPRI;
  return ev;
}

// Slot of fd in the pollfd array, or -1.  A free function rather than a
// member: UBSan checks the dynamic type of every member call, with a probe
// that needs a spare descriptor and so misfires while we are out of them.
int slot_in(const std::vector<int>& slot, int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slot.size()) return -1;
  return slot[static_cast<std::size_t>(fd)];
}

class poll_poller final : public poller {
 public:
  bool add(int fd, unsigned interest) override {
    if (fd < 0) return false;
    const auto ufd = static_cast<std::size_t>(fd);
    if (ufd >= slot_.size()) slot_.resize(ufd + 1, -1);
    if (slot_[ufd] >= 0) return false;
    slot_[ufd] = static_cast<int>(fds_.size());
    fds_.push_back(pollfd{fd, to_poll_events(interest), 0});
    return true;
  }

  void modify(int fd, unsigned interest) override {
    if (const int s = slot_in(slot_, fd); s >= 0)
      fds_[static_cast<std::size_t>(s)].events = to_poll_events(interest);
  }

  void remove(int fd) override {
    const int s = slot_in(slot_, fd);
    if (s < 0) return;
    const pollfd last = fds_.back();
    fds_[static_cast<std::size_t>(s)] = last;
    slot_[static_cast<std::size_t>(last.fd)] = s;
    fds_.pop_back();
    slot_[static_cast<std::size_t>(fd)] = -1;
  }

  void wait(int timeout_ms, std::vector<ready_event>& out) override {
    int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
    for (std::size_t i = 0; i < fds_.size() && n > 0; ++i) {
      const short r = fds_[i].revents;
      if (r == 0) continue;
      --n;
      out.push_back(ready_event{fds_[i].fd, (r & (POLLIN | POLLRDHUP)) != 0,
                                (r & POLLRDHUP) != 0, (r & POLLOUT) != 0,
                                (r & POLLPRI) != 0, (r & POLLHUP) != 0,
                                (r & (POLLERR | POLLNVAL)) != 0});
    }
  }

  bool edge_triggered() const noexcept override { return false; }
  std::string_view name() const noexcept override { return "poll"; }

 private:
  std::vector<pollfd> fds_;
  std::vector<int> slot_;  // descriptor -> index in fds_, or -1
};

}  // namespace

std::unique_ptr<poller> make_poll_poller() { return std::make_unique<poll_poller>(); }

}  // namespace ioduel::reactor
