#define BOOST_TEST_MODULE ioduel harness report
#include <boost/test/unit_test.hpp>
