// A session on this binary's backend (built twice: against ioduel_proactor,
// epoll, and ioduel_proactor_uring), over loopback, with the real handler
// binding (session.hpp's handler memory through associated allocators): a
// run of requests of every size class, pipelined and not, a SLEEP, then the
// client's FIN.  No operation may have fallen back to the heap.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proactor/context_state.hpp"
#include "proactor/handler_memory.hpp"
#include "proactor/session.hpp"
#include "protocol/frame.hpp"

namespace {

namespace asio = boost::asio;
namespace proto = ioduel::protocol;
using namespace ioduel::proactor;

// The server side of session_host, for one context.
class test_host final : public session_host {
 public:
  std::string stats_json() const override { return "{}"; }
  void session_destroyed() noexcept override { ++destroyed; }
  int destroyed = 0;
};

void send_all(int fd, const std::string& bytes) {
  for (std::size_t off = 0; off < bytes.size();) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    off += static_cast<std::size_t>(n);
  }
}

std::string recv_exactly(int fd, std::size_t n) {
  std::string got(n, '\0');
  for (std::size_t off = 0; off < n;) {
    const ssize_t r = ::recv(fd, got.data() + off, n - off, 0);
    if (r <= 0) throw std::runtime_error("connection ended early");
    off += static_cast<std::size_t>(r);
  }
  return got;
}

std::string request(proto::opcode op, std::uint64_t id, const std::string& payload) {
  std::string f(proto::header_size, '\0');
  proto::encode_header(f.data(), proto::header{op, static_cast<std::uint32_t>(payload.size()), id});
  return f + payload;
}

// Reads one reply; checks its opcode, id and (for ECHO) payload.  False on a mismatch.
bool expect_reply(int fd, proto::opcode op, std::uint64_t id, const std::string& payload) {
  const std::string h = recv_exactly(fd, proto::header_size);
  const proto::header got = proto::decode_header(h.data());
  const std::string body = recv_exactly(fd, got.length);
  return got.op == op && got.id == id && (op != proto::opcode::echo || body == payload);
}

// The client: what it saw, for the test to check after the run.
struct client_result {
  int replies_ok = 0;
  int replies_bad = 0;
  bool eof_after_fin = false;
  std::string error;
};

constexpr int rounds = 40;
const std::size_t sizes[] = {0, 1, 64, 127, 128, 4000, 16 * 1024, 70'000, 300'000};

void run_client(std::uint16_t port, client_result& r) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  try {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect");
    std::uint64_t id = 1;
    for (int round = 0; round < rounds; ++round) {
      // One request at a time, then the same sizes pipelined in one send.
      for (const std::size_t n : sizes) {
        const std::string payload(n, static_cast<char>('a' + round % 26));
        send_all(fd, request(proto::opcode::echo, id, payload));
        (expect_reply(fd, proto::opcode::echo, id, payload) ? r.replies_ok : r.replies_bad)++;
        ++id;
      }
      std::string batch;
      const std::uint64_t first = id;
      for (const std::size_t n : sizes) batch += request(proto::opcode::echo, id++, std::string(n, 'p'));
      std::thread sender([&] { send_all(fd, batch); });  // the replies may outgrow both socket buffers
      std::uint64_t expect = first;
      for (const std::size_t n : sizes)
        (expect_reply(fd, proto::opcode::echo, expect++, std::string(n, 'p')) ? r.replies_ok : r.replies_bad)++;
      sender.join();
    }
    // A SLEEP (the timer's handler memory), then the FIN.
    std::string sleep_payload(4, '\0');
    proto::store_be32(sleep_payload.data(), 1000);
    send_all(fd, request(proto::opcode::sleep, id, sleep_payload));
    (expect_reply(fd, proto::opcode::sleep_reply, id, "") ? r.replies_ok : r.replies_bad)++;
    ::shutdown(fd, SHUT_WR);
    char c;
    r.eof_after_fin = ::recv(fd, &c, 1, 0) == 0;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  ::close(fd);
}

template <class Model>
void serve_one_client() {
  const std::uint64_t fallbacks_before = heap_fallbacks().load();
  asio::io_context ioc(1);
  proto::server_options options;
  test_host host;
  context_state state(options, host);
  asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type> acceptor(
      ioc.get_executor(), asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));

  client_result result;
  std::thread client([&] { run_client(acceptor.local_endpoint().port(), result); });
  socket_type socket = acceptor.accept();
  socket.set_option(asio::ip::tcp::no_delay(true));
  auto* s = new session<Model>(std::move(socket), state);
  state.add(*s);
  s->post_start();
  ioc.run();  // returns once the session has closed and every handler of it has run
  client.join();

  BOOST_TEST(result.error == "");
  BOOST_TEST(result.replies_bad == 0);
  BOOST_TEST(result.replies_ok == rounds * 2 * static_cast<int>(std::size(sizes)) + 1);
  BOOST_TEST(result.eof_after_fin);
  BOOST_TEST(host.destroyed == 1);
  BOOST_TEST(state.empty());
  const auto c = state.snapshot();
  BOOST_TEST(c.frames_in == static_cast<std::uint64_t>(result.replies_ok));
  BOOST_TEST(c.frames_out == c.frames_in);
  // Every read, write (or wait for room) and timer wait fit its handler memory.
  BOOST_TEST(heap_fallbacks().load() - fallbacks_before == 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(session_suite)

BOOST_AUTO_TEST_CASE(per_thread_session_serves_without_heap_fallbacks) { serve_one_client<per_thread_model>(); }

BOOST_AUTO_TEST_CASE(shared_session_serves_without_heap_fallbacks) { serve_one_client<shared_model>(); }

BOOST_AUTO_TEST_SUITE_END()
