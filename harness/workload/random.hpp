#pragma once
// A small, fast, fully specified random generator (xoshiro256**, seeded by
// splitmix64) and the few draws the workloads need.  The standard library's
// distributions may differ between library versions; these do not, so one
// seed gives one request sequence on every build and against every server.

#include <cmath>
#include <cstdint>

namespace ioduel::harness {

constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mixes several numbers (seed, group, connection, generation) into one seed.
constexpr std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0,
                                 std::uint64_t d = 0) noexcept {
  std::uint64_t s = a;
  std::uint64_t h = splitmix64(s);
  s ^= b * 0xD6E8FEB86659FD93ull;
  h ^= splitmix64(s);
  s ^= c * 0xA0761D6478BD642Full;
  h ^= splitmix64(s);
  s ^= d * 0xE7037ED1A0B428DBull;
  return h ^ splitmix64(s);
}

class rng {
 public:
  explicit rng(std::uint64_t seed = 1) noexcept {
    for (auto& w : s_) w = splitmix64(seed);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
    const std::uint64_t span = hi - lo + 1;
    return span == 0 ? next() : lo + next() % span;  // modulo bias is negligible for our spans
  }

  // Exponential with the given mean.
  double exponential(double mean) noexcept { return -mean * std::log1p(-uniform()); }

  // Standard normal (Box-Muller, one of the pair).
  double normal() noexcept {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4];
};

}  // namespace ioduel::harness
