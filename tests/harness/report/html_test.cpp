// ioduel html's page: self-contained (nothing it could fetch), the data in
// it whole and unable to end its script element.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>

#include "harness/report/html.hpp"
#include "harness/report/report_reader.hpp"
#include "support/synthetic_report.hpp"

using namespace ioduel::harness;
namespace t = ioduel::harness::testing;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(html_page)

BOOST_AUTO_TEST_CASE(page_is_self_contained) {
  const std::string web = IODUEL_SOURCE_DIR "/harness/web";
  BOOST_TEST_REQUIRE(std::filesystem::exists(web + "/node_modules/uplot"),
                     "uPlot is not installed in " << web << "/node_modules; run ./scripts/setup");
  json report = t::report({{"ping</script><script>alert(1)</script>", {{"reactor", t::typical()}}}}, 3);
  const std::vector<named_report> reports = {{"a.json", report}};
  const std::string page = render_html(reports, web);
  // Nothing that loads: no src or href attribute, no CSS url() or @import.
  for (const char* loader : {"src=", "href=", "url(", "@import"})
    BOOST_TEST(page.find(loader) == std::string::npos, "the page holds " << loader);
  // The only URL is in uPlot's licence comment.
  const std::regex url("https?://[^\"' )\\n]*");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), url); it != std::sregex_iterator(); ++it)
    BOOST_TEST(it->str() == "https://github.com/leeoniya/uPlot");
  // The hostile workload name is data, not markup.
  BOOST_TEST(page.find("ping</script>") == std::string::npos);
  BOOST_TEST(page.find("ping\\u003c/script>") != std::string::npos);
  const std::string open = "<script type=\"application/json\" id=\"ioduel-data\">";
  const auto from = page.find(open) + open.size();
  const json data = json::parse(page.substr(from, page.find("</script>", from) - from));
  BOOST_TEST(data["reports"][0]["report"]["workloads"][0]["name"] == "ping</script><script>alert(1)</script>");
  BOOST_TEST(data["reports"][0]["matrix"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(missing_assets_and_bad_reports_say_so) {
  const std::vector<named_report> reports = {{"a.json", t::report({}, 3)}};
  try {
    render_html(reports, "/nonexistent/web");
    BOOST_TEST(false, "no error for a missing page");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("/nonexistent/web/page.html") != std::string::npos, e.what());
  }
  std::ostringstream err;
  const std::vector<std::string> paths = {"/nonexistent/r.json"};
  BOOST_TEST(run_html(paths, "/tmp/never.html", err) == 1);
  BOOST_TEST(err.str().find("ioduel html: /nonexistent/r.json: cannot open it") != std::string::npos, err.str());
  const std::vector<named_report> future = {{"future.json", t::report({}, readable_schema_version + 1)}};
  BOOST_CHECK_THROW(render_html(future, IODUEL_SOURCE_DIR "/harness/web"), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
