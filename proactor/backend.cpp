#include "proactor/backend.hpp"

#include <cstring>

#include <boost/asio/detail/config.hpp>
#include <liburing.h>

namespace ioduel::proactor {

#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
std::string_view backend_name() noexcept { return "io_uring"; }
bool uses_io_uring() noexcept { return true; }
#else
std::string_view backend_name() noexcept { return "epoll"; }
bool uses_io_uring() noexcept { return false; }
#endif

std::string probe_io_uring() {
  ::io_uring ring;
  const int r = ::io_uring_queue_init(8, &ring, 0);
  if (r < 0) return std::string("io_uring_queue_init: ") + std::strerror(-r);
  ::io_uring_queue_exit(&ring);
  return {};
}

}  // namespace ioduel::proactor
