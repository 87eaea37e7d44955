// The three pollers against real descriptors: a socketpair for plain
// readiness, a loopback TCP pair for urgent data (AF_UNIX has none).
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <ostream>
#include <vector>

#include "reactor/poller.hpp"
#include "base/unique_fd.hpp"

using namespace ioduel::reactor;
using ioduel::unique_fd;
namespace data = boost::unit_test::data;

namespace {

struct flavour {
  poller_kind kind;
  trigger_mode trigger;
};
std::ostream& operator<<(std::ostream& os, const flavour& f) {
  const char* k = f.kind == poller_kind::epoll ? "epoll" : f.kind == poller_kind::poll ? "poll"
                                                                                        : "select";
  return os << k << (f.trigger == trigger_mode::edge ? "/edge" : "/level");
}
const std::vector<flavour> all_flavours{{poller_kind::epoll, trigger_mode::edge},
                                        {poller_kind::epoll, trigger_mode::level},
                                        {poller_kind::poll, trigger_mode::level},
                                        {poller_kind::select, trigger_mode::level}};

// Long enough for loopback delivery; a wait returns as soon as something is ready.
constexpr int wait_ms = 2000;

std::optional<ready_event> wait_for(poller& p, int fd, int timeout_ms) {
  std::vector<ready_event> out;
  p.wait(timeout_ms, out);
  for (const auto& e : out)
    if (e.fd == fd) return e;
  return std::nullopt;
}

struct socket_pair {
  unique_fd a, b;
  socket_pair() {
    int sv[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

struct tcp_pair {
  unique_fd client, server;
  tcp_pair() {
    unique_fd listener(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    BOOST_TEST_REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    BOOST_TEST_REQUIRE(::listen(listener.get(), 1) == 0);
    BOOST_TEST_REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    client.reset(::socket(AF_INET, SOCK_STREAM, 0));
    BOOST_TEST_REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    server.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK));
    BOOST_TEST_REQUIRE(server.valid());
  }
};

void send_byte(int fd, char c = 'x', int flags = 0) {
  BOOST_TEST_REQUIRE(::send(fd, &c, 1, flags) == 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(poller_suite)

BOOST_DATA_TEST_CASE(reports_readable_data, data::make(all_flavours), f) {
  socket_pair sp;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(sp.a.get(), want_read));
  BOOST_TEST(!wait_for(*p, sp.a.get(), 0).has_value());
  send_byte(sp.b.get());
  const auto e = wait_for(*p, sp.a.get(), wait_ms);
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(e->readable);
  BOOST_TEST(!e->writable);  // not asked for
}

BOOST_DATA_TEST_CASE(level_repeats_and_edge_does_not, data::make(all_flavours), f) {
  socket_pair sp;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(sp.a.get(), want_read));
  send_byte(sp.b.get());
  BOOST_TEST_REQUIRE(wait_for(*p, sp.a.get(), wait_ms).has_value());
  // The byte is still unread.
  const bool again = wait_for(*p, sp.a.get(), 0).has_value();
  BOOST_TEST(again == !p->edge_triggered());
  BOOST_TEST(p->edge_triggered() == (f.trigger == trigger_mode::edge && f.kind == poller_kind::epoll));
  // New data raises a new edge either way.
  send_byte(sp.b.get());
  BOOST_TEST(wait_for(*p, sp.a.get(), wait_ms).has_value());
}

BOOST_DATA_TEST_CASE(modify_switches_interest, data::make(all_flavours), f) {
  socket_pair sp;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(sp.a.get(), want_read));
  BOOST_TEST(!wait_for(*p, sp.a.get(), 0).has_value());
  p->modify(sp.a.get(), want_read | want_write);
  const auto e = wait_for(*p, sp.a.get(), wait_ms);
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(e->writable);
  BOOST_TEST(!e->readable);
}

BOOST_DATA_TEST_CASE(removed_descriptors_are_silent, data::make(all_flavours), f) {
  socket_pair sp, other;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(sp.a.get(), want_read));
  BOOST_TEST_REQUIRE(p->add(other.a.get(), want_read));
  p->remove(sp.a.get());
  send_byte(sp.b.get());
  send_byte(other.b.get());
  std::vector<ready_event> out;
  p->wait(wait_ms, out);
  bool saw_removed = false, saw_other = false;
  for (const auto& e : out) {
    saw_removed |= e.fd == sp.a.get();
    saw_other |= e.fd == other.a.get();
  }
  BOOST_TEST(!saw_removed);
  BOOST_TEST(saw_other);
}

BOOST_DATA_TEST_CASE(reports_urgent_data, data::make(all_flavours), f) {
  tcp_pair tp;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(tp.server.get(), want_read | want_urgent));
  send_byte(tp.client.get(), '!', MSG_OOB);
  // The urgent byte may be reported with or after the in-band readiness.
  bool urgent = false;
  for (int i = 0; i < 3 && !urgent; ++i) {
    const auto e = wait_for(*p, tp.server.get(), wait_ms);
    urgent = e && e->urgent;
  }
  BOOST_TEST(urgent);
  char c = 0;
  BOOST_TEST(::recv(tp.server.get(), &c, 1, MSG_OOB) == 1);
  BOOST_TEST(c == '!');
}

BOOST_DATA_TEST_CASE(reports_the_peers_shutdown, data::make(all_flavours), f) {
  socket_pair sp;
  auto p = make_poller(f.kind, f.trigger);
  BOOST_TEST_REQUIRE(p->add(sp.a.get(), want_read));
  ::shutdown(sp.b.get(), SHUT_WR);
  const auto e = wait_for(*p, sp.a.get(), wait_ms);
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(e->readable);
  // select has no separate hang-up bit; the others say so.
  BOOST_TEST(e->peer_shut == (f.kind != poller_kind::select));
}

BOOST_AUTO_TEST_CASE(select_refuses_descriptors_beyond_fd_setsize) {
  auto p = make_poller(poller_kind::select, trigger_mode::level);
  // Refused before anything touches an fd_set, so no real descriptor is needed.
  BOOST_TEST(!p->add(FD_SETSIZE, want_read));
  BOOST_TEST(!p->add(FD_SETSIZE + 100, want_read | want_write));
  socket_pair sp;
  BOOST_TEST(p->add(sp.a.get(), want_read));
}

BOOST_AUTO_TEST_SUITE_END()
