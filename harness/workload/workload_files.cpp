// Workload files (with their variants and a suite's overrides), suites, and
// the parameters a sweep varies.
#include "harness/workload/workload.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "harness/workload/workload_reader.hpp"

namespace ioduel::harness {

using namespace workload_detail;

bool is_sweep_parameter(const std::string& name) noexcept {
  return std::any_of(std::begin(sweep_parameters), std::end(sweep_parameters),
                     [&name](const char* p) { return name == p; });
}

void apply_parameter(workload& w, const std::string& parameter, double value) {
  bool applied = false;
  auto whole = [&](double lo, double hi) {
    if (!(value >= lo && value <= hi) || value != std::floor(value))
      throw workload_error(w.name + ": " + parameter + "=" + field_reader::fmt(value) +
                           " must be a whole number between " + field_reader::fmt(lo) + " and " +
                           field_reader::fmt(hi));
  };
  if (parameter == "threads") {
    whole(1, 256);
    w.threads = static_cast<unsigned>(value);
    applied = true;
  }
  for (auto& g : w.groups) {
    if (g.loop == loop_kind::idle) continue;
    if (parameter == "connections") {
      whole(1, 1'000'000);
      g.connections = static_cast<std::uint32_t>(value);
      applied = true;
    } else if (parameter == "pipeline" && g.loop == loop_kind::closed) {
      whole(1, 65'536);
      g.pipeline = static_cast<std::uint32_t>(value);
      applied = true;
    } else if (parameter == "rate" && g.loop == loop_kind::open) {
      if (!(value > 0)) throw workload_error(w.name + ": rate must be positive");
      g.rate = value;
      applied = true;
    } else if (parameter == "size") {
      whole(0, protocol::default_max_frame);
      for (auto& e : g.mix)
        if (e.op != protocol::opcode::sleep) {
          e.size = distribution::constant(value);
          applied = true;
        }
    }
  }
  if (!is_sweep_parameter(parameter))
    throw workload_error("unknown parameter '" + parameter +
                         "' (one of connections, pipeline, size, threads, rate)");
  if (!applied)
    throw workload_error(w.name + ": parameter '" + parameter + "' applies to none of its groups");
}

std::vector<workload> load_workload_file(const std::filesystem::path& file,
                                         const json& overrides) {
  const json j = merge_patch(read_json_file(file), overrides);
  const std::string origin = file.string();
  workload base = parse_workload(j, origin, file.parent_path());
  base.file = file.string();
  if (!j.contains("variants") || j.at("variants").is_null()) return {base};
  const json& v = j.at("variants");
  if (!v.is_object() || v.size() != 1)
    throw workload_error(origin + ": field 'variants': must be an object with one parameter, "
                                  "e.g. {\"connections\": [1, 10, 100]}");
  const std::string parameter = v.begin().key();
  const json& values = v.begin().value();
  if (!is_sweep_parameter(parameter))
    throw workload_error(origin + ": field 'variants." + parameter +
                         "': not a parameter (one of connections, pipeline, size, threads, rate)");
  if (!values.is_array() || values.empty())
    throw workload_error(origin + ": field 'variants." + parameter + "': must be a non-empty array of numbers");
  std::vector<workload> out;
  for (const auto& value : values) {
    if (!value.is_number())
      throw workload_error(origin + ": field 'variants." + parameter + "': " + value.dump() +
                           " is not a number");
    workload w = base;
    try {
      apply_parameter(w, parameter, value.get<double>());
    } catch (const workload_error& e) {
      throw workload_error(origin + ": field 'variants': " + e.what());
    }
    w.name = base.name + "/" + parameter + "=" + field_reader::fmt(value.get<double>());
    out.push_back(std::move(w));
  }
  return out;
}

suite load_suite(const std::string& name_or_file, const std::filesystem::path& suites_dir) {
  std::filesystem::path file = name_or_file;
  if (!std::filesystem::exists(file)) file = suites_dir / (name_or_file + ".json");
  if (!std::filesystem::exists(file))
    throw workload_error("no suite '" + name_or_file + "' (looked for " + file.string() + ")");
  const json j = read_json_file(file);
  field_reader r(j, file.string(), "");
  suite s;
  s.name = r.str("name");
  s.description = r.str("description", "");
  s.repetitions = static_cast<unsigned>(r.integer("repetitions", 1, 1, 1000));
  const json& servers = r.raw("servers");
  if (!servers.is_array() || servers.empty()) r.fail("servers", "must be a non-empty array of names");
  for (const auto& n : servers) {
    if (!n.is_string()) r.fail("servers", "must hold server names, got " + field_reader::describe(n));
    s.servers.push_back(n.get<std::string>());
  }
  if (!r.has("workloads")) r.fail("workloads", "is required");
  const json& ws = r.raw("workloads");
  if (!ws.is_array() || ws.empty()) r.fail("workloads", "must be a non-empty array");
  for (std::size_t i = 0; i < ws.size(); ++i) {
    const json& e = ws[i];
    suite_entry entry;
    if (e.is_string()) {
      entry.file = e.get<std::string>();
      entry.overrides = nullptr;
    } else {
      field_reader er(e, file.string(), "workloads[" + std::to_string(i) + "]");
      entry.file = er.str("file");
      entry.overrides = er.has("overrides") ? er.raw("overrides") : json(nullptr);
      er.no_other_fields();
    }
    if (entry.file.is_relative()) entry.file = (file.parent_path() / entry.file).lexically_normal();
    s.workloads.push_back(std::move(entry));
  }
  r.no_other_fields({"$comment"});
  return s;
}

std::string why_not_rate_searchable(const workload& w) {
  if (w.trace)
    return "workload '" + w.name + "' replays a trace, whose times are the recording's: there is no rate to search";
  std::string closed;
  bool open = false;
  for (const auto& g : w.groups) {
    if (g.loop == loop_kind::closed) closed += (closed.empty() ? "'" : ", '") + g.name + "'";
    open = open || g.loop == loop_kind::open;
  }
  if (!closed.empty())
    return "workload '" + w.name + "' is closed loop (group " + closed +
           " sends its next request when a reply comes, so the server's speed sets the rate and there is no "
           "offered rate to search); search an open-loop workload (every group with \"rate\")";
  if (!open) return "workload '" + w.name + "' has no open-loop group: nothing sends at a rate";
  return "";
}

double offered_rate_rps(const workload& w) noexcept {
  double total = 0;
  for (const auto& g : w.groups)
    if (g.loop == loop_kind::open) total += g.rate;
  return total;
}

double poisson_share(const workload& w) noexcept {
  const double total = offered_rate_rps(w);
  double poisson = 0;
  for (const auto& g : w.groups)
    if (g.loop == loop_kind::open && g.arrivals == arrival_kind::poisson) poisson += g.rate;
  return total > 0 ? poisson / total : 0;
}

void scale_offered_rate(workload& w, double total_rps) {
  const double base = offered_rate_rps(w);
  if (!(base > 0) || !(total_rps > 0)) throw workload_error(w.name + ": no positive rate to scale");
  for (auto& g : w.groups)
    if (g.loop == loop_kind::open) g.rate *= total_rps / base;
}

}  // namespace ioduel::harness
