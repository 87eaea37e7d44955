#define BOOST_TEST_MODULE proactor
#include <boost/test/unit_test.hpp>
