#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "protocol/stats.hpp"

using namespace ioduel::protocol;

BOOST_AUTO_TEST_SUITE(stats)

BOOST_AUTO_TEST_CASE(json_has_every_key_with_summed_values) {
  server_counters a, b;
  a.connections_accepted.add_local(3);
  a.connections_closed.add_local(1);
  b.connections_accepted.add(2);
  b.connections_rejected.add(4);
  a.frames_in.add_local(10);
  b.frames_out.add(11);
  a.bytes_in.add_local(1000);
  b.bytes_out.add(2000);
  a.protocol_errors.add_local();
  b.idle_timeouts.add();
  a.oob_discarded.add_local(2);
  b.connections_failed.add();

  counter_snapshot sum = a.snapshot();
  sum += b.snapshot();
  const auto j = nlohmann::json::parse(stats_json({"reactor", "epoll", 4}, sum));
  BOOST_TEST(j["server"] == "reactor");
  BOOST_TEST(j["backend"] == "epoll");
  BOOST_TEST(j["threads"] == 4);
  BOOST_TEST(j["connections_accepted"] == 5);
  BOOST_TEST(j["connections_open"] == 4);
  BOOST_TEST(j["connections_rejected"] == 4);
  BOOST_TEST(j["connections_failed"] == 1);
  BOOST_TEST(j["frames_in"] == 10);
  BOOST_TEST(j["frames_out"] == 11);
  BOOST_TEST(j["bytes_in"] == 1000);
  BOOST_TEST(j["bytes_out"] == 2000);
  BOOST_TEST(j["protocol_errors"] == 1);
  BOOST_TEST(j["idle_timeouts"] == 1);
  BOOST_TEST(j["oob_discarded"] == 2);
  BOOST_TEST(j["uptime_s"].is_number_float());
  BOOST_TEST(j["uptime_s"].get<double>() >= 0.0);
}

BOOST_AUTO_TEST_CASE(open_count_never_wraps) {
  counter_snapshot s;
  s.connections_accepted = 1;
  s.connections_closed = 2;  // a close seen before its accept on another thread
  const auto j = nlohmann::json::parse(stats_json({"proactor", "io_uring", 2}, s));
  BOOST_TEST(j["connections_open"] == 0);
}

BOOST_AUTO_TEST_CASE(shared_counter_adds_from_many_threads) {
  server_counters c;
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) c.frames_in.add();
    });
  threads.clear();
  BOOST_TEST(c.frames_in.get() == 40'000u);
}

BOOST_AUTO_TEST_SUITE_END()
