#define BOOST_TEST_MODULE reactor
#include <boost/test/unit_test.hpp>
