#pragma once
// The runner's progress on stderr: one line per measurement, and on a
// terminal a line that updates about once a second while it runs (the
// engine calls tick()).  Quiet runs print the per-measurement lines only.

#include <chrono>
#include <cstddef>
#include <string>

namespace ioduel::harness {

// "42s", or "3m05s" from a minute on.
std::string format_duration(double s);

class progress {
 public:
  progress(std::size_t items, double estimate_s, bool quiet);

  // A measurement starts: "[3/12] LABEL (elapsed ..., ~... left)".
  void begin(const std::string& label, double item_s);
  // While it runs (terminal only, not quiet): how far it is.
  void tick(double item_elapsed, double item_left);
  // A line under the current measurement (its result, a warning).
  void note(const std::string& line);
  // More measurements than planned (a run that adds rounds).
  void extend(std::size_t items, double estimate_s);
  // Clears the updating line.
  void end();

  double elapsed() const;
  double remaining() const;

 private:
  using steady = std::chrono::steady_clock;
  std::size_t items_;
  double estimate_s_;
  bool quiet_;
  bool tty_;
  steady::time_point start_;
  std::size_t index_ = 0;
  std::string label_;
};

}  // namespace ioduel::harness
