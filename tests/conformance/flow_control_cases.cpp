// Conformance, part 7: flow control under hostile clients (issue 12).  A
// client that pauses and resumes, half-closes, never reads after a bad frame,
// declares frames it never sends, or asks for far more output than it sends:
// every frame fully received is answered, nothing stalls, nothing is held for
// ever, and one connection's trouble stays its own.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

constexpr std::uint32_t mib = 1u << 20;

// A 64 KiB receive buffer: the server's output backs up after a few replies.
void small_receive_buffer(client& c) {
  const int size = 64 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

std::vector<request> sources(std::size_t n, std::uint32_t size, std::uint64_t first_id) {
  std::vector<request> batch;
  for (std::size_t i = 0; i < n; ++i) batch.push_back(request::source(first_id + i, size));
  return batch;
}

// Waits, asking STATS on `control`, until the server's bytes_out (less the
// control connection's own replies) is non-zero and unchanged over two looks
// 100 ms apart: the server has answered what it could and is held back.
void wait_until_held_back(server_fixture& f, client& control, std::uint64_t& id) {
  std::uint64_t last = ~0ull;
  const auto deadline = clock_type::now() + scaled(10s);
  while (clock_type::now() < deadline) {
    traffic_ledger before;
    const std::uint64_t out = control.stats(id++, &before).value("bytes_out", 0ull) - before.bytes_out;
    if (out > 0 && out == last) return;
    last = out;
    BOOST_TEST(control.silent_for(100ms), f.name() << ": unsolicited bytes on the control connection");
  }
  BOOST_TEST_MESSAGE(f.name() << ": the server never settled (bytes_out " << last << ")");
}

// Reads replies until `batch` is answered or a read times out; returns how many came.
std::size_t read_replies(client& c, const std::vector<request>& batch, const std::string& what) {
  std::size_t got = 0;
  try {
    for (; got < batch.size(); ++got) check_reply(batch[got], c.read_reply(), what);
  } catch (const std::runtime_error& e) {
    BOOST_TEST_MESSAGE(what << ": " << e.what());
  }
  return got;
}

// /proc/PID/status's VmSize: the address space the server holds.
std::uint64_t address_space(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key) {
    if (key == "VmSize:") {
      in >> kib;
      return kib << 10;
    }
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(flow_control, *boost::unit_test::precondition(server_available))

// Defect 1: past --high-water the server stops answering; once the client
// reads again, the frames it had already sent must all be answered.
BOOST_FIXTURE_TEST_CASE(pause_then_resume_answers_every_frame, server_fixture) {
  start({"--high-water", "65536"});
  client control = connect();
  client c = connect();
  small_receive_buffer(c);
  const auto batch = sources(60, mib, 1000);
  c.send(batch);
  std::uint64_t id = 1;
  wait_until_held_back(*this, control, id);  // the client has stopped reading meanwhile
  const std::size_t got = read_replies(c, batch, name() + ": after the pause");
  BOOST_TEST(got == batch.size(), name() << ": " << got << " of " << batch.size()
                                         << " replies after a pause past --high-water");
  if (got != batch.size()) counts_are_lower_bounds();
  c.close_gracefully();
  control.close_gracefully();
  finish();
}

// Defect 2: the same with the client's write side shut: every frame received
// before the FIN is answered, then the server closes.
BOOST_FIXTURE_TEST_CASE(half_close_while_held_back_answers_every_frame, server_fixture) {
  start({"--high-water", "65536"});
  client control = connect();
  client c = connect();
  small_receive_buffer(c);
  const auto batch = sources(60, mib, 2000);
  c.send(batch);
  c.shutdown_write();
  std::uint64_t id = 1;
  wait_until_held_back(*this, control, id);
  const drain_result d = c.read_until_close();
  BOOST_TEST(d.replies.size() == batch.size(), name() << ": " << d.replies.size() << " of " << batch.size()
                                                      << " replies after SHUT_WR while held back");
  for (std::size_t i = 0; i < std::min(d.replies.size(), batch.size()); ++i)
    check_reply(batch[i], d.replies[i], name() + ": after SHUT_WR");
  BOOST_TEST(d.eof, name() << ": no orderly close after the replies");
  if (d.replies.size() != batch.size()) counts_are_lower_bounds();
  control.close_gracefully();
  finish();
}

// Defect 2, the drain: SIGTERM while a connection is held back past
// --high-water; every frame it had sent is answered before the close.
BOOST_FIXTURE_TEST_CASE(sigterm_while_held_back_answers_every_frame, server_fixture) {
  const auto drain = scaled(10s);
  start({"--high-water", "65536", "--drain-timeout-ms", std::to_string(drain.count())});
  client control = connect();
  client c = connect();
  small_receive_buffer(c);
  const auto batch = sources(60, mib, 3000);
  c.send(batch);
  std::uint64_t id = 1;
  wait_until_held_back(*this, control, id);
  server().signal(SIGTERM);
  const drain_result d = c.read_until_close();
  BOOST_TEST(d.replies.size() == batch.size(), name() << ": " << d.replies.size() << " of " << batch.size()
                                                      << " replies across SIGTERM while held back");
  for (std::size_t i = 0; i < std::min(d.replies.size(), batch.size()); ++i)
    check_reply(batch[i], d.replies[i], name() + ": across SIGTERM");
  BOOST_TEST(d.eof, name() << ": no orderly close after the drain");
  const auto e = server().wait_for(drain + scaled(2s));
  BOOST_REQUIRE_MESSAGE(e.has_value(), name() << ": still running after the drain timeout");
  BOOST_TEST(e->clean(), name() << ": ended with " << e->describe() << " after SIGTERM");
}

// Defect 3: a peer that sends requests and a bad frame and never reads holds a
// closing connection.  It must be closed once its output has not moved for
// --idle-timeout-ms (the closing deadline), not kept for ever.
BOOST_FIXTURE_TEST_CASE(closing_connection_has_a_deadline, server_fixture) {
  const auto idle_timeout = scaled(300ms);
  // High water above the replies: all are built and the ERROR queued behind
  // them, so the connection is closing, not paused.
  start({"--idle-timeout-ms", std::to_string(idle_timeout.count()), "--high-water", std::to_string(64 * mib)});
  counts_are_lower_bounds();  // the replies are never read
  client control = connect();
  std::vector<client> peers;
  for (int k = 0; k < 4; ++k) {
    peers.push_back(connect());
    small_receive_buffer(peers.back());
    peers.back().send(sources(10, mib, 4000 + 100 * k), "XX not a frame at all");
  }
  // The control connection keeps itself busy: a STATS round trip every 50 ms.
  const auto deadline = clock_type::now() + idle_timeout * 3 + scaled(5s);
  std::uint64_t open = 0;
  for (std::uint64_t id = 1; clock_type::now() < deadline; ++id) {
    open = control.stats(id).value("connections_open", 0ull);
    if (open == 1) break;
    BOOST_TEST(control.silent_for(50ms));
  }
  BOOST_TEST(open == 1u, name() << ": " << open - 1 << " of " << peers.size()
                                << " closing connections that never read still open after "
                                << std::chrono::duration_cast<std::chrono::milliseconds>(idle_timeout * 3 + scaled(5s)).count()
                                << " ms (--idle-timeout-ms " << idle_timeout.count() << ")");
  for (auto& p : peers) {
    const drain_result d = p.read_until_close(scaled(2s));
    BOOST_TEST((d.eof || d.reset), name() << ": a closing connection was not closed");
  }
  ledger().idle_timeouts = 0;
  control.close_gracefully();
  finish();
}

// Defect 5: a connection the server owes a reply to, or is still writing to,
// is not idle: a SLEEP longer than the idle timeout, then a SOURCE larger than
// the socket buffers that the client reads only after a pause longer than the
// idle timeout (the pause is the scenario, not a synchronisation).
BOOST_FIXTURE_TEST_CASE(owed_reply_is_not_idle, server_fixture) {
  constexpr std::uint32_t big = 16 * mib;
  const auto idle_timeout = scaled(1000ms);
  server_fixture::options o;
  o.flags = {"--idle-timeout-ms", std::to_string(idle_timeout.count()), "--max-frame", std::to_string(big)};
  o.max_frame = big;
  start(o);
  client c = connect();
  small_receive_buffer(c);
  const auto sleep_us = static_cast<std::uint32_t>(std::chrono::microseconds(idle_timeout).count() * 3 / 2);
  const std::vector<request> batch = {request::sleep(1, sleep_us), request::source(2, big)};
  c.send(batch);
  std::size_t got = 0;
  try {
    check_reply(batch[0], c.read_reply(idle_timeout * 2 + scaled(10s)), name() + ": the SLEEP");
    ++got;
    std::this_thread::sleep_for(idle_timeout * 3 / 2);  // a slow reader
    check_reply(batch[1], c.read_reply(), name() + ": the SOURCE, read after a pause");
    ++got;
  } catch (const std::runtime_error& e) {
    BOOST_TEST_MESSAGE(name() << ": " << e.what());
  }
  BOOST_TEST(got == batch.size(), name() << ": " << got << " of 2 replies: the connection was closed as idle "
                                            "while a reply was owed or being written");
  if (got != batch.size()) {
    counts_are_lower_bounds();
    ledger().idle_timeouts = 1;
  }
  c.close_gracefully();
  finish();
}

// Defect 7: frames_out and bytes_out count replies sent, not replies built.
// A SOURCE larger than any socket buffer, to a client that is not reading,
// has not been sent, so STATS must not count it yet.
BOOST_FIXTURE_TEST_CASE(frames_out_counts_replies_sent, server_fixture) {
  constexpr std::uint32_t big = 32 * mib;
  server_fixture::options o;
  o.flags = {"--max-frame", std::to_string(big), "--high-water", std::to_string(big + mib)};
  o.max_frame = big;
  start(o);
  client control = connect();
  client hog = connect();
  small_receive_buffer(hog);
  const request q = request::source(7, big);
  hog.send(q);
  // Wait until the server has received it (frames_in), then look three times.
  const auto deadline = clock_type::now() + scaled(10s);
  std::uint64_t id = 1;
  for (;; ++id) {
    traffic_ledger before;
    const auto j = control.stats(id, &before);
    if (j.value("frames_in", 0ull) >= before.frames_in) break;
    BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, name() << ": the SOURCE never arrived: " << j.dump());
    BOOST_TEST(control.silent_for(20ms));
  }
  for (int look = 0; look < 3; ++look, ++id) {
    traffic_ledger before;
    const auto j = control.stats(id, &before);
    BOOST_TEST(j.value("frames_out", 0ull) == before.frames_out,
               name() << ": frames_out counts a " << big << "-byte reply the client has not read: " << j.dump());
    BOOST_TEST(j.value("bytes_out", 0ull) < before.bytes_out + big,
               name() << ": bytes_out counts a reply not sent: " << j.dump());
    BOOST_TEST(control.silent_for(50ms));
  }
  check_reply(q, hog.read_reply(), name() + ": the big SOURCE, read at last");
  hog.close_gracefully();
  control.close_gracefully();
  finish();
}

// Defect 4: a header declares a frame; until the payload arrives the server
// must not reserve it whole.  1,000 headers declaring 1 MiB, one payload byte
// each, may not cost the server anything like 1,000 MiB of address space.
BOOST_FIXTURE_TEST_CASE(declared_frames_are_not_reserved_before_they_arrive, server_fixture) {
  start();
  counts_are_lower_bounds();
  client control = connect();
  control.round_trip({request::source(1, mib), request::echo(2, pattern_bytes(mib, 2))}, "warm-up");
  const std::uint64_t baseline = address_space(server().pid());
  const std::size_t n = sanitized_build ? 200 : 1000;
  std::vector<client> peers;
  peers.reserve(n);
  const std::string partial = raw_frame(0x01, 9, "x", protocol::default_max_frame);
  for (std::size_t i = 0; i < n; ++i) {
    peers.push_back(connect());
    peers.back().send_raw(partial);
  }
  // The server has read them once its address space stands still (or has
  // grown past the bound, which fails below anyway).
  const std::uint64_t bound = baseline + n * protocol::default_max_frame / 8 + (64u << 20);
  std::uint64_t vm = 0, last = ~0ull;
  const auto deadline = clock_type::now() + scaled(10s);
  for (std::uint64_t id = 10; clock_type::now() < deadline && vm <= bound; ++id) {
    control.round_trip({request::echo(id, "still here")}, name() + ": beside 1,000 partial frames");
    vm = address_space(server().pid());
    if (vm == last) break;
    last = vm;
    BOOST_TEST(control.silent_for(100ms));
  }
  BOOST_TEST(vm <= bound, name() << ": " << n << " headers declaring 1 MiB took the server from " << (baseline >> 20)
                                 << " to " << (vm >> 20) << " MiB of address space (bound " << (bound >> 20) << " MiB)");
  for (auto& p : peers) p.reset();
  control.close_gracefully();
  finish();
}

// Defect 4, the other half: an allocation that fails is the connection's
// trouble, not the server's.  Under an address-space limit 256 MiB above its
// idle size, 400 connections each send 900 KiB of a 1 MiB frame: the server
// cannot hold them all.  Some are closed (with an ERROR reply where it can
// still build one); a bystander is served throughout and the server lives.
// Not in sanitizer builds: their shadow memory needs terabytes of address space.
BOOST_FIXTURE_TEST_CASE(allocation_failure_closes_only_its_connection, server_fixture) {
  if (sanitized_build) {
    BOOST_TEST_MESSAGE(name() << ": skipped under a sanitizer (RLIMIT_AS)");
    return;
  }
  std::uint64_t idle_size = 0;
  {
    server_fixture probe;
    probe.start();
    client c = probe.connect();
    c.round_trip({request::echo(1, pattern_bytes(1000, 1))}, "probe");
    idle_size = address_space(probe.server().pid());
  }
  server_fixture::options o;
  o.address_space_limit = idle_size + (256u << 20);
  start(o);
  counts_are_lower_bounds();
  client bystander = connect();
  bystander.round_trip({request::echo(1, "before")}, name() + ": before the flood");
  const std::string partial = raw_frame(0x01, 9, pattern_bytes(900 << 10, 9), protocol::default_max_frame);
  std::vector<client> peers;
  for (int i = 0; i < 400; ++i) {
    peers.push_back(connect());
    try {
      peers.back().send_raw(partial);
    } catch (const std::system_error&) {
      // Closed by the server while we were still sending: one of those it could not hold.
    }
  }
  bystander.round_trip({request::echo(2, "during"), request::source(3, 1000)}, name() + ": beside the flood");
  // The kernel buffers what the server has not read yet: wait until the
  // server has turned a connection away (or the time is up; judged below).
  const auto deadline = clock_type::now() + scaled(10s);
  for (std::uint64_t id = 10; clock_type::now() < deadline && !server().try_wait(); ++id) {
    const auto j = bystander.stats(id);
    if (j.value("protocol_errors", 0ull) + j.value("connections_failed", 0ull) > 0) break;
    BOOST_TEST(bystander.silent_for(50ms));
  }
  std::size_t closed = 0, errors = 0, out_of_memory = 0;
  for (auto& p : peers) {
    if (!p.has_input()) continue;
    const drain_result d = p.read_until_close(scaled(2s));
    if (d.eof || d.reset) ++closed;
    for (const auto& r : d.replies) {
      if (r.hdr.op != protocol::opcode::error) continue;
      ++errors;
      if (r.payload.find("memory") != std::string::npos) ++out_of_memory;
    }
  }
  BOOST_TEST_MESSAGE(name() << ": of 400 connections over the limit, " << closed << " closed, " << errors
                            << " with an ERROR reply (" << out_of_memory << " naming memory)");
  BOOST_TEST(closed >= 1u, name() << ": 400 x 900 KiB under a 256 MiB allowance and no connection was turned away");
  BOOST_TEST(!server().try_wait(), name() << ": the server died of an allocation failure; stderr:\n"
                                          << server().stderr_tail());
  for (auto& p : peers) p.reset();
  bystander.round_trip({request::echo(4, "after")}, name() + ": after the flood");
  bystander.close_gracefully();
  finish();
}

// Defect 6: input alone does not bound a turn: 20-byte SOURCE requests ask
// for 256 KiB each.  While one such hog streams to a fast reader, a neighbour
// asking STATS back to back sees, between two of its replies, the hog's
// output of about one turn (STATS's bytes_out counts what was sent).  Its
// median must stay within a few turn budgets, not the several MiB a hog gets
// when only its input is budgeted.  With several threads only a neighbour on
// the hog's own loop shares its turns: eight neighbours take turns, and the
// smallest median counts (all eight on other loops: 1 in 256 with two).
BOOST_FIXTURE_TEST_CASE(output_per_turn_is_bounded, server_fixture) {
  start();
  counts_are_lower_bounds();  // the hog's replies are read raw, uncounted
  std::vector<client> lights;
  for (int k = 0; k < 8; ++k) lights.push_back(connect());
  client hog = connect();
  constexpr std::uint32_t size = 256 * 1024;
  const std::size_t count = sanitized_build ? 400 : 1600;
  const std::uint64_t total = count * (size + protocol::header_size);
  std::atomic<bool> hog_done{false};
  std::thread reader([&] {
    std::vector<char> sink(1 << 20);
    std::uint64_t got = 0;
    const auto deadline = clock_type::now() + scaled(60s);
    while (got < total && clock_type::now() < deadline) {
      const ssize_t n = ::recv(hog.fd(), sink.data(), sink.size(), 0);
      if (n > 0) got += static_cast<std::uint64_t>(n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
    }
    hog_done = true;
  });
  hog.send(sources(count, size, 1));
  std::uint64_t best = ~0ull, id = 1;
  std::string report;
  for (auto& light : lights) {
    std::vector<std::uint64_t> per_round;  // rounds in which the hog made progress
    std::uint64_t last = ~0ull;
    for (int round = 0; !hog_done && round < 25; ++round, ++id) {
      traffic_ledger before;
      const std::uint64_t out = light.stats(id, &before).value("bytes_out", 0ull) - before.bytes_out;
      if (last != ~0ull && !hog_done && out != last) per_round.push_back(out - last);
      last = out;
    }
    if (per_round.size() < 5) continue;
    std::sort(per_round.begin(), per_round.end());
    const std::uint64_t median = per_round[per_round.size() / 2];
    report += " " + std::to_string(median);
    best = std::min(best, median);
  }
  reader.join();
  hog.close_gracefully();
  BOOST_TEST_MESSAGE(name() << ": median hog bytes between two STATS replies, per neighbour:" << report);
  BOOST_TEST_REQUIRE(best != ~0ull, name() << ": the hog finished before any neighbour had 5 rounds");
  BOOST_TEST(best <= 2u * mib, name() << ": a neighbour's SOURCE stream took a median " << best
                                      << " bytes of output between two of our replies (per neighbour:" << report << ")");
  for (auto& light : lights) light.close_gracefully();
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
