// The bounded soak (issue 7): one server under a mixed load for a long
// window, driven by the harness (`ioduel drive`), with zero errors and its
// RSS at the end within 10% of its RSS after a warm-up.
//
//   soak_test [boost options] -- --name NAME --ioduel PATH --workload FILE SERVER [FLAGS...]
//
// The server is started here rather than by `ioduel run`, so that its RSS can
// be read exactly between the warm-up and the measured window.
// IODUEL_SOAK_SECONDS overrides the window's 60 s.
#define BOOST_TEST_MODULE soak
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client.hpp"
#include "harness/servers/server_process.hpp"

namespace ioduel::testing {

namespace {

struct soak_config {
  std::string name, ioduel, workload;
  std::vector<std::string> server;
  bool available = true;
  std::string unavailable_reason;
};

soak_config& config() {
  static soak_config cfg = [] {
    soak_config c;
    const auto& suite = boost::unit_test::framework::master_test_suite();
    std::vector<std::string> args(suite.argv + 1, suite.argv + suite.argc);
    if (!args.empty() && args.front() == "--") args.erase(args.begin());
    while (args.size() >= 2 && args.front().starts_with("--")) {
      const std::string key = args[0], value = args[1];
      args.erase(args.begin(), args.begin() + 2);
      if (key == "--name") c.name = value;
      else if (key == "--ioduel") c.ioduel = value;
      else if (key == "--workload") c.workload = value;
      else throw std::runtime_error("soak_test: unknown option " + key);
    }
    if (args.empty() || c.ioduel.empty() || c.workload.empty())
      throw std::runtime_error(
          "usage: soak_test -- --name NAME --ioduel PATH --workload FILE SERVER [FLAGS...]");
    c.server = std::move(args);
    if (c.name.empty()) c.name = c.server.front();
    return c;
  }();
  return cfg;
}

harness::server_launch server_launch() {
  harness::server_launch l;
  l.argv = config().server;
  l.argv.insert(l.argv.end(), {"--port", "0"});
  l.start_timeout = scaled(10s);
  return l;
}

boost::test_tools::assertion_result server_available(boost::unit_test::test_unit_id) {
  try {
    harness::server_process probe(server_launch());
    probe.stop(scaled(10s));
  } catch (const harness::server_unavailable& e) {
    boost::test_tools::assertion_result r(false);
    r.message() << config().name << " is unavailable here (exit status 3): " << e.stderr_tail();
    return r;
  } catch (const std::exception&) {
    // The case itself will fail to start it and say why.
  }
  return true;
}

// Runs `ioduel drive` for `seconds` against the server; returns its report.
nlohmann::json drive(const harness::server_process& server, int seconds, const std::string& what) {
  const std::string report = "soak-" + config().name + "-" + what + ".json";
  harness::server_launch l;
  l.argv = {config().ioduel, "drive", "--target", server.host() + ":" + std::to_string(server.port()),
            "--workload", config().workload, "--duration", std::to_string(seconds), "--warmup", "0",
            "--quiet", "--out", report};
  l.await_listening = false;
  harness::server_process client(l);
  const auto e = client.wait_for(std::chrono::seconds(seconds) + scaled(60s));
  BOOST_REQUIRE_MESSAGE(e.has_value(), config().name << ": `ioduel drive` (" << what << ") ran past its time");
  BOOST_REQUIRE_MESSAGE(e->clean(), config().name << ": `ioduel drive` (" << what << ") ended with "
                                                  << e->describe() << ":\n" << client.stderr_tail());
  std::ifstream in(report);
  BOOST_REQUIRE_MESSAGE(in, config().name << ": no report at " << report);
  return nlohmann::json::parse(in);
}

// The server's RSS once it has let go of every connection `ioduel drive`
// made: the reading waits (on STATS) until the asking connection is the only
// one open, since closing a connection is what gives its memory back.
std::uint64_t rss_when_idle(const harness::server_process& server, const std::string& what) {
  client asking(server.host(), server.port());
  const auto deadline = clock_type::now() + scaled(10s);
  for (std::uint64_t id = 1;; ++id) {
    if (asking.stats(id).value("connections_open", 0ull) == 1) break;
    BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline,
                          config().name << ": connections still open 10 s after `ioduel drive` (" << what << ")");
    asking.silent_for(10ms);  // the pause between two looks
  }
  return server.sample().rss_bytes;
}

// Every repetition of every result: status ok, valid, and every error counter 0.
void check_no_errors(const nlohmann::json& report, const std::string& what) {
  std::size_t repetitions = 0;
  for (const auto& w : report.at("workloads"))
    for (const auto& r : w.at("results")) {
      BOOST_TEST(r.value("status", "") == "ok", config().name << ": " << what << ": status " << r.at("status")
                                                              << " (" << r.value("status_reason", nlohmann::json()) << ")");
      for (const auto& rep : r.at("repetitions")) {
        ++repetitions;
        BOOST_TEST(rep.value("valid", false), config().name << ": " << what << ": an invalid repetition");
        for (const auto& [counter, n] : rep.at("errors").items())
          BOOST_TEST(n.get<std::uint64_t>() == 0u, config().name << ": " << what << ": " << n << " " << counter);
      }
    }
  BOOST_TEST(repetitions > 0u, config().name << ": " << what << ": the report holds no measurement");
}

}  // namespace

BOOST_AUTO_TEST_CASE(mixed_load_without_errors_or_growth, *boost::unit_test::precondition(server_available)) {
  raise_open_file_limit();
  const char* env = std::getenv("IODUEL_SOAK_SECONDS");
  const int seconds = env && std::atoi(env) > 0 ? std::atoi(env) : 60;
  harness::server_process server(server_launch());

  check_no_errors(drive(server, 10, "warm-up"), "warm-up");
  const std::uint64_t warm = rss_when_idle(server, "warm-up");
  check_no_errors(drive(server, seconds, "window"), "the " + std::to_string(seconds) + " s window");
  const std::uint64_t end = rss_when_idle(server, "window");
  BOOST_TEST_MESSAGE(config().name << ": RSS " << (warm >> 10) << " KiB after the warm-up, " << (end >> 10)
                                   << " KiB after " << seconds << " s");
  BOOST_TEST(end <= warm + warm / 10, config().name << ": RSS grew from " << (warm >> 10) << " KiB after the warm-up to "
                                                   << (end >> 10) << " KiB after " << seconds << " s (over 10%)");
  const auto e = server.stop(scaled(10s));
  BOOST_TEST(e.clean(), config().name << ": after SIGTERM the server ended with " << e.describe() << ":\n"
                                      << server.stderr_tail());
}

}  // namespace ioduel::testing
