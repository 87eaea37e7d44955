#pragma once
// The conformance suite's one client: a blocking TCP connection to the server
// under test in which every wait is a poll() with a deadline, so that a server
// that never answers fails a case instead of hanging it.  Frames are parsed
// with the protocol's own frame_parser (role::client); what was sent and
// received is tallied in a traffic_ledger so the fixture can check STATS.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/frame.hpp"
#include "protocol/parser.hpp"

namespace ioduel::testing {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// How long any single wait may take before the case fails.  Scaled by
// IODUEL_TEST_TIMEOUT_SCALE (sanitizer builds are several times slower).
std::chrono::milliseconds io_timeout();
std::chrono::milliseconds scaled(std::chrono::milliseconds t);

// A request to send and what it should be answered with.
struct request {
  protocol::opcode op = protocol::opcode::echo;
  std::uint64_t id = 0;
  std::string payload;

  static request echo(std::uint64_t id, std::string payload) { return {protocol::opcode::echo, id, std::move(payload)}; }
  static request sink(std::uint64_t id, std::string payload) { return {protocol::opcode::sink, id, std::move(payload)}; }
  static request source(std::uint64_t id, std::uint32_t n);
  static request sleep(std::uint64_t id, std::uint32_t us);
  static request stats(std::uint64_t id) { return {protocol::opcode::stats, id, {}}; }

  std::string wire() const;
  std::size_t wire_size() const { return protocol::header_size + payload.size(); }
};

// A frame as encoded, for bad input: any opcode, any declared length.
std::string raw_frame(std::uint8_t op, std::uint64_t id, std::string_view payload,
                      std::optional<std::uint32_t> declared_length = std::nullopt);
std::string be32(std::uint32_t v);

struct reply {
  protocol::header hdr;
  std::string payload;
  std::size_t wire_size() const { return protocol::header_size + payload.size(); }
};

// Checks (with BOOST_TEST, naming `what`) that `r` is the correct reply to `q`.
void check_reply(const request& q, const reply& r, const std::string& what = "");

// Sent and received, the way a server's STATS counts them.
struct traffic_ledger {
  std::uint64_t connections = 0;        // connections made (accepted or rejected)
  std::uint64_t frames_in = 0;          // valid requests sent
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;         // replies received, ERROR included
  std::uint64_t bytes_out = 0;
  std::uint64_t protocol_errors = 0;    // ERROR replies received
  std::uint64_t idle_timeouts = 0;      // set by the cases that expect them
  std::uint64_t oob_discarded = 0;      // urgent bytes sent
  std::uint64_t rejected = 0;           // connections the server closed at once
};

// How a read that waits for the peer's close ended.
struct drain_result {
  std::vector<reply> replies;
  bool eof = false;    // orderly close
  bool reset = false;  // ECONNRESET
  std::string trailing;  // bytes after the last whole frame (a truncated frame)
};

class client {
 public:
  // Connects to host:port; counts the connection in `ledger` if given.
  client(const std::string& host, std::uint16_t port, traffic_ledger* ledger = nullptr,
         std::uint32_t max_frame = protocol::default_max_frame);
  ~client();
  client(client&& other) noexcept;
  client& operator=(client&&) = delete;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  int fd() const noexcept { return fd_; }
  traffic_ledger* ledger() const noexcept { return ledger_; }

  // Sends valid requests (counted in frames_in/bytes_in), all in one write,
  // followed in that write by `trailing` bytes, uncounted (bad input).
  void send(const request& q);
  void send(const std::vector<request>& batch, std::string_view trailing = {});
  // Sends bytes as they are, uncounted (bad input, partial frames, raw echo).
  void send_raw(std::string_view bytes);
  // Sends one urgent byte (MSG_OOB), counted in oob_discarded.
  void send_urgent(char byte);

  // The next reply, or a thrown std::runtime_error on timeout, EOF or reset.
  reply read_reply(std::chrono::milliseconds timeout = io_timeout());
  // Reads every reply until the server closes; eof/reset say how it closed
  // (neither: the timeout passed first).
  drain_result read_until_close(std::chrono::milliseconds timeout = io_timeout());
  // Exactly n unframed bytes (raw-echo mode).
  std::string read_raw(std::size_t n, std::chrono::milliseconds timeout = io_timeout());

  // True if nothing at all (no byte, no close) arrives within `window`.
  bool silent_for(std::chrono::milliseconds window);
  // True if a reply is already buffered or bytes are waiting on the socket.
  bool has_input();

  // Sends STATS and returns the parsed JSON.  `expected`, if given, receives
  // the ledger as the server should see it when it builds the reply.
  nlohmann::json stats(std::uint64_t id = 0x5747, traffic_ledger* expected = nullptr);
  // Send, then every reply, checked; the shortcut for well-behaved exchanges.
  void round_trip(const std::vector<request>& batch, const std::string& what = "");

  void shutdown_write();
  // Closes with an RST (SO_LINGER 0) instead of a FIN.
  void reset();
  // Half-closes, waits for the server's close, then closes: the server has
  // seen the end of this connection when it returns.  Done by the destructor
  // (without waiting) if not done before.
  void close_gracefully(std::chrono::milliseconds timeout = io_timeout());

 private:
  enum class fill : std::uint8_t { data, eof, reset, timeout };
  fill fill_once(clock_type::time_point deadline);
  void parse_input();
  void count_reply(const reply& r);
  void close_fd() noexcept;

  int fd_ = -1;
  traffic_ledger* ledger_ = nullptr;
  protocol::frame_parser parser_;
  std::string raw_;  // bytes read, not yet parsed (raw reads take them from here)
  std::deque<reply> replies_;
  bool raw_mode_ = false;
};

// Raises our own RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit.
std::uint64_t raise_open_file_limit();

}  // namespace ioduel::testing
