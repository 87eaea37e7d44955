#include "harness/report/json_schema.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

// Keywords that only document (they check nothing).
const std::set<std::string> annotations = {"$schema", "$id", "$defs", "title", "description",
                                           "$comment", "examples", "default"};
const std::set<std::string> checked = {"type", "required", "properties", "items", "enum",
                                       "minimum", "$ref"};

bool has_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<std::int64_t>(v.get<double>())));
  throw std::invalid_argument("schema: unknown type '" + t + "'");
}

class validator {
 public:
  explicit validator(const json& root) : root_(root) {}

  void check(const json& v, const json& schema, const std::string& path) {
    if (!schema.is_object()) throw std::invalid_argument("schema at " + path + " is not an object");
    for (const auto& [k, _] : schema.items())
      if (!annotations.count(k) && !checked.count(k))
        throw std::invalid_argument("schema: keyword '" + k + "' is outside the supported subset");
    if (schema.contains("$ref")) {
      const std::string ref = schema["$ref"].get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) != 0 || !root_.contains("$defs") || !root_["$defs"].contains(ref.substr(prefix.size())))
        throw std::invalid_argument("schema: unresolvable $ref '" + ref + "'");
      // A local "type" beside $ref may widen it (e.g. to allow null).
      if (schema.contains("type") && v.is_null() && type_allows(schema["type"], v)) return;
      check(v, root_["$defs"][ref.substr(prefix.size())], path);
    }
    if (schema.contains("type") && !type_allows(schema["type"], v)) {
      problems_.push_back(path_or_root(path) + ": is " + std::string(v.type_name()) + ", expected " +
                          schema["type"].dump());
      return;
    }
    if (schema.contains("enum")) {
      const json& e = schema["enum"];
      if (std::find(e.begin(), e.end(), v) == e.end())
        problems_.push_back(path_or_root(path) + ": " + v.dump() + " is not one of " + e.dump());
    }
    if (schema.contains("minimum") && v.is_number() && v.get<double>() < schema["minimum"].get<double>())
      problems_.push_back(path_or_root(path) + ": " + v.dump() + " is below the minimum " +
                          schema["minimum"].dump());
    if (v.is_object()) {
      if (schema.contains("required"))
        for (const auto& r : schema["required"])
          if (!v.contains(r.get<std::string>()))
            problems_.push_back(path_or_root(path) + ": lacks required field '" + r.get<std::string>() + "'");
      if (schema.contains("properties"))
        for (const auto& [k, sub] : schema["properties"].items())
          if (v.contains(k)) check(v[k], sub, path + "/" + k);
    }
    if (v.is_array() && schema.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i) check(v[i], schema["items"], path + "/" + std::to_string(i));
  }

  std::vector<std::string> take() { return std::move(problems_); }

 private:
  static bool type_allows(const json& t, const json& v) {
    if (t.is_string()) return has_type(v, t.get<std::string>());
    return std::any_of(t.begin(), t.end(), [&v](const json& one) { return has_type(v, one.get<std::string>()); });
  }
  static std::string path_or_root(const std::string& p) { return p.empty() ? "/" : p; }

  const json& root_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> validate_json(const json& doc, const json& schema) {
  validator v(schema);
  v.check(doc, schema, "");
  return v.take();
}

}  // namespace ioduel::harness
