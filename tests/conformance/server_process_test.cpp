// server_process against stand-in servers made of /bin/sh: the start-up
// handshake, every way a start can fail, stopping, and /proc sampling.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "harness/servers/server_process.hpp"

using namespace std::chrono_literals;
using ioduel::harness::server_launch;
using ioduel::harness::server_process;
using ioduel::harness::server_start_error;
using ioduel::harness::server_unavailable;

namespace {

server_launch shell(const std::string& script) {
  server_launch l;
  l.argv = {"/bin/sh", "-c", script};
  l.start_timeout = 5s;
  return l;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_process_suite)

BOOST_AUTO_TEST_CASE(reads_the_listening_line_and_stops_with_sigterm) {
  server_process p(shell("echo 'listening on 127.0.0.1:1234'; exec sleep 30"));
  BOOST_TEST(p.host() == "127.0.0.1");
  BOOST_TEST(p.port() == 1234);
  BOOST_TEST(p.pid() > 0);
  BOOST_TEST(!p.try_wait().has_value());
  const auto e = p.stop(5s);
  BOOST_TEST(!e.exited);
  BOOST_TEST(e.signal == SIGTERM);
  BOOST_TEST(!e.killed);
  // stop() again answers the same without signalling a reaped pid.
  BOOST_TEST(p.stop(5s).signal == SIGTERM);
}

BOOST_AUTO_TEST_CASE(skips_lines_before_the_announcement_and_reads_ipv6) {
  server_process p(shell("echo starting; echo 'listening on [::1]:7100'; exec sleep 30"));
  BOOST_TEST(p.host() == "::1");
  BOOST_TEST(p.port() == 7100);
}

BOOST_AUTO_TEST_CASE(exit_status_3_is_unavailable) {
  try {
    server_process p(shell("echo 'io_uring: operation not permitted' >&2; exit 3"));
    BOOST_FAIL("start succeeded");
  } catch (const server_unavailable& e) {
    BOOST_REQUIRE(e.status().has_value());
    BOOST_TEST(e.status()->exited);
    BOOST_TEST(e.status()->code == 3);
    BOOST_TEST(e.stderr_tail().find("operation not permitted") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(other_early_exits_carry_status_and_stderr) {
  try {
    server_process p(shell("echo 'bad flag' >&2; exit 2"));
    BOOST_FAIL("start succeeded");
  } catch (const server_unavailable&) {
    BOOST_FAIL("exit status 2 reported as unavailable");
  } catch (const server_start_error& e) {
    BOOST_REQUIRE(e.status().has_value());
    BOOST_TEST(e.status()->code == 2);
    BOOST_TEST(e.stderr_tail() == "bad flag\n");
    BOOST_TEST(std::string(e.what()).find("exit status 2") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(stderr_tail_keeps_the_last_kibibytes) {
  try {
    server_process p(shell("i=0; while [ $i -lt 2000 ]; do echo line$i >&2; i=$((i+1)); done; exit 1"));
    BOOST_FAIL("start succeeded");
  } catch (const server_start_error& e) {
    BOOST_TEST(e.stderr_tail().size() <= 4096u);
    BOOST_TEST(e.stderr_tail().find("line1999\n") != std::string::npos);
    BOOST_TEST(e.stderr_tail().find("line0\n") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(missing_binary_fails_to_start) {
  server_launch l;
  l.argv = {"/nonexistent/ioduel-server"};
  BOOST_CHECK_THROW(server_process{l}, server_start_error);
}

BOOST_AUTO_TEST_CASE(silence_times_out_and_the_child_is_killed) {
  auto l = shell("exec sleep 30");
  l.start_timeout = 200ms;
  try {
    server_process p(l);
    BOOST_FAIL("start succeeded");
  } catch (const server_start_error& e) {
    BOOST_REQUIRE(e.status().has_value());
    BOOST_TEST(e.status()->signal == SIGKILL);
    BOOST_TEST(std::string(e.what()).find("no \"listening on\" line") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(stop_kills_a_child_that_ignores_sigterm) {
  server_process p(shell("trap '' TERM; echo 'listening on 127.0.0.1:1'; while :; do sleep 1; done"));
  const auto e = p.stop(300ms);
  BOOST_TEST(e.killed);
  BOOST_TEST(e.signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(clean_exit_after_sigterm_is_reported) {
  server_process p(shell("trap 'exit 0' TERM; echo 'listening on 127.0.0.1:1'; while :; do sleep 0.1; done"));
  const auto e = p.stop(5s);
  BOOST_TEST(e.clean());
  BOOST_TEST(!e.killed);
}

BOOST_AUTO_TEST_CASE(environment_rlimit_and_affinity_reach_the_child) {
  server_launch l = shell(
      "[ \"$IODUEL_PROBE\" = yes ] || exit 10; [ \"$(ulimit -n)\" = 64 ] || exit 11; "
      "grep -q '^Cpus_allowed_list:[[:space:]]*0$' /proc/self/status || exit 12; "
      "echo 'listening on 127.0.0.1:9'; exec sleep 30");
  l.env = {{"IODUEL_PROBE", "yes"}};
  l.nofile_limit = 64;
  l.cpus = {0};
  server_process p(l);  // throws with the failing check's exit status otherwise
  BOOST_TEST(p.port() == 9);
}

BOOST_AUTO_TEST_CASE(sample_reads_proc) {
  server_process p(shell("echo 'listening on 127.0.0.1:1'; exec sleep 30"));
  const auto m = p.sample();
  BOOST_TEST(m.rss_bytes > 0u);
  BOOST_TEST(m.hwm_bytes >= m.rss_bytes);
  BOOST_TEST(m.threads == 1u);
  BOOST_TEST(m.cpu_s() >= 0.0);
  p.stop(5s);
  BOOST_CHECK_THROW(p.sample(), std::system_error);
}

BOOST_AUTO_TEST_CASE(thread_times_see_a_spinning_child_and_not_a_sleeping_one) {
  // Runnable time (on a CPU or waiting for one) over the same condition-bound
  // span: a busy loop is runnable throughout, `sleep` hardly at all.  No
  // figure depends on how busy the machine is; only the order does.
  server_process busy(shell("echo 'listening on 127.0.0.1:1'; while :; do :; done"));
  server_process idle(shell("echo 'listening on 127.0.0.1:1'; exec sleep 30"));
  const auto runnable = [](const server_process& p) {
    std::uint64_t ns = 0;
    for (const auto& [tid, t] : ioduel::harness::read_thread_times(p.pid())) ns += t.runnable_ns();
    return ns;
  };
  const std::uint64_t busy_before = runnable(busy), idle_before = runnable(idle);
  // Wait until the busy child has been runnable for 200 ms more (bounded).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (runnable(busy) - busy_before < 200'000'000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  BOOST_TEST(runnable(busy) - busy_before >= 200'000'000u);
  BOOST_TEST(runnable(idle) - idle_before < 20'000'000u);
  BOOST_TEST(ioduel::harness::read_thread_times(idle.pid()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_child_that_announces_nothing_runs_to_its_exit) {
  server_launch l = shell("echo report; exit 4");
  l.await_listening = false;
  server_process p(l);
  const auto e = p.wait_for(5s);
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST(e->code == 4);
  BOOST_TEST(p.stdout_tail() == "report\n");
}

BOOST_AUTO_TEST_CASE(destructor_and_move_reap_the_child) {
  pid_t pid = 0;
  {
    server_process p(shell("echo 'listening on 127.0.0.1:1'; exec sleep 30"));
    server_process q(std::move(p));
    BOOST_TEST(p.pid() == -1);
    pid = q.pid();
    BOOST_TEST(::kill(pid, 0) == 0);
  }
  // Reaped: the pid no longer names our child.
  BOOST_TEST((::kill(pid, 0) == -1 && errno == ESRCH));
}

BOOST_AUTO_TEST_SUITE_END()
