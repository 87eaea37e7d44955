#define BOOST_TEST_MODULE ioduel harness load
#include <boost/test/unit_test.hpp>
