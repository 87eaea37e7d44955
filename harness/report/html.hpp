#pragma once
// `ioduel html REPORT [REPORT2] -o FILE`: one self-contained HTML page of a
// report (or of two: before and after).  The page's sources live in
// harness/web/ (page.html, page.css, page.js); the libraries it draws and
// decodes with (uPlot, hdr-histogram-js and its pako) come from
// harness/web/node_modules, pinned by its package-lock.json and installed by
// scripts/setup.  This side only reads them and writes the data (the reports,
// their show summaries and matrices, and for two reports their comparison)
// into the template as JSON; the page draws everything itself and fetches
// nothing.

#include <ostream>
#include <span>
#include <string>

#include "harness/report/compare.hpp"

namespace ioduel::harness {

// Where page.html and node_modules are: $IODUEL_WEB_DIR when set, else the
// source tree's harness/web.
std::string default_web_dir();

// The page for one or two reports.  Throws std::runtime_error naming a
// missing asset (and saying to run scripts/setup) or an unreadable report.
std::string render_html(std::span<const named_report> reports, const std::string& web_dir);

// The command: reads the reports at `paths` and writes the page to
// `out_path`.  Returns 0, or 1 after a message on err.
int run_html(std::span<const std::string> paths, const std::string& out_path, std::ostream& err,
             const std::string& web_dir = default_web_dir());

}  // namespace ioduel::harness
