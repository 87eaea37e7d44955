// The open-file limit: a workload with more connections than the process may
// open is scaled down to fit, group by group, and the run says why.

#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "harness/run/runner.hpp"
#include "harness/workload/workload.hpp"

namespace fs = std::filesystem;
using namespace ioduel::harness;

namespace {
const fs::path source_dir = IODUEL_SOURCE_DIR;
}  // namespace

BOOST_AUTO_TEST_SUITE(open_file_limit)

BOOST_AUTO_TEST_CASE(connections_are_scaled_to_the_limit_and_the_reason_given) {
  workload w = load_workload_file(source_dir / "workloads/idle-crowd.json").at(0);
  BOOST_TEST(fit_connections(w, 1'000'000).empty());
  BOOST_TEST(w.total_connections() == 10'004u);
  const std::string why = fit_connections(w, 5'000);
  BOOST_TEST(why.find("5000") != std::string::npos, why);
  BOOST_TEST(why.find("10004") != std::string::npos, why);
  BOOST_TEST(w.total_connections() <= 5'000u - 64u);
  BOOST_TEST(w.total_connections() > 4'000u);
  BOOST_TEST(w.groups[1].connections >= 1u);  // every group keeps at least one
  BOOST_TEST(raise_nofile_limit() >= 1'024u);
}

BOOST_AUTO_TEST_SUITE_END()
