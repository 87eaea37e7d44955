#include "harness/run/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace ioduel::harness {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

progress::progress(std::size_t items, double estimate_s, bool quiet)
    : items_(items), estimate_s_(estimate_s), quiet_(quiet), tty_(::isatty(2) == 1), start_(steady::now()) {}

void progress::begin(const std::string& label, double item_s) {
  ++index_;
  label_ = label;
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << "[" << index_ << "/" << items_ << "] " << label << "  (elapsed " << format_duration(elapsed())
            << ", ~" << format_duration(remaining()) << " left)" << (tty_ ? "" : "\n") << std::flush;
  estimate_s_ -= item_s;
}

void progress::tick(double item_elapsed, double item_left) {
  if (!tty_ || quiet_) return;
  std::cerr << "\r\033[K[" << index_ << "/" << items_ << "] " << label_ << "  " << format_duration(item_elapsed)
            << " in, " << format_duration(item_left) << " to go (elapsed " << format_duration(elapsed()) << ", ~"
            << format_duration(remaining() + item_left) << " left)" << std::flush;
}

void progress::note(const std::string& line) {
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << "  " << line << "\n" << std::flush;
}

void progress::extend(std::size_t items, double estimate_s) {
  items_ += items;
  estimate_s_ += estimate_s;
}

void progress::end() {
  if (tty_) std::cerr << "\r\033[K" << std::flush;
}

double progress::elapsed() const { return std::chrono::duration<double>(steady::now() - start_).count(); }

double progress::remaining() const { return std::max(0.0, estimate_s_); }

}  // namespace ioduel::harness
