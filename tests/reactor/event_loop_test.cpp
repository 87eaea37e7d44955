// The event loop against a fake poller: a real level-triggered epoll
// underneath, and a scripted batch injected where a test needs an event the
// kernel would only produce by chance.  Here: a batch in which a descriptor's
// connection closes, a new connection is accepted on the same descriptor, and
// then a stale hang-up for the old one arrives.  The new connection must not
// be closed by it.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "protocol/frame.hpp"
#include "protocol/replies.hpp"
#include "reactor/acceptor.hpp"
#include "reactor/event_loop.hpp"
#include "reactor/server.hpp"

using namespace ioduel::reactor;
using namespace std::chrono_literals;
using ioduel::unique_fd;

namespace {

class fake_poller final : public poller {
 public:
  bool add(int fd, unsigned interest) override {
    std::lock_guard lock(mutex_);
    if (interest & want_urgent) connections_.push_back(fd);  // only connections watch urgent data
    return real_->add(fd, interest);
  }
  void modify(int fd, unsigned interest) override { real_->modify(fd, interest); }
  void remove(int fd) override { real_->remove(fd); }
  void wait(int timeout_ms, std::vector<ready_event>& out) override {
    {
      std::lock_guard lock(mutex_);
      // The loop is back for its next turn: the scripted batch is dispatched.
      if (scripted_turns_ > 0) ++waits_after_script_;
      if (script_) {
        out = std::move(*script_);
        script_.reset();
        ++scripted_turns_;
        waits_after_script_ = 0;
        return;
      }
      if (hold_) ++held_waits_;
    }
    if (held()) {
      std::this_thread::sleep_for(1ms);  // the test is setting up a batch: report nothing
      return;
    }
    // Short waits, so a hold or a script takes effect promptly.
    real_->wait(timeout_ms < 0 || timeout_ms > 10 ? 10 : timeout_ms, out);
  }
  bool edge_triggered() const noexcept override { return false; }
  std::string_view name() const noexcept override { return "fake"; }

  // Returns once the loop is in a held wait: nothing that happens from now
  // on reaches it except through inject().
  void hold() {
    {
      std::lock_guard lock(mutex_);
      hold_ = true;
      held_waits_ = 0;
    }
    while (held_waits() == 0) std::this_thread::sleep_for(1ms);
  }
  void inject(std::vector<ready_event> batch) {
    std::lock_guard lock(mutex_);
    script_ = std::move(batch);
    hold_ = false;
  }
  bool held() {
    std::lock_guard lock(mutex_);
    return hold_;
  }
  int held_waits() {
    std::lock_guard lock(mutex_);
    return held_waits_;
  }
  int scripted_turns() {
    std::lock_guard lock(mutex_);
    return scripted_turns_;
  }
  // True once the loop has dispatched the scripted batch (it has come back
  // to wait): handing the batch out is not yet handling it.
  bool script_handled() {
    std::lock_guard lock(mutex_);
    return scripted_turns_ > 0 && waits_after_script_ > 0;
  }
  std::vector<int> connections() {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  std::unique_ptr<poller> real_ = make_poller(poller_kind::epoll, trigger_mode::level);
  std::mutex mutex_;
  std::optional<std::vector<ready_event>> script_;
  std::vector<int> connections_;
  bool hold_ = false;
  int waits_after_script_ = 0;
  int scripted_turns_ = 0;
  int held_waits_ = 0;
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{2, 0};  // a lost reply fails the case instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends one ECHO and returns whether its reply came back whole.
bool echo_round_trip(int fd, std::uint64_t id) {
  std::string req;
  ioduel::protocol::string_output out(req);
  ioduel::protocol::append_frame(out, ioduel::protocol::opcode::echo, id, std::string_view("ping"));
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string got(req.size(), '\0');
  std::size_t have = 0;
  while (have < got.size()) {
    const ssize_t n = ::recv(fd, got.data() + have, got.size() - have, 0);
    if (n <= 0) return false;
    have += static_cast<std::size_t>(n);
  }
  return got == req;
}

}  // namespace

BOOST_AUTO_TEST_CASE(stale_event_for_a_reused_descriptor_is_ignored) {
  reactor_options opts;
  opts.common.port = 0;
  opts.common.idle_timeout_ms = 0;
  opts.common.drain_timeout_ms = 2000;
  server owner(opts);  // counters, limits and STATS; its own loops are never run
  unique_fd listener = acceptor::open_listener("127.0.0.1", 0, false);
  const int listener_fd = listener.get();
  const std::uint16_t port = acceptor::local_port(listener_fd);
  auto fake = std::make_unique<fake_poller>();
  fake_poller& demux = *fake;
  event_loop loop(owner, std::move(listener), false, std::move(fake));
  std::thread runner([&loop] { loop.run(); });

  const int a = connect_to(port);
  BOOST_TEST(echo_round_trip(a, 1), "the first connection is served");
  BOOST_REQUIRE_EQUAL(demux.connections().size(), 1u);
  const int reused = demux.connections().back();

  // One batch: the first connection's FIN, a new connection (accepted on the
  // descriptor just freed, the lowest), then a hang-up left over for the first.
  demux.hold();
  ::close(a);
  const int b = connect_to(port);
  ready_event fin{reused};
  fin.readable = true;
  ready_event pending{listener_fd};
  pending.readable = true;
  ready_event stale{reused};
  stale.readable = true;
  stale.hangup = true;
  demux.inject({fin, pending, stale});
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       !demux.script_handled() && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(1ms);
  BOOST_REQUIRE_EQUAL(demux.connections().size(), 2u);
  BOOST_TEST(demux.connections().back() == reused, "the new connection did not reuse the descriptor");
  BOOST_TEST(echo_round_trip(b, 2), "the new connection was closed by a stale event for the old one");

  loop.request_drain();
  ::shutdown(b, SHUT_WR);
  runner.join();
  ::close(b);
}
