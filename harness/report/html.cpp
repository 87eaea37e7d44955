#include "harness/report/html.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness/report/report_reader.hpp"
#include "harness/report/show.hpp"

#ifndef IODUEL_WEB_DIR
#define IODUEL_WEB_DIR "harness/web"
#endif

namespace ioduel::harness {
namespace {

using nlohmann::json;

std::string read_asset(const std::string& dir, const std::string& name) {
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + dir + "/" + name +
                             (name.starts_with("node_modules")
                                  ? "; the page's libraries are installed by ./scripts/setup (npm ci in harness/web)"
                                  : ""));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_marker(std::string& page, const std::string& marker, const std::string& with) {
  const auto at = page.find(marker);
  if (at == std::string::npos) throw std::runtime_error("page.html has no " + marker);
  page.replace(at, marker.size(), with);
}

// Text inside <script> ends at the first "</script" whatever the quotes
// around it; in the strings and regular expressions where a library could
// hold one, "<\/script" means the same to JavaScript.
std::string script_safe(std::string js) {
  for (std::size_t at = 0; (at = js.find("</script", at)) != std::string::npos; at += 3) js.replace(at, 2, "<\\/");
  return js;
}

// JSON inside <script type="application/json">: every "<" (only ever in a
// string) as \u003c, so that no "</script>" or "<!--" in a server's name or
// a workload's reason can end or change the element.
std::string json_safe(const json& data) {
  const std::string text = data.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

}  // namespace

std::string default_web_dir() {
  const char* dir = std::getenv("IODUEL_WEB_DIR");
  return dir != nullptr && *dir != '\0' ? dir : IODUEL_WEB_DIR;
}

std::string render_html(std::span<const named_report> reports, const std::string& web_dir) {
  if (reports.empty() || reports.size() > 2)
    throw std::runtime_error("html takes one report, or two (before and after)");
  json data = {{"kind", "ioduel-page"}, {"reports", json::array()}, {"comparison", nullptr}};
  for (const auto& r : reports) {
    const json summary = summarize_report(r.report, r.name);
    data["reports"].push_back({{"name", r.name},
                               {"summary", summary},
                               {"matrix", headline_matrix(summary, "")},
                               {"capacity_lines", capacity_answer_lines(summary)},
                               {"report", r.report}});
  }
  if (reports.size() == 2) data["comparison"] = compare_reports(reports);

  std::string page = read_asset(web_dir, "page.html");
  std::string styles;
  for (const char* css : {"node_modules/uplot/dist/uPlot.min.css", "page.css"})
    styles += "<style>\n" + read_asset(web_dir, css) + "\n</style>\n";
  std::string scripts;
  // pako first: hdr-histogram-js's bundle takes it from the global scope.
  for (const char* js : {"node_modules/pako/dist/pako_inflate.min.js",
                         "node_modules/hdr-histogram-js/dist/hdrhistogram.umd.js",
                         "node_modules/uplot/dist/uPlot.iife.min.js", "page.js"})
    scripts += "<script>\n" + script_safe(read_asset(web_dir, js)) + "\n</script>\n";
  replace_marker(page, "<!-- ioduel:styles -->", styles);
  replace_marker(page, "<!-- ioduel:data -->",
                 "<script type=\"application/json\" id=\"ioduel-data\">" + json_safe(data) + "</script>");
  replace_marker(page, "<!-- ioduel:scripts -->", scripts);
  return page;
}

int run_html(std::span<const std::string> paths, const std::string& out_path, std::ostream& err,
             const std::string& web_dir) {
  try {
    std::vector<named_report> reports;
    for (const auto& p : paths) reports.push_back({p, read_report(p)});
    const std::string page = render_html(reports, web_dir);
    std::ofstream out(out_path, std::ios::binary);
    if (!out || !(out << page) || !out.flush()) throw std::runtime_error(out_path + ": cannot write it");
    return 0;
  } catch (const std::exception& e) {
    err << "ioduel html: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ioduel::harness
