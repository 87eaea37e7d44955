// The JSON Schema subset validator: what it accepts and, above all, that it
// rejects what the schema forbids (a validator that cannot fail checks nothing).

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "harness/report/json_schema.hpp"

using namespace ioduel::harness;
using nlohmann::json;

namespace {

json read(const std::string& rel) {
  std::ifstream in(std::string(IODUEL_SOURCE_DIR) + "/" + rel);
  BOOST_TEST_REQUIRE(in.good(), rel);
  return json::parse(in);
}

bool mentions(const std::vector<std::string>& problems, const std::string& part) {
  for (const auto& p : problems)
    if (p.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(report_schema)

BOOST_AUTO_TEST_CASE(the_example_report_validates) {
  const auto problems = validate_json(read("results/examples/example-run.json"), read("results/schema.json"));
  BOOST_TEST(problems.empty(), (problems.empty() ? "" : problems.front()));
}

BOOST_AUTO_TEST_CASE(broken_reports_are_caught) {
  const json schema = read("results/schema.json");
  const json good = read("results/examples/example-run.json");

  json r = good;
  r.erase("schema_version");
  BOOST_TEST(mentions(validate_json(r, schema), "lacks required field 'schema_version'"));

  r = good;
  r["schema_version"] = 4;  // the next version, which this schema does not describe yet
  BOOST_TEST(mentions(validate_json(r, schema), "/schema_version: 4 is not one of"));

  r = good;
  r["workloads"][0]["results"][0]["repetitions"][0]["throughput_rps"] = "fast";
  BOOST_TEST(mentions(validate_json(r, schema), "/workloads/0/results/0/repetitions/0/throughput_rps: is string"));

  r = good;
  r["workloads"][0]["results"][0]["repetitions"][0]["errors"]["timeouts"] = -1;
  BOOST_TEST(mentions(validate_json(r, schema), "errors/timeouts: -1 is below the minimum"));

  r = good;
  r["workloads"][0]["results"][0]["status"] = "great";
  BOOST_TEST(mentions(validate_json(r, schema), "/workloads/0/results/0/status"));

  r = good;
  r["workloads"][0]["results"][0]["repetitions"][0]["latency_us"].erase("histogram");
  BOOST_TEST(mentions(validate_json(r, schema), "latency_us: lacks required field 'histogram'"));

  r = good;
  r["workloads"][0]["comparisons"][0]["metrics"]["p99_us"]["verdict"] = "better";
  BOOST_TEST(mentions(validate_json(r, schema), "metrics/p99_us/verdict"));

  r = good;
  r["servers"][0]["command"] = {1, 2};
  BOOST_TEST(mentions(validate_json(r, schema), "/servers/0/command/0: is number"));
}

BOOST_AUTO_TEST_CASE(the_subset_is_enforced_on_the_schema_too) {
  const json doc = {{"a", 1}};
  BOOST_CHECK_THROW(validate_json(doc, json{{"type", "object"}, {"maxProperties", 3}}), std::invalid_argument);
  BOOST_CHECK_THROW(validate_json(doc, json{{"$ref", "#/$defs/none"}}), std::invalid_argument);
  BOOST_CHECK_THROW(validate_json(doc, json{{"type", "thing"}}), std::invalid_argument);
  const json schema = json::parse(R"({"type": "object", "required": ["a"],
      "properties": {"a": {"type": ["integer", "null"], "minimum": 0},
                     "b": {"type": "array", "items": {"enum": ["x", "y"]}}}})");
  BOOST_TEST(validate_json(json::parse(R"({"a": null, "b": ["x"]})"), schema).empty());
  BOOST_TEST(validate_json(json::parse(R"({"a": 1.5})"), schema).size() == 1u);
  BOOST_TEST(validate_json(json::parse(R"({"a": 2, "b": ["x", "z"]})"), schema).size() == 1u);
  BOOST_TEST(validate_json(json::parse(R"({"b": []})"), schema).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
