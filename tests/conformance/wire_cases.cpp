// Conformance, part 1: the wire protocol as docs/protocol.md states it, spoken by
// well-behaved clients.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>

#include "server_fixture.hpp"

namespace ioduel::testing {

using protocol::opcode;

BOOST_AUTO_TEST_SUITE(wire, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(every_opcode_is_answered, server_fixture) {
  start();
  client c = connect();
  c.round_trip({request::echo(7, pattern_bytes(100, 7))}, "ECHO");
  c.round_trip({request::sink(8, pattern_bytes(1000, 8))}, "SINK");
  c.round_trip({request::source(0x1FE, 1000)}, "SOURCE");

  const auto sent = clock_type::now();
  c.round_trip({request::sleep(9, 100'000)}, "SLEEP");
  BOOST_TEST((clock_type::now() - sent >= 100ms), name() << ": SLEEP 100 ms answered early");

  const nlohmann::json j = c.stats(10);
  for (const auto& key : stats_keys()) BOOST_TEST(j.contains(key), name() << ": STATS lacks " << key);
  BOOST_TEST((j.value("server", "") == "reactor" || j.value("server", "") == "proactor"),
             name() << ": STATS server is " << j["server"]);
  const std::string backend = j.value("backend", "");
  BOOST_TEST((backend == "epoll" || backend == "poll" || backend == "select" || backend == "io_uring"),
             name() << ": STATS backend is " << j["backend"]);
  BOOST_TEST(j.value("threads", 0u) >= 1u, name() << ": STATS threads is " << j["threads"]);
  BOOST_TEST(j["uptime_s"].is_number(), name() << ": STATS uptime_s is " << j["uptime_s"]);
  BOOST_TEST(j.value("connections_open", 0u) == 1u, name() << ": STATS " << j.dump());
  c.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(empty_and_max_frame_payloads, server_fixture) {
  start();
  client c = connect();
  const std::uint32_t max = protocol::default_max_frame;
  c.round_trip({request::echo(1, ""), request::sink(2, ""), request::source(3, 0)}, "empty payloads");
  c.round_trip({request::echo(4, pattern_bytes(max, 4))}, "ECHO of the max frame");
  c.round_trip({request::sink(5, pattern_bytes(max, 5))}, "SINK of the max frame");
  c.round_trip({request::source(6, max)}, "SOURCE of the max frame");
  c.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(a_thousand_frames_in_one_write, server_fixture) {
  start();
  client c = connect();
  std::vector<request> batch;
  for (std::uint64_t id = 1; id <= 1000; ++id)
    batch.push_back(id % 10 == 0 ? request::source(id, static_cast<std::uint32_t>(id))
                                 : request::echo(id, pattern_bytes(id % 100, static_cast<std::uint32_t>(id))));
  c.round_trip(batch, "1,000 pipelined frames");
  c.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(frames_split_at_every_byte_boundary, server_fixture) {
  start();
  client c = connect();
  const std::vector<request> batch = {request::echo(1, pattern_bytes(20, 1)), request::source(2, 64),
                                      request::sink(3, "seven.."),  request::sleep(4, 1),
                                      request::stats(5),            request::echo(6, "")};
  std::string wire;
  for (const auto& q : batch) wire += q.wire();
  const auto check_all = [&](const std::string& what) {
    for (const auto& q : batch) check_reply(q, c.read_reply(), what);
  };
  // Two writes split at each boundary.  (TCP_NODELAY sends each write as it
  // comes; the server may still read both at once, which is correct too.)
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    c.send_raw(std::string_view(wire).substr(0, cut));
    c.send_raw(std::string_view(wire).substr(cut));
    c.ledger()->frames_in += batch.size();
    c.ledger()->bytes_in += wire.size();
    check_all("split at byte " + std::to_string(cut));
  }
  // And one byte per write.
  for (char byte : wire) c.send_raw(std::string_view(&byte, 1));
  c.ledger()->frames_in += batch.size();
  c.ledger()->bytes_in += wire.size();
  check_all("one byte per write");
  c.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(mixed_opcodes_stay_in_order, server_fixture) {
  start();
  client c = connect();
  std::mt19937_64 rng(42);
  std::vector<request> batch;
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t id = rng();  // ids in no order: the server only copies them
    switch (rng() % 5) {
      case 0: batch.push_back(request::echo(id, pattern_bytes(rng() % 2000, static_cast<std::uint32_t>(i)))); break;
      case 1: batch.push_back(request::sink(id, pattern_bytes(rng() % 2000, static_cast<std::uint32_t>(i)))); break;
      case 2: batch.push_back(request::source(id, static_cast<std::uint32_t>(rng() % 5000))); break;
      case 3: batch.push_back(request::sleep(id, static_cast<std::uint32_t>(rng() % 2000))); break;
      default: batch.push_back(request::stats(id)); break;
    }
  }
  c.round_trip(batch, "300 mixed requests");
  c.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(sleep_delays_only_its_own_connection, server_fixture) {
  start();
  client a = connect();
  client b = connect();
  // Long enough that B's round trip ends inside it on any machine (scaled
  // for the sanitizer builds, within the protocol's 10 s).
  const auto delay = std::min<std::chrono::milliseconds>(scaled(2s), 10s);
  const request sleep = request::sleep(1, static_cast<std::uint32_t>(std::chrono::microseconds(delay).count()));
  const auto sent = clock_type::now();
  a.send({sleep, request::echo(2, "after the sleep")});
  // B is answered while A's SLEEP is still pending.
  b.round_trip({request::echo(3, "not delayed"), request::source(4, 100)}, "B during A's SLEEP");
  BOOST_TEST(!a.has_input(), name() << ": A's reply arrived before B was answered");
  // A's replies: SLEEP first, after its delay, then the ECHO queued behind it.
  check_reply(sleep, a.read_reply(scaled(10s) + delay), "A's SLEEP");
  BOOST_TEST((clock_type::now() - sent >= delay), name() << ": SLEEP " << delay.count() << " ms answered early");
  check_reply(request::echo(2, "after the sleep"), a.read_reply(), "A's ECHO behind its SLEEP");
  a.close_gracefully();
  b.close_gracefully();
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
