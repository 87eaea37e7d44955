#include "harness/report/report_reader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <stdexcept>

namespace ioduel::harness {

using nlohmann::json;

json read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open it");
  json report;
  try {
    report = json::parse(in);
  } catch (const json::parse_error& e) {
    throw std::runtime_error(path + ": not JSON (" + e.what() + ")");
  }
  if (!report.is_object() || report.value("kind", json()) != "ioduel-report")
    throw std::runtime_error(path + ": not an ioduel report (no \"kind\": \"ioduel-report\")");
  if (!report.value("schema_version", json()).is_number_integer())
    throw std::runtime_error(path + ": the report has no schema_version");
  return report;
}

void require_readable(const json& report, const std::string& name) {
  const json version = report.value("schema_version", json());
  if (!version.is_number_integer() || version.get<int>() < oldest_readable_schema_version ||
      version.get<int>() > readable_schema_version)
    throw std::runtime_error(name + ": schema version " + version.dump() + "; this ioduel reads versions " +
                             std::to_string(oldest_readable_schema_version) + " to " +
                             std::to_string(readable_schema_version));
  if (!report.value("workloads", json()).is_array())
    throw std::runtime_error(name + ": the report has no workloads array");
}

std::string cell(std::string_view s, std::size_t width, bool right) {
  std::string out(s.substr(0, width));
  const std::string fill(width - out.size(), ' ');
  out = right ? fill + out : out + fill;
  return out + ' ';
}

std::span<const report_metric> report_metrics() {
  static constexpr std::array<report_metric, 5> metrics{{
      {"throughput_rps", "req/s", "/throughput_rps", true},
      {"p50_us", "p50 us", "/latency_us/p50", false},
      {"p99_us", "p99 us", "/latency_us/p99", false},
      {"p99_9_us", "p99.9 us", "/latency_us/p99_9", false},
      {"server_cpu_us_per_request", "cpu us/req", "/server/cpu_us_per_request", false},
  }};
  return metrics;
}

std::string words(std::string token) {
  std::replace(token.begin(), token.end(), '_', ' ');
  return token;
}

bool definition_is_open_loop(const json& d) {
  if (!d.is_object()) return false;
  if (const json& t = d.value("trace", json()); t.is_object()) return !t.value("as_fast_as_possible", false);
  const json& groups = array_field(d, "groups");
  return !groups.empty() && std::all_of(groups.begin(), groups.end(), [](const json& g) {
    return g.is_object() && g.value("loop", "") == "open";
  });
}

std::optional<double> offered_rate(const json& d) {
  // object_field gives an empty object for a null trace: test the value itself.
  if (!definition_is_open_loop(d) || d.value("trace", json()).is_object()) return std::nullopt;
  double total = 0;
  for (const json& g : array_field(d, "groups")) total += g.value("rate", 0.0);
  return total > 0 ? std::optional(total) : std::nullopt;
}

double poisson_rate(const json& d) {
  if (!offered_rate(d)) return 0;
  double total = 0;
  for (const json& g : array_field(d, "groups"))
    if (g.value("loop", "") == "open" && g.value("arrivals", "poisson") == "poisson") total += g.value("rate", 0.0);
  return total;
}

namespace {
const json* field(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
}  // namespace

const json& array_field(const json& j, std::string_view key) {
  static const json empty = json::array();
  const json* f = field(j, key);
  return f != nullptr && f->is_array() ? *f : empty;
}

const json& object_field(const json& j, std::string_view key) {
  static const json empty = json::object();
  const json* f = field(j, key);
  return f != nullptr && f->is_object() ? *f : empty;
}

std::optional<double> number_at(const json& j, std::string_view pointer) {
  const json::json_pointer p{std::string(pointer)};
  if (!j.contains(p)) return std::nullopt;
  const json& v = j.at(p);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

std::vector<double> metric_samples(const json& server_result, const report_metric& m) {
  std::vector<double> out;
  for (const json& rep : array_field(server_result, "repetitions")) {
    if (!rep.is_object() || !rep.value("valid", false)) continue;
    if (const auto v = number_at(rep, m.pointer)) out.push_back(*v);
  }
  return out;
}

const json* find_result(const json& workload_result, std::string_view server) {
  for (const json& r : array_field(workload_result, "results"))
    if (r.is_object() && r.value("server", "") == server) return &r;
  return nullptr;
}

std::string row_end(std::string row) {
  row.erase(row.find_last_not_of(' ') + 1);
  return row + '\n';
}

std::string wrap(std::string_view text, std::size_t indent) {
  constexpr std::size_t columns = 99;  // one short of 100: a full line makes some terminals wrap
  std::string out, line(indent, ' ');
  bool has_word = false;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find(' ', start), text.size());
    const std::string_view word = text.substr(start, end - start);
    if (has_word && line.size() + 1 + word.size() > columns) {
      out += line + '\n';
      line.assign(indent + 2, ' ');
      has_word = false;
    }
    if (has_word) line += ' ';
    line += word;
    has_word = true;
    start = end + 1;
  }
  return out + line + '\n';
}

std::string format_number(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return "-";
  static constexpr std::array<const char*, 4> suffix{"", "k", "M", "G"};
  double x = *v;
  std::size_t scale = 0;
  while (std::abs(x) >= 999.5 && scale + 1 < suffix.size()) {
    x /= 1000;
    ++scale;
  }
  const double a = std::abs(x);
  const int decimals = a == 0 ? 0 : a < 9.995 ? 2 : a < 99.95 ? 1 : 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, x, suffix[scale]);
  return buf;
}

std::string format_ratio(std::optional<double> v) {
  if (v && std::isinf(*v)) return *v > 0 ? "inf" : "-inf";
  if (!v || !std::isfinite(*v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", *v);
  return buf;
}

std::string format_interval(const std::optional<interval>& ci,
                            std::string (*format)(std::optional<double>)) {
  if (!ci) return "-";
  // Appended piece by piece: g++ 12 -O3 warns (-Wrestrict, a known false
  // positive) on "[" + std::string&&.
  std::string text = "[";
  text += format(ci->low);
  text += ", ";
  text += format(ci->high);
  text += ']';
  return text;
}

int print_or_fail(std::string_view command, std::string_view format, std::ostream& out,
                  std::ostream& err, const std::function<json()>& make, const result_printer& print_text,
                  const result_printer& print_csv) {
  try {
    const json result = make();
    if (format == "json")
      out << result.dump(2) << "\n";
    else if (format == "csv")
      print_csv(result, out);
    else
      print_text(result, out);
    return 0;
  } catch (const std::exception& e) {
    err << "ioduel " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ioduel::harness
