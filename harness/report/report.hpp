#pragma once
// The report: one JSON document per run (results/schema.json), written
// atomically so that a reader never sees half of one.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/histogram.hpp"

namespace ioduel::harness {

inline constexpr int report_schema_version = 3;

// Who ran it where: host, build, git commit.  `started` and `finished` are
// ISO 8601 UTC strings.
nlohmann::json run_metadata(const std::string& started, const std::string& finished,
                            double duration_s, const std::vector<int>& pin_client,
                            const std::vector<int>& pin_server, std::uint64_t nofile_limit);

// Now, as 2026-11-23T02:10:00Z.
std::string utc_now_iso();

// count, min, p50 ... max, mean and the encoded histogram; null when empty.
nlohmann::json latency_json(const histogram& h);

// Writes `report` to `path` through a temporary file in the same directory
// and a rename.  Throws std::runtime_error on failure.
void write_report_atomically(const nlohmann::json& report, const std::filesystem::path& path);

}  // namespace ioduel::harness
