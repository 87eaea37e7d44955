#pragma once
// Accepting connections for one io_context.
//
// In the per-thread model every io_context has its own listening socket,
// all bound to the one port with SO_REUSEPORT: the kernel spreads the
// connections over them, and each accepted socket is created, registered
// and served on the context that accepted it, so no context registers a
// descriptor with another's epoll or io_uring instance, and a context's
// counters are written by its own thread only.  In the shared model there is
// one listener on the one io_context.
//
// The accept chain (async_accept -> on_accept -> async_accept, or a backoff
// wait in between) has one operation in flight at a time; its handlers and
// close(), which the drain calls from another thread, take `mutex_` (once
// per connection: cheap).  Not a strand: under memory pressure a strand
// whose invoker could not be posted stays locked, which would end the chain
// for good (handler_lock.hpp).  The operations' memory is the listener's own
// (accept_memory_, wait_memory_), so the chain allocates nothing per accept.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "proactor/context_state.hpp"
#include "proactor/handler_memory.hpp"
#include "proactor/session_core.hpp"

namespace ioduel::proactor {

// What a listener asks of the server.
class listener_host {
 public:
  // Over --max-connections: the connection is accepted and closed at once.
  virtual bool at_capacity() const noexcept = 0;
  // Starts a session for an accepted socket, on `state`'s context; throws
  // when it cannot (the connection is then rejected).
  virtual void start_session(socket_type socket, context_state& state) = 0;

 protected:
  listener_host() = default;
  ~listener_host() = default;
};

// Carried by each handler of the accept chain: notes the chain lost when
// the handler is destroyed without having run (listener::lost_).
class chain_token {
 public:
  explicit chain_token(std::atomic<bool>& lost) noexcept : lost_(&lost) {}
  chain_token(chain_token&& o) noexcept : lost_(o.lost_) { o.lost_ = nullptr; }
  chain_token& operator=(chain_token&&) = delete;
  ~chain_token() {
    if (lost_ != nullptr) lost_->store(true, std::memory_order_relaxed);
  }
  void ran() noexcept { lost_ = nullptr; }

 private:
  std::atomic<bool>* lost_;
};

class listener {
 public:
  listener(asio::io_context& ctx, context_state& state, listener_host& host);
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener();

  // Opens, binds and listens; throws boost::system::system_error.  With
  // `reuse_port`, SO_REUSEPORT: every listener of the server binds the port
  // the first one got.
  void open(const asio::ip::tcp::endpoint& endpoint, bool reuse_port);
  unsigned short port() const;
  // Posts the first accept.
  void start();
  // Stops accepting, from any thread (the drain).
  void close() noexcept;
  // After an exception escaped the io_context's run (server.cpp): restarts
  // the accept chain if that exception destroyed its operation unrun.
  void recover() noexcept;

 private:
  void accept_next();
  void back_off();
  void on_accept(const boost::system::error_code& ec);
  bool reject_with_reserve();

  asio::io_context& ctx_;
  context_state& state_;
  listener_host& host_;
  std::mutex mutex_;
  asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type> acceptor_;
  timer_type backoff_timer_;
  std::optional<socket_type> peer_;
  handler_memory<256> accept_memory_;
  handler_memory<128> wait_memory_;
  // A descriptor held in reserve: out of descriptors, it is closed to accept
  // and turn away one waiting client, then reopened.
  int reserve_fd_ = -1;
  bool closed_ = false;
  // Set when a handler of the chain is destroyed without having run: Asio
  // registers the accepted descriptor (epoll's descriptor state, io_uring's
  // io_object) before it calls the handler, and a bad_alloc there unwinds
  // out of io_context::run, destroying the operation and with it the chain.
  std::atomic<bool> lost_{false};
};

}  // namespace ioduel::proactor
