#define BOOST_TEST_MODULE ioduel harness run
#include <boost/test/unit_test.hpp>
