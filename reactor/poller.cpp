#include "reactor/poller.hpp"

namespace ioduel::reactor {

// Defined next to each implementation.
std::unique_ptr<poller> make_epoll_poller(trigger_mode trigger);
std::unique_ptr<poller> make_poll_poller();
std::unique_ptr<poller> make_select_poller();

std::unique_ptr<poller> make_poller(poller_kind kind, trigger_mode trigger) {
  switch (kind) {
    case poller_kind::poll: return make_poll_poller();
    case poller_kind::select: return make_select_poller();
    case poller_kind::epoll: break;
  }
  return make_epoll_poller(trigger);
}

}  // namespace ioduel::reactor
