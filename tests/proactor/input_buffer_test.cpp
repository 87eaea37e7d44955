#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>

#include "proactor/input_buffer.hpp"

using ioduel::proactor::input_buffer;
using ioduel::proactor::io_buffer;
using ioduel::proactor::reserve_step;

namespace {

// Lands `n` bytes through a read into whatever prepare_read() offers.
std::size_t land(input_buffer& in, std::size_t needed, std::size_t n) {
  const auto target = in.prepare_read(needed);
  const std::size_t took = std::min(n, target.size());
  std::memset(target.data(), 'x', took);
  in.commit(took);
  return target.size();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(input_buffer_suite)

// A header declaring 1 MiB and one byte behind it: room for reserve_step, not
// for the whole frame; then the room grows with what lands, never past it.
BOOST_AUTO_TEST_CASE(a_declared_frame_is_reserved_as_it_arrives) {
  constexpr std::size_t frame = (1u << 20) + 16;
  input_buffer in;
  land(in, 16, 17);
  in.adjust(frame, false);  // the frame at the front needs more than small_ holds
  const std::size_t first = in.prepare_read(frame).size();
  BOOST_TEST(17 + first <= reserve_step);
  std::size_t have = 17, largest = 0;
  while (have < frame) {
    const std::size_t offered = land(in, frame, frame - have);
    BOOST_TEST(offered <= std::max(reserve_step, 2 * have));
    largest = std::max(largest, have + offered);
    have += std::min(offered, frame - have);
    in.adjust(frame, false);
  }
  BOOST_TEST(in.bytes().size() == frame);
  BOOST_TEST(largest <= 2 * frame);
}

// After an allocation failure the input's block becomes the ERROR reply's
// storage when the output has none.
BOOST_AUTO_TEST_CASE(dropped_input_lends_its_block_to_empty_output) {
  input_buffer in;
  land(in, 16, 17);
  in.adjust(1u << 20, false);
  io_buffer out;
  in.drop(false, out);
  BOOST_TEST(in.bytes().empty());
  BOOST_TEST(out.has_storage());
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_SUITE_END()
