#define BOOST_TEST_MODULE ioduel harness measure
#include <boost/test/unit_test.hpp>
