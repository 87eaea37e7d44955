#define BOOST_TEST_MODULE server_process
#include <boost/test/unit_test.hpp>
