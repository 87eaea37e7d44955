#define BOOST_TEST_MODULE measure
#include <boost/test/unit_test.hpp>
