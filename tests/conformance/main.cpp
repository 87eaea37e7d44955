#define BOOST_TEST_MODULE conformance
#include <boost/test/unit_test.hpp>

#include "server_fixture.hpp"

namespace ioduel::testing {

// The suites of this module, renamed at start-up to "CONFIG:SUITE" so that
// every failure line names the configuration as well as the case.
constexpr const char* suites[] = {"wire",  "bad_input", "broken_peers", "limits",       "raw_echo",
                                  "stop",  "drain",     "deadlines",    "flow_control", "resources"};

struct conformance_setup {
  conformance_setup() {
    raise_open_file_limit();  // the many-connection cases need thousands
    const auto& cfg = server_config::get();
    auto& master = boost::unit_test::framework::master_test_suite();
    master.p_name.value = "conformance[" + cfg.name + "]";
    for (const char* suite : suites) {
      const auto id = master.get(suite);
      if (id != boost::unit_test::INV_TEST_UNIT_ID)
        boost::unit_test::framework::get<boost::unit_test::test_suite>(id).p_name.value =
            cfg.name + ":" + suite;
    }
    probe_server_availability();
    if (!cfg.available) BOOST_TEST_MESSAGE(cfg.unavailable_reason << "; every case is skipped");
  }
};

BOOST_TEST_GLOBAL_FIXTURE(conformance_setup);

}  // namespace ioduel::testing
