#include "server_fixture.hpp"

#include <boost/test/results_collector.hpp>

#include <algorithm>
#include <random>
#include <sstream>

namespace ioduel::testing {

namespace {

server_config& mutable_config() {
  static server_config cfg;
  return cfg;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

bool current_case_failed() {
  const auto id = boost::unit_test::framework::current_test_case().p_id;
  return boost::unit_test::results_collector.results(id).p_assertions_failed > 0;
}

std::uint64_t number(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : ~0ull;
}

}  // namespace

// Reads the configuration once from the arguments Boost.Test leaves us.
const server_config& server_config::get() {
  server_config& cfg = mutable_config();
  if (cfg.argv.empty()) {
    const auto& suite = boost::unit_test::framework::master_test_suite();
    std::vector<std::string> args(suite.argv + 1, suite.argv + suite.argc);
    if (!args.empty() && args.front() == "--") args.erase(args.begin());
    if (args.size() >= 2 && args.front() == "--name") {
      cfg.name = args[1];
      args.erase(args.begin(), args.begin() + 2);
    }
    if (args.empty())
      throw std::runtime_error(
          "no server to test: run as conformance_test [boost options] -- [--name NAME] SERVER [FLAGS...]");
    cfg.argv = std::move(args);
    if (cfg.name.empty()) cfg.name = join(cfg.argv);
  }
  return cfg;
}

void probe_server_availability() {
  server_config& cfg = mutable_config();
  harness::server_launch launch;
  launch.argv = cfg.argv;
  launch.argv.insert(launch.argv.end(), {"--port", "0"});
  launch.start_timeout = scaled(10s);
  try {
    harness::server_process probe(launch);
    probe.stop(scaled(10s));
  } catch (const harness::server_unavailable& e) {
    cfg.available = false;
    cfg.unavailable_reason = cfg.name + " is unavailable here (exit status 3): " + e.stderr_tail();
  } catch (const std::exception&) {
    // Not our business here: every case will fail to start it and say why.
  }
}

boost::test_tools::assertion_result server_available(boost::unit_test::test_unit_id) {
  const auto& cfg = server_config::get();
  boost::test_tools::assertion_result r(cfg.available);
  if (!cfg.available) r.message() << cfg.unavailable_reason;
  return r;
}

const std::vector<std::string>& stats_keys() {
  static const std::vector<std::string> keys = {
      "server", "backend", "threads", "connections_accepted", "connections_open",
      "connections_rejected", "connections_failed", "frames_in", "frames_out", "bytes_in",
      "bytes_out", "protocol_errors", "idle_timeouts", "oob_discarded", "uptime_s"};
  return keys;
}

void wait_for_frames_in(client& observer, std::uint64_t base, std::uint64_t more, const std::string& who) {
  const auto deadline = clock_type::now() + scaled(5s);
  for (std::uint64_t k = 1;; ++k) {
    if (observer.stats(0x6000 + k).value("frames_in", 0ull) >= base + more + k) return;
    BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, who << ": the server never parsed the " << more
                                                            << " frame(s) sent");
  }
}

std::string pattern_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

server_fixture::~server_fixture() {
  if (server_ && !server_->try_wait()) server_->stop(scaled(2s));
  report_stderr_if_failed();
}

void server_fixture::report_stderr_if_failed() {
  if (!server_ || !current_case_failed()) return;
  const std::string tail = server_->stderr_tail();
  if (!tail.empty())
    BOOST_TEST_MESSAGE(name() << ": the server's stderr ends with:\n" << tail);
}

void server_fixture::start(std::vector<std::string> flags) {
  options opts;
  opts.flags = std::move(flags);
  start(std::move(opts));
}

void server_fixture::start(options opts) {
  opts_ = std::move(opts);
  harness::server_launch launch;
  launch.argv = server_config::get().argv;
  launch.argv.insert(launch.argv.end(), {"--port", "0"});
  if (opts_.threads) {
    const std::string n = std::to_string(*opts_.threads);
    const auto t = std::find(launch.argv.begin(), launch.argv.end(), "--threads");
    if (t != launch.argv.end() && t + 1 != launch.argv.end()) t[1] = n;
    else launch.argv.insert(launch.argv.end(), {"--threads", n});
  }
  if (opts_.raw_echo) launch.argv.insert(launch.argv.end(), {"--mode", "raw-echo"});
  launch.argv.insert(launch.argv.end(), opts_.flags.begin(), opts_.flags.end());
  // A short drain unless the case sets one: finish() waits for the exit at
  // most this long (plus slack), so a server that drains slowly costs little.
  const auto drain_flag = std::find(opts_.flags.begin(), opts_.flags.end(), "--drain-timeout-ms");
  if (drain_flag == opts_.flags.end()) {
    launch.argv.insert(launch.argv.end(), {"--drain-timeout-ms", std::to_string(drain_.count())});
  } else if (drain_flag + 1 != opts_.flags.end()) {
    drain_ = std::chrono::milliseconds(std::stoul(drain_flag[1]));
  }
  launch.nofile_limit = opts_.nofile_limit;
  launch.address_space_limit = opts_.address_space_limit;
  launch.env = opts_.env;
  launch.start_timeout = scaled(10s);
  server_.emplace(launch);
}

client server_fixture::connect() {
  return client(server_->host(), server_->port(), &ledger_, opts_.max_frame);
}

void server_fixture::expect_no_spin(client& idle, const std::string& situation) {
  // A spinning thread is runnable for the whole window, on a CPU or waiting
  // for one, however busy the machine is; a server asleep in its poller is
  // runnable for a few wakeups.  So the bound is on runnable time (schedstat),
  // not on CPU time, which a second process on the cores would halve for a
  // spinner and which /proc/PID/stat counts only in 10 ms ticks.
  // Per thread: a thread that exits in the window drops out rather than
  // making the sum go backwards; one that starts counts in full.
  const auto window = scaled(1s);
  const auto before = harness::read_thread_times(server_->pid());
  BOOST_TEST_REQUIRE(std::any_of(before.begin(), before.end(), [](const auto& t) { return t.second.on_cpu_ns > 0; }),
                     name() << ": no scheduler times in /proc/" << server_->pid() << "/task/*/schedstat");
  BOOST_TEST(idle.silent_for(window), name() << ": the idle connection received bytes " << situation);
  std::uint64_t runnable_ns = 0;
  for (const auto& [tid, t] : harness::read_thread_times(server_->pid())) {
    const auto b = before.find(tid);
    runnable_ns += t.runnable_ns() - (b == before.end() ? 0 : b->second.runnable_ns());
  }
  const double runnable_s = static_cast<double>(runnable_ns) / 1e9;
  BOOST_TEST(runnable_s < 0.25 * std::chrono::duration<double>(window).count(),
             name() << ": the server's threads were runnable for " << runnable_s << " s of " << window.count()
                    << " ms " << situation << " with nothing to do (spinning?)");
}

std::vector<std::string> server_fixture::check_stats(const nlohmann::json& j,
                                                     const traffic_ledger& expected) const {
  std::vector<std::string> bad;
  for (const auto& key : stats_keys())
    if (!j.contains(key)) bad.push_back("STATS lacks \"" + key + "\"");
  // `lower_bound`: the server may have counted more than the ledger saw.
  const auto check = [&](const char* key, std::uint64_t want, bool lower_bound) {
    const std::uint64_t got = number(j, key);
    if (got == ~0ull || (lower_bound ? got < want : got != want))
      bad.push_back(std::string(key) + " is " + (got == ~0ull ? "missing" : std::to_string(got)) +
                    (lower_bound ? ", expected at least " : ", expected ") + std::to_string(want));
  };
  const auto exact = [&](const char* key, std::uint64_t want) { check(key, want, false); };
  const auto count = [&](const char* key, std::uint64_t want) { check(key, want, loose_); };
  exact("connections_open", 1);
  count("frames_in", expected.frames_in);
  // Whether the bytes of a bad frame count in bytes_in is the server's choice.
  check("bytes_in", expected.bytes_in, loose_ || expected.protocol_errors > 0);
  count("frames_out", expected.frames_out);
  count("bytes_out", expected.bytes_out);
  count("protocol_errors", expected.protocol_errors);
  count("idle_timeouts", expected.idle_timeouts);
  exact("oob_discarded", expected.oob_discarded);
  count("connections_rejected", expected.rejected);
  const std::uint64_t seen = number(j, "connections_accepted") + number(j, "connections_rejected");
  if (loose_ ? seen > expected.connections : seen != expected.connections)
    bad.push_back("connections_accepted + connections_rejected is " + std::to_string(seen) +
                  (loose_ ? ", expected at most " : ", expected ") + std::to_string(expected.connections));
  return bad;
}

void server_fixture::finish() {
  BOOST_REQUIRE_MESSAGE(server_ && !server_->try_wait(),
                        name() << ": the server is gone before the closing checks");
  if (opts_.raw_echo) {
    // No frames and no STATS in raw-echo mode: a fresh client's bytes come back.
    client fresh = connect();
    const std::string bytes = pattern_bytes(3000, 2);
    fresh.send_raw(bytes);
    BOOST_TEST((fresh.read_raw(bytes.size()) == bytes), name() << ": a fresh client's bytes were not echoed");
    fresh.close_gracefully();
  } else {
    client fresh = connect();
    fresh.round_trip({request::echo(1, pattern_bytes(300, 1)), request::source(2, 2000),
                      request::sink(3, "sunk")},
                     name() + ": a fresh client after the case");
    // Each answer is compared with the ledger as it stood when the server
    // built it; retried while the server may still be closing connections.
    const auto deadline = clock_type::now() + scaled(3s);
    std::vector<std::string> mismatches;
    nlohmann::json j;
    for (std::uint64_t id = 100;; ++id) {
      traffic_ledger expected;
      j = fresh.stats(id, &expected);
      mismatches = check_stats(j, expected);
      if (mismatches.empty() || clock_type::now() >= deadline) break;
      BOOST_TEST(fresh.silent_for(20ms), name() << ": unsolicited bytes after a STATS reply");
    }
    for (const auto& m : mismatches)
      BOOST_TEST(false, name() << ": STATS disagrees with the traffic of the case: " << m
                                 << "\n  STATS: " << j.dump());
    fresh.close_gracefully();
  }
  stop_and_check(drain_ + scaled(2s));
}

harness::process_exit server_fixture::stop_and_check(std::chrono::milliseconds timeout) {
  const harness::process_exit e = server_->stop(timeout);
  BOOST_TEST(e.clean(), name() << ": after SIGTERM the server ended with " << e.describe()
                               << "; its stderr ends with:\n" << server_->stderr_tail());
  return e;
}

}  // namespace ioduel::testing
