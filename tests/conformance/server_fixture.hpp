#pragma once
// The server under test.  The suite runs against whatever command line follows
// `--` on the test's own command line (server_config); each case makes a
// server_fixture, starts a fresh server on port 0 with the flags the case
// needs, talks to it through clients that tally a traffic_ledger, and ends
// with finish(): a fresh client is still served, STATS agrees with the
// ledger, and SIGTERM brings a clean exit (which is also where a sanitizer
// build's report would show).

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "client.hpp"
#include "harness/servers/server_process.hpp"

namespace ioduel::testing {

// True in ASan/TSan builds, where memory and CPU bounds need more room.
#ifdef IODUEL_TEST_SANITIZED
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

// The configuration every case runs against, from the command line:
//   conformance_test [boost options] -- [--name NAME] SERVER [FLAGS...]
struct server_config {
  std::string name;                // "reactor-epoll-edge"; the command line if not named
  std::vector<std::string> argv;   // the server binary and its configuration's flags
  bool available = true;           // false: the server exits 3 (io_uring refused)
  std::string unavailable_reason;

  static const server_config& get();
};

// Starts the server once: a server that exits 3 marks the configuration unavailable.
void probe_server_availability();

// Boost.Test precondition: skips a suite when the server cannot run here.
boost::test_tools::assertion_result server_available(boost::unit_test::test_unit_id);

class server_fixture {
 public:
  server_fixture() = default;
  ~server_fixture();
  server_fixture(const server_fixture&) = delete;
  server_fixture& operator=(const server_fixture&) = delete;

  struct options {
    std::vector<std::string> flags;           // added to the configuration's
    std::optional<std::uint64_t> nofile_limit;
    std::optional<std::uint64_t> address_space_limit;  // RLIMIT_AS, bytes
    std::uint32_t max_frame = protocol::default_max_frame;  // to parse replies with
    bool raw_echo = false;                    // started with --mode raw-echo
    // Replaces the configuration's --threads (a case about one loop's turns
    // runs one loop, since which loop a connection lands on is the server's).
    std::optional<unsigned> threads;
    // Added to the server's environment (a name here replaces ours).
    std::vector<std::pair<std::string, std::string>> env;
  };
  void start(options opts);
  void start(std::vector<std::string> flags = {});

  harness::server_process& server() { return *server_; }
  const std::string& name() const { return server_config::get().name; }
  traffic_ledger& ledger() { return ledger_; }

  // A connection counted in the ledger.
  client connect();

  // For cases whose peers break off mid-way: STATS may count a little more than
  // the ledger (partial frames, replies never read), so counts are checked as
  // lower bounds.  connections_open is still checked exactly.
  void counts_are_lower_bounds() { loose_ = true; }

  // The spin detector: while `idle` sits silent for a second (checked), the
  // server, with nothing to do, must have been runnable (on a CPU or waiting
  // for one, /proc/PID/task/*/schedstat) for under a quarter of that second.
  void expect_no_spin(client& idle, const std::string& situation);

  // The closing checks every case ends with (see the top of this file).
  void finish();

  // Stops the server with SIGTERM; checks it exits 0 within `timeout`.
  harness::process_exit stop_and_check(std::chrono::milliseconds timeout);

 private:
  std::vector<std::string> check_stats(const nlohmann::json& j, const traffic_ledger& expected) const;
  void report_stderr_if_failed();

  std::optional<harness::server_process> server_;
  traffic_ledger ledger_;
  options opts_;
  std::chrono::milliseconds drain_{2000};  // the server's --drain-timeout-ms
  bool loose_ = false;
};

// Asks STATS on `observer` until the server has parsed `more` frames beyond
// `base`, the frames_in of an earlier STATS on it (which counted itself);
// each STATS is one more frame, and its round trip the pause between two
// looks.  Fails the case (naming `who`) after 5 s, scaled.
void wait_for_frames_in(client& observer, std::uint64_t base, std::uint64_t more, const std::string& who);

// The STATS keys every server reports (docs/protocol.md).
const std::vector<std::string>& stats_keys();

// Deterministic bytes for payloads.
std::string pattern_bytes(std::size_t n, std::uint32_t seed);

}  // namespace ioduel::testing
