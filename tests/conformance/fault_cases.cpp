// Conformance, part 9: the kernel refusing a write (issue 13, item 4).  A
// send that fails with ENOBUFS (no memory for the segment just now) wrote
// nothing; the connection is healthy, so the server must try again later and
// lose nothing, neither a byte of its replies nor the connection.  The
// failures come from fault_inject.cpp, preloaded into the server.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

// io_uring servers send through the ring, out of the preloaded library's
// reach: the case cannot make their sends fail, so it does not run there.
boost::test_tools::assertion_result sends_are_system_calls(boost::unit_test::test_unit_id) {
  if (sanitized_build) {
    // Not yet tried ahead of a sanitizer's runtime (the interposed calls and
    // its own interceptors): the plain build runs the case on every server.
    boost::test_tools::assertion_result r(false);
    r.message() << "the fault injector runs in the plain build only";
    return r;
  }
  const auto& argv = server_config::get().argv;
  if (!argv.empty() && argv[0].find("uring") != std::string::npos) {
    boost::test_tools::assertion_result r(false);
    r.message() << "an io_uring server's sends do not go through send(2), where the fault is injected";
    return r;
  }
  return true;
}

unsigned long injected(const std::string& path) {
  std::ifstream in(path);
  unsigned long n = 0;
  in >> n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernel_faults, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(enobufs_on_a_write_loses_nothing, server_fixture,
                        *boost::unit_test::precondition(sends_are_system_calls)) {
  char count_file[] = "/tmp/ioduel-faults-XXXXXX";
  const int fd = ::mkstemp(count_file);
  BOOST_REQUIRE(fd >= 0);
  ::close(fd);
  std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
  asan += (asan.empty() ? "" : ":") + std::string("verify_asan_link_order=0");
  options opts;
  opts.env = {{"LD_PRELOAD", IODUEL_FAULT_INJECT_PATH},
              {"IODUEL_FAULT_ENOBUFS_EVERY", "3"},  // every third send on a socket fails
              {"IODUEL_FAULT_COUNT_FILE", count_file},
              {"ASAN_OPTIONS", asan}};
  start(opts);
  client c = connect();
  // One at a time: each reply is a send of its own, so every third fails whole.
  for (std::uint32_t i = 0; i < 60; ++i)
    c.round_trip({request::echo(i, pattern_bytes(1 + i * 331, i))}, name() + ": ECHO " + std::to_string(i));
  // Pipelined and large: failures mid-stream, with output queued behind them.
  std::vector<request> batch;
  for (std::uint32_t i = 0; i < 16; ++i) batch.push_back(request::echo(100 + i, pattern_bytes(64 * 1024, 100 + i)));
  batch.push_back(request::source(200, 1024 * 1024));
  batch.push_back(request::echo(201, "last"));
  c.round_trip(batch, name() + ": pipelined under ENOBUFS");
  const unsigned long n = injected(count_file);
  BOOST_TEST_MESSAGE(name() << ": " << n << " sends failed with ENOBUFS");
  BOOST_TEST(n >= 20u, name() << ": only " << n << " sends were made to fail; the injector did not reach the server");
  // Still open and serving.
  c.round_trip({request::echo(300, "after")}, name() + ": after the failures");
  c.close_gracefully();
  finish();
  std::remove(count_file);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
