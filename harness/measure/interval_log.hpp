#pragma once
// Latency over time: a repetition's window cut into intervals (100 ms, or a
// twentieth of the window when that is longer), each with its own latency
// histogram of the requests intended in it, as an HdrHistogram interval log
// (the ".hlog" text of HdrHistogram's HistogramLogWriter, format 1.3: a
// header, then one line per interval of start and length in seconds, the
// interval's max in milliseconds and its histogram, V2 compressed, base64),
// which HdrHistogram's log readers and plotters read.  From the intervals,
// a trend test says whether the window was stationary: a throughput or a
// median that drifts across the window (a warm-up too short, a machine
// whose load changed) makes the repetition's figures an average of
// different regimes (Lancet, USENIX ATC '19).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/histogram.hpp"

namespace ioduel::harness {

struct latency_interval {
  double start_s = 0;   // from the window's start
  double length_s = 0;
  histogram latency = histogram::nanoseconds();  // requests intended in it, ns
};

// The log's text.  `start_epoch_s` is the window's start in seconds since
// the epoch (the log's StartTime and BaseTime).
std::string write_interval_log(const std::vector<latency_interval>& intervals, double start_epoch_s);

// Reads what write_interval_log (or another HdrHistogram log writer without
// tags) wrote; throws std::invalid_argument naming the line that is wrong.
std::vector<latency_interval> read_interval_log(std::string_view text);

// The Mann-Kendall trend statistic of a series, as a z score (continuity
// corrected, ties accounted for): positive for a rising series; 0 for fewer
// than 3 values.
double mann_kendall_z(const std::vector<double>& series);

// |z| beyond this (two-sided p < 0.01) is a trend.
inline constexpr double trend_z = 2.576;

// The "intervals" object of a measurement: the interval length, per
// interval its start, throughput, p50 and p99 (for plotting), the log, and
// the stationarity check of throughput and p50.
nlohmann::json intervals_json(const std::vector<latency_interval>& intervals, double start_epoch_s);

}  // namespace ioduel::harness
