#pragma once
// Reading workload and suite files: a JSON walker that names the file and the
// field in every error and rejects fields nobody reads (typos), and the file
// helpers workload.cpp and workload_files.cpp share.  Internal to them.

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/workload/workload.hpp"

namespace ioduel::harness::workload_detail {

using json = nlohmann::json;

// Walks a JSON object, remembering where it is so that every error names the
// file and the field, and rejecting fields nobody reads (typos).
class field_reader {
 public:
  field_reader(const json& j, std::string origin, std::string path)
      : j_(j), origin_(std::move(origin)), path_(std::move(path)) {
    if (!j_.is_object()) fail("", "must be an object, got " + describe(j_));
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    std::string where = path_;
    if (!field.empty()) where += (where.empty() ? "" : ".") + field;
    throw workload_error(origin_ + ": " + (where.empty() ? "" : "field '" + where + "': ") + what);
  }

  bool has(const std::string& f) const { return j_.contains(f) && !j_.at(f).is_null(); }
  const json& raw(const std::string& f) const {
    seen_.insert(f);
    return j_.at(f);
  }
  std::string sub(const std::string& f) const { return path_.empty() ? f : path_ + "." + f; }
  const std::string& origin() const noexcept { return origin_; }

  std::string str(const std::string& f, std::optional<std::string> dflt = std::nullopt) const {
    if (!has(f)) {
      if (dflt) return *dflt;
      fail(f, "is required");
    }
    const json& v = raw(f);
    if (!v.is_string()) fail(f, "must be a string, got " + describe(v));
    return v.get<std::string>();
  }

  double number(const std::string& f, std::optional<double> dflt, double lo, double hi) const {
    if (!has(f)) {
      if (dflt) return *dflt;
      fail(f, "is required");
    }
    const json& v = raw(f);
    if (!v.is_number()) fail(f, "must be a number, got " + describe(v));
    const double d = v.get<double>();
    if (!(d >= lo && d <= hi))
      fail(f, "must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(d));
    return d;
  }

  std::uint64_t integer(const std::string& f, std::optional<std::uint64_t> dflt, std::uint64_t lo,
                        std::uint64_t hi) const {
    if (!has(f)) {
      if (dflt) return *dflt;
      fail(f, "is required");
    }
    const json& v = raw(f);
    if (!v.is_number_integer()) fail(f, "must be an integer, got " + describe(v));
    if (v.is_number_unsigned() ? false : v.get<std::int64_t>() < 0)
      fail(f, "must not be negative, got " + v.dump());
    const auto u = v.get<std::uint64_t>();
    if (u < lo || u > hi)
      fail(f, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                  std::to_string(u));
    return u;
  }

  bool boolean(const std::string& f, bool dflt) const {
    if (!has(f)) return dflt;
    const json& v = raw(f);
    if (!v.is_boolean()) fail(f, "must be true or false, got " + describe(v));
    return v.get<bool>();
  }

  // Call last: any field not read is an error.
  void no_other_fields(std::initializer_list<const char*> also_allowed = {}) const {
    for (const auto& item : j_.items()) {
      // Named, not a structured binding: clang 14 cannot capture those.
      const std::string& k = item.key();
      if (seen_.count(k)) continue;
      if (std::any_of(also_allowed.begin(), also_allowed.end(),
                      [&k](const char* a) { return k == a; }))
        continue;
      if (item.value().is_null()) continue;
      fail(k, "is not a known field (see docs/workloads.md)");
    }
  }

  static std::string describe(const json& v) {
    std::string s = v.dump();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return std::string(v.type_name()) + " " + s;
  }
  static std::string fmt(double d) {
    std::ostringstream o;
    o << std::setprecision(12) << d;
    return o.str();
  }

 private:
  const json& j_;
  std::string origin_;
  std::string path_;
  mutable std::set<std::string> seen_;
};

constexpr double max_payload = protocol::default_max_frame;

inline json merge_patch(json target, const json& patch) {
  if (patch.is_null()) return target;
  target.merge_patch(patch);
  return target;
}

inline json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw workload_error(file.string() + ": cannot be read");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw workload_error(file.string() + ": not valid JSON: " + e.what());
  }
}

}  // namespace ioduel::harness::workload_detail
