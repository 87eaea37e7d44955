#include "harness/measure/interval_log.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ioduel::harness {

namespace {

// Java's HistogramLogWriter writes a nanosecond histogram's max in
// milliseconds (its default max value unit ratio, 10^6).
constexpr double max_unit_ratio = 1e6;

std::string fixed3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

std::string write_interval_log(const std::vector<latency_interval>& intervals, double start_epoch_s) {
  std::string out;
  const std::time_t t = static_cast<std::time_t>(start_epoch_s);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[64];
  std::strftime(when, sizeof when, "%a %b %d %H:%M:%S UTC %Y", &tm);
  out += "#[Histogram log format version 1.3]\n";
  out += "#[StartTime: " + fixed3(start_epoch_s) + " (seconds since epoch), " + when + "]\n";
  out += "#[BaseTime: " + fixed3(start_epoch_s) + " (seconds since epoch)]\n";
  out += "#[ioduel: latency in ns of the requests intended in each interval of the measured window]\n";
  out += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
  for (const auto& i : intervals) {
    out += fixed3(i.start_s) + "," + fixed3(i.length_s) + "," +
           fixed3(static_cast<double>(i.latency.total_count() ? i.latency.max() : 0) / max_unit_ratio) + "," +
           i.latency.encode() + "\n";
  }
  return out;
}

std::vector<latency_interval> read_interval_log(std::string_view text) {
  std::vector<latency_interval> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#' || line[0] == '"') continue;
    if (line.rfind("Tag=", 0) == 0) line = line.substr(line.find(',') + 1);
    std::vector<std::string> fields;
    std::stringstream parts(line);
    for (std::string f; std::getline(parts, f, ',');) fields.push_back(f);
    if (fields.size() != 4) throw std::invalid_argument("interval log line " + std::to_string(number) + ": not 4 fields");
    latency_interval i;
    try {
      i.start_s = std::stod(fields[0]);
      i.length_s = std::stod(fields[1]);
    } catch (const std::exception&) {
      throw std::invalid_argument("interval log line " + std::to_string(number) + ": not numbers");
    }
    i.latency = histogram::decode(fields[3]);
    out.push_back(std::move(i));
  }
  return out;
}

double mann_kendall_z(const std::vector<double>& x) {
  const std::size_t n = x.size();
  if (n < 3) return 0;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) s += (x[j] > x[i]) - (x[j] < x[i]);
  // Var(S) = [n(n-1)(2n+5) - sum over tied groups t(t-1)(2t+5)] / 18
  std::map<double, int> ties;
  for (const double v : x) ++ties[v];
  const double dn = static_cast<double>(n);
  double var = dn * (dn - 1) * (2 * dn + 5);
  for (const auto& [v, t] : ties) var -= static_cast<double>(t) * (t - 1) * (2 * t + 5);
  var /= 18;
  if (var <= 0 || s == 0) return 0;
  return (s > 0 ? s - 1 : s + 1) / std::sqrt(var);
}

nlohmann::json intervals_json(const std::vector<latency_interval>& intervals, double start_epoch_s) {
  using nlohmann::json;
  json t = json::array(), rps = json::array(), p50 = json::array(), p99 = json::array();
  std::vector<double> rate, median;
  for (const auto& i : intervals) {
    const double r = i.length_s > 0 ? static_cast<double>(i.latency.total_count()) / i.length_s : 0;
    t.push_back(i.start_s);
    rps.push_back(r);
    rate.push_back(r);
    if (i.latency.total_count()) {
      const double m = static_cast<double>(i.latency.value_at_percentile(50)) / 1000.0;
      p50.push_back(m);
      median.push_back(m);
      p99.push_back(static_cast<double>(i.latency.value_at_percentile(99)) / 1000.0);
    } else {
      p50.push_back(nullptr);
      p99.push_back(nullptr);
    }
  }
  const double z_rate = mann_kendall_z(rate), z_median = mann_kendall_z(median);
  json why = json::array();
  const auto trend = [&why](double z, const char* what) {
    if (std::abs(z) <= trend_z) return;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %s across the window (Mann-Kendall z = %.2f)", what,
                  z > 0 ? "rises" : "falls", z);
    why.push_back(buf);
  };
  trend(z_rate, "throughput");
  trend(z_median, "the p50");
  return {{"interval_s", intervals.empty() ? json(nullptr) : json(intervals.front().length_s)},
          {"start_s", std::move(t)},
          {"throughput_rps", std::move(rps)},
          {"p50_us", std::move(p50)},
          {"p99_us", std::move(p99)},
          {"stationary", why.empty()},
          {"trend_z", {{"throughput", z_rate}, {"p50", z_median}}},
          {"trends", std::move(why)},
          {"hlog", write_interval_log(intervals, start_epoch_s)}};
}

}  // namespace ioduel::harness
