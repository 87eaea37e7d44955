#include "harness/measure/host_load.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ioduel::harness {

std::optional<host_cpu_sample> sample_host_cpu() {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!std::getline(in, line) || line.rfind("cpu ", 0) != 0) return std::nullopt;
  std::istringstream fields(line.substr(4));
  // user nice system idle iowait irq softirq steal guest guest_nice
  double v[10] = {};
  for (double& x : v) fields >> x;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  // guest time is already inside user (the kernel counts it in both).
  return host_cpu_sample{(v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[7] / hz};
}

std::optional<double> load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  if (!(in >> one)) return std::nullopt;
  return one;
}

nlohmann::json host_load_json(std::optional<double> load_before, std::optional<double> load_after,
                              std::optional<host_cpu_sample> at_start, std::optional<host_cpu_sample> at_end,
                              double window_s, double server_cpu_s, double client_cpu_s) {
  using nlohmann::json;
  json j = {{"load_average_before", load_before ? json(*load_before) : json(nullptr)},
            {"load_average_after", load_after ? json(*load_after) : json(nullptr)},
            {"other_cpu_cores", nullptr},
            {"steal_fraction", nullptr},
            {"busy", false}};
  if (at_start && at_end && window_s > 0) {
    // Ticks are 10 ms: over a 0.8 s window on 2 cores that is 1/160 of the
    // whole, fine enough to see a neighbour, too coarse for anything finer.
    const double other = (at_end->busy_s - at_start->busy_s - server_cpu_s - client_cpu_s) / window_s;
    const double steal = (at_end->steal_s - at_start->steal_s) / window_s;
    j["other_cpu_cores"] = std::max(0.0, other);
    j["steal_fraction"] = std::max(0.0, steal);
    j["busy"] = other > 0.25 || steal > 0.10;
  }
  return j;
}

}  // namespace ioduel::harness
