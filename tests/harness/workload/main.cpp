#define BOOST_TEST_MODULE ioduel harness workload
#include <boost/test/unit_test.hpp>
