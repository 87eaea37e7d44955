#pragma once
// This machine's noise floor, from an A/A run (`ioduel calibrate`): one
// server run twice in every round, as "NAME" and "NAME#2", in the same
// shuffled order as any run.  Nothing differs between the two, so every
// "faster" or "slower" between them is a false verdict, and the widths of
// their ratio intervals say how small a difference the machine resolves at
// that many rounds: a real ratio r gets a verdict once its interval, about
// r (1 +- w/2) wide, clears the margin, that is from r = (1 + m) / (1 - w/2).

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// The name the second copy of `server` runs under.
std::string calibration_twin(const std::string& server);

// The noise floor of a calibrate report: per metric, the comparisons made,
// the median and widest interval width (a fraction of the ratio), the false
// verdicts, and the smallest difference that median width resolves.
nlohmann::json calibration_summary(const nlohmann::json& report);

// A table of it, for people.
void print_calibration(const nlohmann::json& summary, std::ostream& out);

}  // namespace ioduel::harness
