#pragma once
// The proactor server: the io_contexts and their threads, the acceptor, the
// signal handling and the drain.  Sessions (session.hpp) do the rest.

#include <cstdint>
#include <iosfwd>

#include "protocol/server_options.hpp"

namespace ioduel::proactor {

// per_thread: one io_context per thread, connections dealt round-robin, no
// locking on the data path.  shared: one io_context run by every thread, a
// strand per connection (the form of Asio's own performance test).
enum class context_model : std::uint8_t { per_thread, shared };

struct proactor_options {
  protocol::server_options common;
  context_model contexts = context_model::per_thread;
};

// Binds, prints the `listening on ADDR:PORT` line, serves until SIGTERM or
// SIGINT has been drained, and returns the exit status (0, or 1 when the
// server could not start; the reason goes to `err`).
int run_server(const proactor_options& options, std::ostream& err);

}  // namespace ioduel::proactor
