// The order servers run in within each round (harness/run/runner.hpp,
// round_order): a permutation, seeded, and balanced over many rounds.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "harness/run/runner.hpp"

using ioduel::harness::round_order;

BOOST_AUTO_TEST_SUITE(rounds)

BOOST_AUTO_TEST_CASE(each_round_is_a_permutation_fixed_by_the_seed) {
  for (unsigned round = 1; round <= 50; ++round) {
    auto order = round_order(4, 7, 2, round);
    BOOST_TEST(order == round_order(4, 7, 2, round));  // the same seed, the same order
    std::sort(order.begin(), order.end());
    BOOST_TEST((order == std::vector<std::size_t>{0, 1, 2, 3}));
  }
  BOOST_TEST(round_order(1, 7, 0, 1) == std::vector<std::size_t>{0});
  BOOST_TEST(round_order(0, 7, 0, 1).empty());
  // Another seed, workload or round gives other orders (not all the same).
  std::set<std::vector<std::size_t>> seen;
  for (unsigned round = 1; round <= 20; ++round) seen.insert(round_order(3, 1, 0, round));
  BOOST_TEST(seen.size() > 3u);
  BOOST_TEST((round_order(5, 1, 0, 1) != round_order(5, 2, 0, 1) ||
              round_order(5, 1, 0, 2) != round_order(5, 2, 0, 2)));
}

BOOST_AUTO_TEST_CASE(over_many_rounds_every_server_is_at_every_place_alike) {
  // 3 servers, 6,000 rounds: each server at each place about 2,000 times
  // (the binomial sd is 37; 6 sd of slack), and every order about 1,000.
  constexpr std::size_t servers = 3, rounds = 6000;
  std::vector<std::vector<int>> at(servers, std::vector<int>(servers, 0));
  std::map<std::vector<std::size_t>, int> orders;
  for (unsigned round = 1; round <= rounds; ++round) {
    const auto order = round_order(servers, 42, 0, round);
    for (std::size_t place = 0; place < servers; ++place) ++at[order[place]][place];
    ++orders[order];
  }
  for (std::size_t s = 0; s < servers; ++s)
    for (std::size_t place = 0; place < servers; ++place)
      BOOST_TEST(std::abs(at[s][place] - 2000) < 220, "server " << s << " at place " << place << ": " << at[s][place]);
  BOOST_TEST(orders.size() == 6u);
  for (const auto& [order, n] : orders) BOOST_TEST(std::abs(n - 1000) < 180, n);
}

BOOST_AUTO_TEST_SUITE_END()
