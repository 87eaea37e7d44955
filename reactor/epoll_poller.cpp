// epoll, edge- or level-triggered.  Edge mode registers everything a
// connection may want once (EPOLLET), so steady traffic costs no epoll_ctl.
#include <sys/epoll.h>

#include <cerrno>
#include <system_error>

#include "reactor/poller.hpp"
#include "base/unique_fd.hpp"

namespace ioduel::reactor {

namespace {

// A free function rather than a member: UBSan checks the dynamic type of
// every member call, with a probe that needs a spare descriptor and so
// misfires while the server is out of them.
bool epoll_control(int epfd, bool edge, int op, int fd, unsigned interest) noexcept {
  epoll_event ev{};
  ev.data.fd = fd;
  if (interest & want_read) ev.events |= EPOLLIN | EPOLLRDHUP;
  if (interest & want_write) ev.events |= EPOLLOUT;
  if (interest & want_urgent) ev.events |= EPOLLPRI;
  if (edge) ev.events |= EPOLLET;
  return ::epoll_ctl(epfd, op, fd, &ev) == 0;
}

class epoll_poller final : public poller {
 public:
  explicit epoll_poller(trigger_mode trigger)
      : epfd_(::epoll_create1(EPOLL_CLOEXEC)), edge_(trigger == trigger_mode::edge) {
    if (!epfd_.valid()) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    events_.resize(256);
  }

  bool add(int fd, unsigned interest) override {
    return epoll_control(epfd_.get(), edge_, EPOLL_CTL_ADD, fd, interest);
  }
  void modify(int fd, unsigned interest) override {
    epoll_control(epfd_.get(), edge_, EPOLL_CTL_MOD, fd, interest);
  }
  void remove(int fd) override { ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

  void wait(int timeout_ms, std::vector<ready_event>& out) override {
    const int n = ::epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()),
                               timeout_ms);
    if (n <= 0) return;
    const std::size_t first = out.size();
    out.resize(first + static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const epoll_event& e = events_[static_cast<std::size_t>(i)];
      out[first + static_cast<std::size_t>(i)] =
          ready_event{e.data.fd, (e.events & (EPOLLIN | EPOLLRDHUP)) != 0,
                      (e.events & EPOLLRDHUP) != 0, (e.events & EPOLLOUT) != 0, (e.events & EPOLLPRI) != 0,
                      (e.events & EPOLLHUP) != 0, (e.events & EPOLLERR) != 0};
    }
    // A full batch hints at more ready descriptors than slots: grow, once.
    if (n == static_cast<int>(events_.size()) && events_.size() < 65536)
      events_.resize(events_.size() * 2);
  }

  bool edge_triggered() const noexcept override { return edge_; }
  std::string_view name() const noexcept override { return "epoll"; }

 private:
  unique_fd epfd_;
  bool edge_;
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<poller> make_epoll_poller(trigger_mode trigger) {
  return std::make_unique<epoll_poller>(trigger);
}

}  // namespace ioduel::reactor
