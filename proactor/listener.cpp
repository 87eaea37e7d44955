#include "proactor/listener.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>

namespace ioduel::proactor {
namespace {

// How long to wait before accepting again when accept fails for want of
// descriptors or memory and no client could be turned away to make room.
constexpr std::chrono::milliseconds accept_backoff{50};

bool out_of_descriptors(const boost::system::error_code& ec) noexcept {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system;
}

bool out_of_memory(const boost::system::error_code& ec) noexcept {
  return ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

int open_reserve() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

listener::listener(asio::io_context& ctx, context_state& state, listener_host& host)
    : ctx_(ctx), state_(state), host_(host), acceptor_(ctx.get_executor()), backoff_timer_(ctx.get_executor()) {}

listener::~listener() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void listener::open(const asio::ip::tcp::endpoint& endpoint, bool reuse_port) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    const int on = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
      throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  reserve_fd_ = open_reserve();
}

unsigned short listener::port() const { return acceptor_.local_endpoint().port(); }

void listener::start() {
  asio::post(ctx_, asio::bind_allocator(handler_allocator<void, decltype(wait_memory_)>(wait_memory_), [this] {
               std::lock_guard lock(mutex_);
               accept_next();
             }));
}

void listener::close() noexcept {
  std::lock_guard lock(mutex_);
  closed_ = true;
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  // Not close(): on io_uring that cancels the accept in flight, and Boost
  // 1.81's cancel entry goes out without its user_data, so its completion
  // lands in a stale operation queue (session.hpp, close()).  Shut down, the
  // socket stops listening and the accept completes with an error; the
  // destructor closes the descriptor.
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
#else
  boost::system::error_code ignored;
  acceptor_.close(ignored);
#endif
  backoff_timer_.cancel();
}

void listener::recover() noexcept {
  std::lock_guard lock(mutex_);
  if (lost_.exchange(false, std::memory_order_relaxed) && !closed_) {
    peer_.reset();
    try {
      accept_next();
    } catch (const std::exception&) {
      lost_.store(true, std::memory_order_relaxed);  // the next exception tries again
    }
  }
}

void listener::accept_next() {
  if (closed_) return;
  // A reserve that could not be reopened after the last rejection is
  // retried here, so one failure does not lose it for good.
  if (reserve_fd_ < 0) reserve_fd_ = open_reserve();
  try {
    peer_.emplace(ctx_.get_executor());
    acceptor_.async_accept(
        *peer_, asio::bind_allocator(handler_allocator<void, decltype(accept_memory_)>(accept_memory_),
                                     [this, token = chain_token(lost_)](const boost::system::error_code& ec) mutable {
                                       token.ran();
                                       std::lock_guard lock(mutex_);
                                       on_accept(ec);
                                     }));
  } catch (const std::exception&) {
    // bad_alloc, or io_uring's ENOBUFS from a first operation: without a
    // retry the accept chain would end here, silently.
    peer_.reset();
    back_off();
  }
}

// Accepts again after accept_backoff.  (If even this wait cannot be
// started, the exception reaches the server's run_context, which reports it.)
void listener::back_off() {
  backoff_timer_.expires_after(accept_backoff);
  backoff_timer_.async_wait(asio::bind_allocator(handler_allocator<void, decltype(wait_memory_)>(wait_memory_),
                                                 [this, token = chain_token(lost_)](const boost::system::error_code& e) mutable {
                                                   token.ran();
                                                   std::lock_guard lock(mutex_);
                                                   if (!e) accept_next();
                                                 }));
}

void listener::on_accept(const boost::system::error_code& ec) {
  if (closed_ || ec == asio::error::operation_aborted) {
    peer_.reset();
    return;
  }
  if (ec) {
    peer_.reset();
    if (out_of_descriptors(ec) && reject_with_reserve()) {
      accept_next();
    } else if (out_of_descriptors(ec) || out_of_memory(ec)) {
      back_off();  // instead of spinning on a listen queue we cannot empty
    } else {
      accept_next();  // ECONNABORTED and the like concern one client only
    }
    return;
  }
  if (host_.at_capacity()) {
    state_.counters().connections_rejected.add_local();
    boost::system::error_code ignored;
    peer_->close(ignored);
  } else {
    try {
      host_.start_session(std::move(*peer_), state_);
    } catch (const std::exception&) {
      state_.counters().connections_rejected.add_local();
    }
  }
  peer_.reset();
  accept_next();
}

// Out of descriptors: free the one held in reserve, accept the waiting
// client and close it at once (counted as rejected), then take the reserve
// back.  Clients are turned away promptly instead of piling up in the
// listen queue, and the acceptor never spins.
bool listener::reject_with_reserve() {
  if (reserve_fd_ < 0) return false;
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  bool rejected = false;
  ::pollfd p{acceptor_.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, 0) == 1) {
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      ::close(fd);
      state_.counters().connections_rejected.add_local();
      rejected = true;
    }
  }
  reserve_fd_ = open_reserve();
  return rejected;
}

}  // namespace ioduel::proactor
