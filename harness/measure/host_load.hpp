#pragma once
// What else the machine was doing while a measurement ran: its load average
// before and after, and its CPU time over the window (from /proc/stat, in
// USER_HZ ticks), from which the server's and the client's own CPU are taken
// away to leave what other processes used.  A measurement beside a busy
// neighbour is flagged in `show` (docs/results.md), not hidden.

#include <optional>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

struct host_cpu_sample {
  double busy_s = 0;   // all CPUs: user, nice, system, irq, softirq, guest
  double steal_s = 0;  // time the hypervisor gave to someone else
};

// Nothing when /proc/stat cannot be read.
std::optional<host_cpu_sample> sample_host_cpu();

// The 1-minute load average, or nothing.
std::optional<double> load_average();

// The "host" object of a measurement: load averages, the CPU other
// processes used over the window (in cores: 0.5 is half a core), the steal,
// and whether that counts as busy (other processes over a quarter of a core,
// or steal over 10% of the window).
nlohmann::json host_load_json(std::optional<double> load_before, std::optional<double> load_after,
                              std::optional<host_cpu_sample> at_start, std::optional<host_cpu_sample> at_end,
                              double window_s, double server_cpu_s, double client_cpu_s);

}  // namespace ioduel::harness
