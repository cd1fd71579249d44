#pragma once
// Budget policies: how much compute a training run may use, how it is charged, and whether the
// next piece of work still fits. The customizer charges the busy time of every step as it goes
// and asks can_afford(next step + what must follow it) before starting a step, so a run stops at
// a step boundary before it would go over.
//
//   budget::compute_time  calibrated compute seconds: busy seconds on this machine x the machine's
//                         speed against the reference machine (automl/calibration.hpp), so a budget
//                         buys the same work on a slow and on a fast machine (a fast machine uses
//                         it faster per wall second). The default.
//   budget::wall_clock    plain busy seconds on this machine, uncalibrated (factor 1).
#include <concepts>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "../core/error.hpp"

namespace tailor::budget {

namespace detail {

// The arithmetic both policies share: seconds charged against a total, in budget units.
class ledger {
 public:
  ledger(double total, double factor) : total_(total), factor_(factor) {
    if (!(total > 0))
      throw error(failure_code::invalid_argument,
                  fmt::format("the budget must be a positive number of seconds, got {} (e.g. 90s, 10m, 2h)", total));
    if (!(factor > 0))
      throw error(failure_code::invalid_argument, fmt::format("the calibration factor must be positive, got {}", factor));
  }
  double total() const { return total_; }
  double charged() const { return charged_; }
  double left() const { return total_ > charged_ ? total_ - charged_ : 0.0; }
  double factor() const { return factor_; }
  // Busy seconds on this machine, in budget units.
  double units(double busy_seconds) const { return busy_seconds * factor_; }
  void charge(double busy_seconds) {
    if (busy_seconds > 0) charged_ += units(busy_seconds);
  }
  // A refund of what a trial that failed for a system reason was charged (it is retried free).
  void refund(double units_charged) { charged_ = units_charged < charged_ ? charged_ - units_charged : 0.0; }
  bool can_afford(double busy_seconds) const { return charged_ + units(busy_seconds) <= total_; }
  // Continue from an earlier run's charge (a resumed training).
  void restore(double charged_units) { charged_ = charged_units; }

 protected:
  void set_factor(double factor) { factor_ = factor; }

 private:
  double total_, factor_, charged_ = 0;
};

}  // namespace detail

struct compute_time : detail::ledger {
  static constexpr std::string_view name = "compute_time";
  static constexpr bool calibrated = true;
  compute_time(double total_seconds, double calibration_factor) : ledger(total_seconds, calibration_factor) {}
  // The machine measured again (automl::calibrator): what is charged from now on uses the new
  // factor; what was charged stays.
  void recalibrate(double calibration_factor) {
    if (calibration_factor > 0) set_factor(calibration_factor);
  }
};

struct wall_clock : detail::ledger {
  static constexpr std::string_view name = "wall_clock";
  static constexpr bool calibrated = false;
  wall_clock(double total_seconds, double /*calibration factor: ignored*/) : ledger(total_seconds, 1.0) {}
};

// What the customizer needs of a budget policy.
template <class P>
concept BudgetPolicy = std::constructible_from<P, double, double> && requires(P p, const P c, double s) {
  { P::name } -> std::convertible_to<std::string_view>;
  { P::calibrated } -> std::convertible_to<bool>;
  { c.total() } -> std::same_as<double>;
  { c.charged() } -> std::same_as<double>;
  { c.left() } -> std::same_as<double>;
  { c.factor() } -> std::same_as<double>;
  { c.units(s) } -> std::same_as<double>;
  { c.can_afford(s) } -> std::same_as<bool>;
  p.charge(s);
  p.refund(s);
  p.restore(s);
};

static_assert(BudgetPolicy<compute_time> && BudgetPolicy<wall_clock>);

// "90s", "10m", "2h", "1h30m", "1.5h" or a plain number of seconds, to seconds.
inline double parse_duration(std::string_view text) {
  auto bad = [&] {
    return error(failure_code::invalid_argument,
                 fmt::format("'{}' is not a duration: write a number of seconds or a number with a unit, e.g. 90s, 10m, "
                             "2h, 1h30m",
                             text));
  };
  if (text.empty()) throw bad();
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == start) throw bad();
    double value = 0;
    try {
      std::size_t used = 0;
      value = std::stod(std::string(text.substr(start, i - start)), &used);
      if (used != i - start) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    double unit = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        default: throw bad();
      }
      ++i;
    } else if (start != 0) {
      throw bad();  // "1h30": a bare number only on its own
    }
    total += value * unit;
  }
  if (!(total > 0)) throw bad();
  return total;
}

// Seconds for people: "45s", "2m30s", "1h05m".
inline std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s < 3600) return s % 60 ? fmt::format("{}m{:02}s", s / 60, s % 60) : fmt::format("{}m", s / 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace tailor::budget
