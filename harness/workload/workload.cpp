#include "harness/workload/workload.hpp"

#include "harness/workload/workload_reader.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace ioduel::harness {

namespace {

using namespace workload_detail;
namespace proto = ioduel::protocol;

// "size": 64 | {"uniform": {"min": a, "max": b}} | {"lognormal": {"median": m, "sigma": s, "max": x}}
distribution parse_distribution(const field_reader& r, const std::string& f, double lo, double hi) {
  const json& v = r.raw(f);
  if (v.is_number()) {
    const double d = r.number(f, std::nullopt, lo, hi);
    if (d != std::floor(d)) r.fail(f, "must be a whole number, got " + field_reader::fmt(d));
    return distribution::constant(d);
  }
  if (!v.is_object() || v.size() != 1)
    r.fail(f, "must be a number or an object with one of \"uniform\" or \"lognormal\", got " +
                  field_reader::describe(v));
  if (v.contains("uniform")) {
    field_reader u(v.at("uniform"), r.origin(), r.sub(f) + ".uniform");
    distribution d{distribution::kind::uniform, u.number("min", std::nullopt, lo, hi),
                   u.number("max", std::nullopt, lo, hi), 0};
    if (d.b < d.a) u.fail("max", "must not be below min");
    d.max = d.b;
    u.no_other_fields();
    return d;
  }
  if (v.contains("lognormal")) {
    field_reader u(v.at("lognormal"), r.origin(), r.sub(f) + ".lognormal");
    distribution d{distribution::kind::lognormal, u.number("median", std::nullopt, std::max(lo, 1e-9), hi),
                   u.number("sigma", std::nullopt, 0, 10), 0};
    d.max = u.number("max", hi, lo, hi);
    if (d.max < d.a) u.fail("max", "must not be below the median");
    u.no_other_fields();
    return d;
  }
  r.fail(f, "must be a number or an object with one of \"uniform\" or \"lognormal\", got " +
                field_reader::describe(v));
}

std::optional<proto::opcode> opcode_from_name(const std::string& s) {
  static const std::map<std::string, proto::opcode> names = {
      {"echo", proto::opcode::echo}, {"sink", proto::opcode::sink},
      {"source", proto::opcode::source}, {"sleep", proto::opcode::sleep},
      {"stats", proto::opcode::stats}};
  auto it = names.find(s);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::string opcode_to_name(proto::opcode op) {
  switch (op) {
    case proto::opcode::echo: return "echo";
    case proto::opcode::sink: return "sink";
    case proto::opcode::source: return "source";
    case proto::opcode::sleep: return "sleep";
    case proto::opcode::stats: return "stats";
    default: return "?";
  }
}

mix_entry parse_mix_entry(const json& j, const std::string& origin, const std::string& path) {
  field_reader r(j, origin, path);
  mix_entry e;
  const std::string op = r.str("op");
  auto code = opcode_from_name(op);
  if (!code || *code == proto::opcode::stats)
    r.fail("op", "must be one of echo, sink, source, sleep, got \"" + op + "\"");
  e.op = *code;
  e.weight = r.number("weight", 1.0, 0, 1e9);
  if (e.op == proto::opcode::sleep) {
    if (!r.has("sleep_us")) r.fail("sleep_us", "is required for a sleep request");
    e.sleep_us = parse_distribution(r, "sleep_us", 0, proto::max_sleep_us);
    e.size = distribution::constant(4);
  } else {
    if (!r.has("size")) r.fail("size", "is required for a " + op + " request");
    e.size = parse_distribution(r, "size", 0, max_payload);
  }
  r.no_other_fields();
  return e;
}

connection_group parse_group(const field_reader& r, const std::string& default_name,
                             bool top_level) {
  connection_group g;
  // At the top level "name" is the workload's, so the one group is named "main".
  g.name = top_level ? default_name : r.str("name", default_name);
  g.connections = static_cast<std::uint32_t>(r.integer("connections", 1, 0, 1'000'000));
  const bool idle = r.boolean("idle", false);
  const std::string loop = r.str("loop", idle ? "idle" : r.has("rate") ? "open" : "closed");
  if (loop == "closed") g.loop = loop_kind::closed;
  else if (loop == "open") g.loop = loop_kind::open;
  else if (loop == "idle") g.loop = loop_kind::idle;
  else r.fail("loop", "must be \"closed\", \"open\" or \"idle\", got \"" + loop + "\"");
  if (idle && g.loop != loop_kind::idle) r.fail("idle", "contradicts \"loop\": \"" + loop + "\"");
  if (g.loop == loop_kind::closed) {
    g.pipeline = static_cast<std::uint32_t>(r.integer("pipeline", 1, 1, 65'536));
    if (r.has("rate")) r.fail("rate", "is for open loop; this group is closed loop");
  }
  if (g.loop == loop_kind::open) {
    g.rate = r.number("rate", std::nullopt, 1e-3, 1e9);
    const std::string a = r.str("arrivals", "poisson");
    if (a == "poisson") g.arrivals = arrival_kind::poisson;
    else if (a == "uniform") g.arrivals = arrival_kind::uniform;
    else r.fail("arrivals", "must be \"poisson\" or \"uniform\", got \"" + a + "\"");
    if (r.has("pipeline")) r.fail("pipeline", "is for closed loop; open loop sends on schedule");
    if (r.has("think_us")) r.fail("think_us", "is for closed loop; open loop sends on schedule");
    if (g.connections == 0) r.fail("connections", "an open-loop group needs at least one");
  }
  if (g.loop != loop_kind::idle) {
    if (r.has("think_us")) g.think_us = parse_distribution(r, "think_us", 0, 60e6);
    if (r.has("lifetime")) {
      const json& lt = r.raw("lifetime");
      if (lt.is_string() && lt.get<std::string>() == "persistent") {
        g.requests_per_connection = 0;
      } else if (lt.is_object()) {
        field_reader l(lt, r.origin(), r.sub("lifetime"));
        g.requests_per_connection = l.integer("requests", std::nullopt, 1, 1ull << 40);
        l.no_other_fields();
      } else {
        r.fail("lifetime", "must be \"persistent\" or {\"requests\": k}, got " +
                               field_reader::describe(lt));
      }
    }
    if (!r.has("mix")) r.fail("mix", "is required (what the group sends)");
    const json& m = r.raw("mix");
    if (!m.is_array() || m.empty()) r.fail("mix", "must be a non-empty array");
    double total = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      g.mix.push_back(parse_mix_entry(m[i], r.origin(), r.sub("mix") + "[" + std::to_string(i) + "]"));
      total += g.mix.back().weight;
    }
    if (!(total > 0)) r.fail("mix", "weights must not all be zero");
  }
  return g;
}

trace_spec parse_trace(const field_reader& r, const std::filesystem::path& base_dir) {
  const json& tj = r.raw("trace");
  field_reader t(tj, r.origin(), "trace");
  trace_spec spec;
  spec.file = t.str("file");
  spec.path = std::filesystem::path(spec.file).is_absolute() ? std::filesystem::path(spec.file)
                                                              : base_dir / spec.file;
  spec.as_fast_as_possible = t.boolean("as_fast_as_possible", false);
  spec.speed = t.number("speed", 1.0, 1e-3, 1e6);
  spec.pipeline = static_cast<std::uint32_t>(t.integer("pipeline", 1, 1, 65'536));
  t.no_other_fields();

  std::ifstream in(spec.path);
  if (!in) t.fail("file", "cannot read " + spec.path.string());
  std::string line;
  std::size_t lineno = 0;
  std::vector<trace_record> records;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = spec.path.string() + ":" + std::to_string(lineno);
    json rec;
    try {
      rec = json::parse(line);
    } catch (const json::parse_error& e) {
      throw workload_error(where + ": not JSON: " + e.what());
    }
    field_reader l(rec, where, "");
    trace_record tr;
    tr.t_us = l.integer("t_us", std::nullopt, 0, 1ull << 50);
    tr.connection = static_cast<std::uint32_t>(l.integer("conn", std::nullopt, 0, 99'999));
    const std::string op = l.str("op");
    auto code = opcode_from_name(op);
    if (!code || *code == proto::opcode::stats)
      l.fail("op", "must be one of echo, sink, source, sleep, got \"" + op + "\"");
    tr.op = *code;
    tr.size = static_cast<std::uint32_t>(
        l.integer("size", std::nullopt, 0,
                  tr.op == proto::opcode::sleep ? proto::max_sleep_us : proto::default_max_frame));
    l.no_other_fields();
    if (!records.empty() && tr.t_us < records.back().t_us)
      throw workload_error(where + ": field 't_us': times must not go backwards");
    records.push_back(tr);
  }
  if (records.empty()) t.fail("file", spec.path.string() + " holds no records");
  for (const auto& rec : records) spec.connections = std::max(spec.connections, rec.connection + 1);
  spec.per_connection.resize(spec.connections);
  for (const auto& rec : records) spec.per_connection[rec.connection].push_back(rec);
  for (std::uint32_t c = 0; c < spec.connections; ++c)
    if (spec.per_connection[c].empty())
      t.fail("file", spec.path.string() + ": connection " + std::to_string(c) +
                         " has no records (number them 0..n-1)");
  spec.period_us = records.back().t_us + 1000;
  return spec;
}

}  // namespace

double distribution::mean() const noexcept {
  switch (shape) {
    case kind::fixed: return a;
    case kind::uniform: return (a + b) / 2;
    case kind::lognormal: return std::min(max, a * std::exp(b * b / 2));
  }
  return a;
}

std::uint64_t distribution::sample(rng& r) const noexcept {
  switch (shape) {
    case kind::fixed:
      return static_cast<std::uint64_t>(a);
    case kind::uniform:
      return r.between(static_cast<std::uint64_t>(a), static_cast<std::uint64_t>(b));
    case kind::lognormal: {
      const double v = a * std::exp(b * r.normal());
      return static_cast<std::uint64_t>(std::min(std::round(v), max));
    }
  }
  return 0;
}

double distribution::largest() const noexcept { return shape == kind::fixed ? a : max; }

json distribution::to_json() const {
  switch (shape) {
    case kind::fixed:
      return static_cast<std::uint64_t>(a);
    case kind::uniform:
      return {{"uniform", {{"min", a}, {"max", b}}}};
    case kind::lognormal:
      return {{"lognormal", {{"median", a}, {"sigma", b}, {"max", max}}}};
  }
  return nullptr;
}

std::uint64_t workload::total_connections() const noexcept {
  std::uint64_t n = trace ? trace->connections : 0;
  for (const auto& g : groups) n += g.connections;
  return n;
}

std::uint64_t workload::largest_payload() const noexcept {
  double m = 0;
  for (const auto& g : groups)
    for (const auto& e : g.mix)
      if (e.op != protocol::opcode::sleep) m = std::max(m, e.size.largest());
  if (trace)
    for (const auto& c : trace->per_connection)
      for (const auto& rec : c)
        if (rec.op != protocol::opcode::sleep) m = std::max(m, static_cast<double>(rec.size));
  return static_cast<std::uint64_t>(m);
}

json workload::to_json() const {
  json j = {{"name", name},         {"description", description}, {"seed", seed},
            {"threads", threads},   {"warmup_s", warmup_s},       {"duration_s", duration_s},
            {"timeout_ms", timeout_ms}};
  json gs = json::array();
  for (const auto& g : groups) {
    json gj = {{"name", g.name}, {"connections", g.connections}};
    gj["loop"] = g.loop == loop_kind::closed ? "closed" : g.loop == loop_kind::open ? "open" : "idle";
    if (g.loop == loop_kind::closed) {
      gj["pipeline"] = g.pipeline;
      gj["think_us"] = g.think_us.to_json();
    }
    if (g.loop == loop_kind::open) {
      gj["rate"] = g.rate;
      gj["arrivals"] = g.arrivals == arrival_kind::poisson ? "poisson" : "uniform";
    }
    if (g.loop != loop_kind::idle) {
      gj["lifetime"] = g.requests_per_connection == 0
                           ? json("persistent")
                           : json{{"requests", g.requests_per_connection}};
      json mix = json::array();
      for (const auto& e : g.mix) {
        json ej = {{"op", opcode_to_name(e.op)}, {"weight", e.weight}};
        if (e.op == protocol::opcode::sleep) ej["sleep_us"] = e.sleep_us.to_json();
        else ej["size"] = e.size.to_json();
        mix.push_back(std::move(ej));
      }
      gj["mix"] = std::move(mix);
    }
    gs.push_back(std::move(gj));
  }
  j["groups"] = std::move(gs);
  if (trace) {
    std::uint64_t records = 0;
    for (const auto& c : trace->per_connection) records += c.size();
    j["trace"] = {{"file", trace->file},
                  {"speed", trace->speed},
                  {"as_fast_as_possible", trace->as_fast_as_possible},
                  {"pipeline", trace->pipeline},
                  {"connections", trace->connections},
                  {"records", records}};
  } else {
    j["trace"] = nullptr;
  }
  return j;
}

workload parse_workload(const json& j, const std::string& origin,
                        const std::filesystem::path& base_dir) {
  field_reader r(j, origin, "");
  workload w;
  w.name = r.str("name");
  if (w.name.empty()) r.fail("name", "must not be empty");
  w.description = r.str("description");
  w.seed = r.integer("seed", 1, 0, ~0ull);
  w.threads = static_cast<unsigned>(r.integer("threads", 1, 1, 256));
  w.warmup_s = r.number("warmup_s", 1.0, 0, 3600);
  w.duration_s = r.number("duration_s", std::nullopt, 0.01, 86'400);
  w.timeout_ms = static_cast<std::uint32_t>(r.integer("timeout_ms", 5'000, 1, 3'600'000));

  const bool has_groups = r.has("groups");
  const bool has_trace = r.has("trace");
  const bool has_inline = r.has("mix") || r.has("connections");
  if (has_groups && has_inline)
    r.fail("groups", "give either \"groups\" or one group's fields (connections, mix, ...) at the top, not both");
  if (has_trace) {
    if (has_groups || r.has("mix")) r.fail("trace", "a trace workload has no \"groups\" or \"mix\"");
    w.trace = parse_trace(r, base_dir);
  } else if (has_groups) {
    const json& gs = r.raw("groups");
    if (!gs.is_array() || gs.empty()) r.fail("groups", "must be a non-empty array");
    std::set<std::string> names;
    for (std::size_t i = 0; i < gs.size(); ++i) {
      const std::string path = "groups[" + std::to_string(i) + "]";
      field_reader gr(gs[i], origin, path);
      auto g = parse_group(gr, "group" + std::to_string(i), false);
      gr.no_other_fields();
      if (!names.insert(g.name).second) gr.fail("name", "\"" + g.name + "\" is used twice");
      w.groups.push_back(std::move(g));
    }
  } else {
    w.groups.push_back(parse_group(r, "main", true));
  }
  r.no_other_fields({"variants", "$comment"});
  bool any_active = w.trace.has_value();
  for (const auto& g : w.groups) any_active |= g.loop != loop_kind::idle && g.connections > 0;
  if (!any_active) r.fail("", "sends nothing: every group is idle or has no connections");
  return w;
}

}  // namespace ioduel::harness
