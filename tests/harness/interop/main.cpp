#define BOOST_TEST_MODULE histogram_interop
#include <boost/test/unit_test.hpp>
