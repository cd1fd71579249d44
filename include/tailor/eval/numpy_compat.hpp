#pragma once
// The few numpy / Python behaviours the reference evaluators' numbers depend on, reproduced once
// for every evaluator: np.linspace's values, np.sum's pairwise rounding, and Python's str(float)
// (which report keys such as "thres=0.5" are spelled with).
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace tailor::eval::numpy {

// np.linspace(start, stop, num) bit for bit: i * step + start, with the last value set to stop.
inline std::vector<double> linspace(double start, double stop, std::size_t num) {
  std::vector<double> y(num);
  if (num == 0) return y;
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (std::size_t i = 0; i < num; ++i) y[i] = static_cast<double>(i) * step + start;
  y[num - 1] = stop;
  return y;
}

// numpy's pairwise summation (what np.sum / np.mean use on a contiguous float64 array), so means
// round exactly as the Python references' do.
inline double pairwise_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// Python's str(float): fmt's "{}" already writes the shortest repr that reads back, switching to an
// exponent below 1e-4 and from 1e16 as Python does; only the ".0" of whole numbers is missing.
// Examples: 0.5 -> "0.5", 1.0 -> "1.0", 1e-05 -> "1e-05", 0.1 + 0.2 -> "0.30000000000000004".
inline std::string python_float_str(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", x);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace tailor::eval::numpy
