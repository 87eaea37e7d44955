#pragma once
// How a thread runs an io_context: io_context::run(), except that the thread
// comes back out once a decay period to end its buffer pool's period
// (buffer_pool.hpp).  The pool decays on acquire and release; a thread that
// no handler comes to for a while (a quiet server, or in the shared model a
// thread the scheduler leaves idle) would otherwise keep the blocks it
// cached, and those other threads returned to it, resident for good.
// run_for() adds a clock read per handler (vDSO), and no system call: its
// wait is the same epoll_wait or condition wait with a timeout (measured: no
// change in throughput, docs/proactor.md).
//
// Not on io_uring: Boost 1.81's io_uring service, asked to wait with a
// timeout, submits a timeout whose timespec lives on the waiting thread's
// stack and may outlive the wait (Asio issue 1284, fixed after 1.81); under
// 5,000 connections the server crashed in scheduler::do_wait_one.  There the
// thread runs run(), and an idle thread's cache decays only when a handler
// next takes or returns a block on it.

#include <chrono>
#include <cstddef>

#include <boost/asio/io_context.hpp>

#include "proactor/buffer_pool.hpp"

namespace ioduel::proactor {

// Runs `ctx` until it stops or runs out of work; returns the handlers run.
// Exceptions from handlers propagate, as from run().
inline std::size_t run_giving_back(boost::asio::io_context& ctx,
                                   std::chrono::milliseconds period = block_pool::decay_period) {
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  static_cast<void>(period);
  return ctx.run();
#else
  std::size_t handlers = 0;
  while (!ctx.stopped()) {
    handlers += ctx.run_for(period);
    block_pool::decay_tick();
  }
  return handlers;
#endif
}

}  // namespace ioduel::proactor
