#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.hpp"
#include "protocol/replies.hpp"
#include "reactor/buffer.hpp"
#include "reactor/output_queue.hpp"
#include "reactor/read_blocks.hpp"
#include "reactor/reply_batch.hpp"

using ioduel::unique_fd;
using ioduel::reactor::buffer;
using ioduel::reactor::output_queue;
using ioduel::reactor::read_blocks;
using ioduel::reactor::reply_batch;
namespace protocol = ioduel::protocol;

namespace {

// A connected pair: what the batch sends on one end is read on the other.
struct socket_pair {
  unique_fd a, b;
  socket_pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  std::string read_all() {
    std::string got;
    char chunk[65536];
    for (;;) {
      const ssize_t n = ::read(b.get(), chunk, sizeof chunk);
      if (n <= 0) return got;
      got.append(chunk, static_cast<std::size_t>(n));
    }
  }
};

// Sends the whole queue through `p` at most `step` bytes per send, as a
// socket taking part at a time would, handing each piece consumed to
// on_bytes(const char*, len) or on_pattern(len); returns what arrived.
template <class OnBytes, class OnPattern>
std::string send_in_steps(output_queue& q, socket_pair& p, std::size_t step, OnBytes&& on_bytes,
                          OnPattern&& on_pattern) {
  std::string got;
  while (!q.empty()) {
    std::size_t offered = 0;
    const long n = q.send(p.a.get(), step, offered);
    BOOST_REQUIRE(n > 0);
    BOOST_TEST(offered == std::min<std::size_t>(step, q.size()));
    q.consume(static_cast<std::size_t>(n), on_bytes, on_pattern, [](std::unique_ptr<char[]>, std::size_t) {});
    got += p.read_all();
  }
  return got;
}

// The frames the batch should produce, built the plain way.
std::string expected_replies(std::string_view echo_request) {
  std::string s(echo_request);
  protocol::string_output out(s);
  protocol::append_empty_reply(out, protocol::opcode::sink_reply, 7);
  protocol::string_output out2(s);
  protocol::append_source_reply(out2, 300, 70000);
  return s;
}

std::string echo_request() {
  std::string s;
  protocol::string_output out(s);
  protocol::append_frame(out, protocol::opcode::echo, 5, std::string(100, 'e'));
  return s;
}

void fill(reply_batch& batch, const std::string& echo) {
  batch.add_borrowed({echo.data(), echo.size()}, true);
  batch.add_frame(protocol::opcode::sink_reply, 7, {});
  batch.add_source(300, 70000);  // two pattern chunks, from offset 300 mod 256
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reply_batch_suite)

BOOST_AUTO_TEST_CASE(sends_the_replies_from_where_they_lie_in_order) {
  buffer scratch;
  reply_batch batch(scratch);
  const std::string echo = echo_request();
  fill(batch, echo);
  const std::string want = expected_replies(echo);
  BOOST_TEST(batch.bytes() == want.size());
  socket_pair p;
  const long n = batch.send(p.a.get(), batch.bytes());
  BOOST_TEST(n == static_cast<long>(want.size()));
  BOOST_TEST(p.read_all() == want);
  BOOST_TEST(batch.replies_within(want.size()) == 3u);
  BOOST_TEST(batch.cut_reply_left(want.size()) == 0u);
}

BOOST_AUTO_TEST_CASE(a_limit_sends_a_prefix_and_the_spill_holds_exactly_the_rest) {
  const std::string echo = echo_request();
  const std::string want = expected_replies(echo);
  for (std::size_t limit : {std::size_t{1}, echo.size(), echo.size() + 3, echo.size() + 16,
                            echo.size() + 16 + 16 + 65536, want.size() - 1}) {
    buffer scratch;
    reply_batch batch(scratch);
    fill(batch, echo);
    socket_pair p;
    const long n = batch.send(p.a.get(), limit);
    BOOST_REQUIRE(n == static_cast<long>(limit));
    const auto sent = static_cast<std::size_t>(n);
    buffer rest;
    batch.spill(sent, rest);
    BOOST_TEST(p.read_all() + std::string(rest.peek(), rest.readable()) == want);
    // Replies counted as sent: those whose last byte went.
    const std::uint64_t whole = (sent >= echo.size()) + (sent >= echo.size() + 16) + (sent >= want.size());
    BOOST_TEST(batch.replies_within(sent) == whole);
    // What is left of the reply cut at `sent`.
    std::size_t left = 0;
    if (sent < echo.size()) left = echo.size() - sent;
    else if (sent > echo.size() && sent < echo.size() + 16) left = echo.size() + 16 - sent;
    else if (sent > echo.size() + 16) left = want.size() - sent;
    BOOST_TEST(batch.cut_reply_left(sent) == left);
  }
}

BOOST_AUTO_TEST_CASE(a_long_source_is_one_part_of_the_pattern_and_never_built_in_scratch) {
  const std::uint32_t n = 200u * 64u * 1024u + 77u;  // 200 pattern pieces and some
  BOOST_TEST(reply_batch::source_parts(n) == 2u);
  BOOST_TEST(reply_batch::source_parts(0) == 1u);
  buffer scratch;
  reply_batch batch(scratch);
  batch.add_source(9, n);
  BOOST_TEST(batch.bytes() == protocol::header_size + n);
  BOOST_TEST(scratch.readable() == protocol::header_size);  // the header only
  buffer rest;
  batch.spill(0, rest);
  BOOST_REQUIRE(rest.readable() == protocol::header_size + n);
  const std::span<const char> payload(rest.peek() + protocol::header_size, n);
  BOOST_TEST(protocol::check_source_pattern(payload, 9) == n);
}

BOOST_AUTO_TEST_CASE(an_output_queue_keeps_source_payloads_as_cursors_and_sends_in_order) {
  const std::string echo = echo_request();
  const std::string want = expected_replies(echo);
  const std::size_t payload_at = echo.size() + 16 + 16;  // the SOURCE's payload begins here
  for (std::size_t sent : {std::size_t{0}, std::size_t{5}, payload_at - 1, payload_at,
                           payload_at + 1000, want.size() - 1}) {
    buffer scratch;
    reply_batch batch(scratch);
    fill(batch, echo);
    read_blocks blocks;
    output_queue q(blocks);
    batch.spill(sent, q);
    // A second batch queued behind the first: its payload is a cursor too.
    buffer scratch2;
    reply_batch batch2(scratch2);
    fill(batch2, echo);
    batch2.spill(0, q);
    const std::string all = want.substr(sent) + want;
    BOOST_REQUIRE(q.size() == all.size());
    // Sent in steps, as a socket taking part at a time would; the pattern
    // bytes consumed are exactly the payloads' (no byte of them was copied).
    socket_pair p;
    std::size_t pattern_bytes = 0, copied_bytes = 0;
    const std::string got = send_in_steps(
        q, p, 30000, [&](const char*, std::size_t k) { copied_bytes += k; },
        [&](std::size_t k) { pattern_bytes += k; });
    BOOST_TEST(got == all);
    BOOST_TEST(pattern_bytes == 70000 - (sent > payload_at ? sent - payload_at : 0) + 70000);
    BOOST_TEST(copied_bytes + pattern_bytes == all.size());
  }
}

BOOST_AUTO_TEST_CASE(an_output_queue_keeps_echoed_bytes_where_they_were_read) {
  // Two ECHO frames read into the loop's block; the socket took part of the
  // first.  The queue takes the block and keeps the rest where it lies: every
  // byte it hands on is in the block (none copied), the header between
  // them is copied, and the block goes back to the loop once all is sent.
  read_blocks blocks;
  char* const block = blocks.current();
  std::string frames;
  protocol::string_output out(frames);
  protocol::append_frame(out, protocol::opcode::echo, 1, std::string(20000, 'a'));
  protocol::append_frame(out, protocol::opcode::echo, 2, std::string(30000, 'b'));
  std::memcpy(block, frames.data(), frames.size());
  const std::size_t first = protocol::header_size + 20000, sent = 7000;

  output_queue q(blocks);
  BOOST_REQUIRE(q.can_take_block());
  q.make_room_for_block();  // take_block's precondition (it cannot fail after)
  q.take_block(blocks.lend(), read_blocks::block_size, true);
  BOOST_TEST(blocks.lent() == 1u);
  BOOST_TEST(static_cast<const void*>(blocks.current()) != block);  // the loop reads into another block now
  BOOST_REQUIRE(q.append_held({block + sent, first - sent}));
  std::string between;
  protocol::string_output out2(between);
  protocol::append_empty_reply(out2, protocol::opcode::sink_reply, 3);
  q.append(between);
  BOOST_REQUIRE(q.append_held({block + first, frames.size() - first}));
  BOOST_TEST(!q.append_held({frames.data(), 10}));  // not in a block it holds: the caller copies
  const std::string want = frames.substr(sent, first - sent) + between + frames.substr(first);
  BOOST_REQUIRE(q.size() == want.size());

  socket_pair p;
  std::size_t in_block = 0, elsewhere = 0;
  const std::string got = send_in_steps(
      q, p, 9000,
      [&](const char* at, std::size_t k) {
        (at >= block && at + k <= block + read_blocks::block_size ? in_block : elsewhere) += k;
      },
      [](std::size_t) {});
  BOOST_TEST(got == want);
  BOOST_TEST(in_block == frames.size() - sent);
  BOOST_TEST(elsewhere == between.size());
  BOOST_TEST(blocks.lent() == 0u);
}

BOOST_AUTO_TEST_CASE(input_storage_taken_by_an_output_queue_comes_back) {
  // A large frame answered from the input buffer: the queue takes its
  // storage whole and hands it back once the rest is sent.
  read_blocks blocks;
  buffer in;
  const std::string frame(300000, 'x');
  in.append(frame);
  std::size_t size = 0;
  const char* at = in.peek();
  output_queue q(blocks);
  q.make_room_for_block();
  std::unique_ptr<char[]> storage = in.take_storage(size);
  q.take_block(std::move(storage), size, false);
  BOOST_TEST(in.capacity() == 0u);
  BOOST_TEST(in.empty());
  BOOST_REQUIRE(q.append_held({at + 1000, frame.size() - 1000}));
  std::unique_ptr<char[]> back;
  std::size_t back_size = 0;
  q.consume(
      frame.size() - 1000, [](const char*, std::size_t) {}, [](std::size_t) {},
      [&](std::unique_ptr<char[]> s, std::size_t n) {
        back = std::move(s);
        back_size = n;
      });
  BOOST_TEST(q.empty());
  BOOST_TEST(static_cast<const void*>(back.get()) == at);
  BOOST_TEST(back_size == size);
  in.give_storage(std::move(back), back_size);
  BOOST_TEST(in.capacity() == size);
  BOOST_TEST(blocks.lent() == 0u);  // input storage is not the loop's
}

BOOST_AUTO_TEST_CASE(read_blocks_lend_within_their_bound) {
  read_blocks blocks;
  std::vector<std::unique_ptr<char[]>> out;
  while (blocks.can_lend()) out.push_back(blocks.lend());
  BOOST_TEST(out.size() == read_blocks::max_lent);
  BOOST_TEST(static_cast<const void*>(blocks.current()) != nullptr);
  for (auto& b : out) blocks.give_back(std::move(b));
  BOOST_TEST(blocks.lent() == 0u);
  // Spares are reused before anything is allocated, and trimmed to max_spare.
  blocks.trim();
  const char* reused = blocks.current();
  auto b = blocks.lend();
  BOOST_TEST(static_cast<const void*>(b.get()) == reused);
  BOOST_TEST(static_cast<const void*>(blocks.current()) != nullptr);
  blocks.give_back(std::move(b));
}

BOOST_AUTO_TEST_CASE(a_full_batch_keeps_a_part_for_an_error) {
  buffer scratch;
  reply_batch batch(scratch);
  const std::string echo = echo_request();
  std::size_t added = 0;
  while (!batch.full()) {
    batch.add_borrowed({echo.data(), echo.size()}, true);
    ++added;
  }
  BOOST_TEST(added == reply_batch::max_parts - 1);
  batch.add_frame(protocol::opcode::error, 1, "bad");  // the spare part
  BOOST_TEST(batch.replies_within(batch.bytes()) == reply_batch::max_parts);
  batch.clear();
  BOOST_TEST(batch.empty());
  BOOST_TEST(scratch.empty());
}

BOOST_AUTO_TEST_SUITE_END()
