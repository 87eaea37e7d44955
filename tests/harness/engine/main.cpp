#define BOOST_TEST_MODULE ioduel harness engine
#include <boost/test/unit_test.hpp>
