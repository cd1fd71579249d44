#pragma once
// vision-evaluation's prediction filters, which turn a row of scores into a set of predicted
// classes: TopKPredictionFilter(k) (the k' = min(k, C) best classes) and
// ThresholdPredictionFilter(t) (the classes scoring >= t, inclusive). Their identifiers name the
// report keys: "top5", "thres=0.5" (the threshold as Python's str() writes a float).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include "../core/error.hpp"
#include "numpy_compat.hpp"

namespace tailor::eval {

namespace classification_detail {

// Whether any of the 8 scores at p is >= t (inclusive) or > t: the test that lets the scans of a
// row skip 8 classes at once. GCC does not vectorize the plain loop, so SSE2 is spelled out.
template <bool inclusive>
inline bool any_of_8(const double* p, double t) noexcept {
#if defined(__SSE2__)
  const __m128d v = _mm_set1_pd(t);
  auto cmp = [&](const double* q) {
    return inclusive ? _mm_cmpge_pd(_mm_loadu_pd(q), v) : _mm_cmpgt_pd(_mm_loadu_pd(q), v);
  };
  const __m128d m = _mm_or_pd(_mm_or_pd(cmp(p), cmp(p + 2)), _mm_or_pd(cmp(p + 4), cmp(p + 6)));
  return _mm_movemask_pd(m) != 0;
#else
  bool any = false;
  for (int k = 0; k < 8; ++k) any |= inclusive ? p[k] >= t : p[k] > t;
  return any;
#endif
}

using numpy::python_float_str;  // report keys as vision-evaluation writes them (thres=0.5)

}  // namespace classification_detail

struct prediction_filter {
  enum class kind { top_k, threshold };
  kind type = kind::top_k;
  int k = 1;             // top_k: the k best classes (k' = min(k, C)); 0 selects nothing
  double threshold = 0;  // threshold: score >= threshold

  static prediction_filter top(int k) { return {kind::top_k, k, 0.0}; }
  static prediction_filter at_threshold(double t) { return {kind::threshold, 0, t}; }

  // "top5" or "thres=0.5", as vision-evaluation's filter.identifier.
  std::string identifier() const {
    return type == kind::top_k ? fmt::format("top{}", k) : "thres=" + classification_detail::python_float_str(threshold);
  }
  friend bool operator==(const prediction_filter& a, const prediction_filter& b) {
    if (a.type != b.type) return false;
    return a.type == kind::top_k ? a.k == b.k : a.threshold == b.threshold;
  }
};

// The k best classes of one row, best first: by decreasing score, and among equal scores by
// increasing class index. For k' = 1 this is np.argmax (ties go to the lowest index), which is
// what vision-evaluation uses. For k' > 1 vision-evaluation uses np.argpartition, whose choice
// among scores tied at the k-th place is up to introselect; tailor keeps the lowest indices.
// `out` receives min(k, C) indices.
inline void select_top_k(std::span<const double> row, std::size_t k, std::vector<std::uint32_t>& out) {
  const std::size_t c = row.size();
  k = std::min(k, c);
  out.clear();
  if (k == 0) return;
  if (k == 1) {
    std::uint32_t best = 0;
    for (std::size_t j = 1; j < c; ++j)
      if (row[j] > row[best]) best = static_cast<std::uint32_t>(j);
    out.push_back(best);
    return;
  }
  auto better = [&](std::uint32_t a, std::uint32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
  if (k <= 32) {
    // Insertion into a short sorted list: a class enters only if it beats the current k-th.
    for (std::size_t j = 0; j < k; ++j) {
      const auto idx = static_cast<std::uint32_t>(j);
      out.insert(std::upper_bound(out.begin(), out.end(), idx, better), idx);
    }
    double kth = row[out.back()];
    // Later indices lose ties, so only a strictly larger score can enter.
    auto offer = [&](std::size_t j) {
      if (!(row[j] > kth)) return;
      const auto idx = static_cast<std::uint32_t>(j);
      out.pop_back();
      out.insert(std::upper_bound(out.begin(), out.end(), idx, better), idx);
      kth = row[out.back()];
    };
    // Blocks of 8 that cannot enter (nearly all, past the first few) cost one vector compare.
    std::size_t j = k;
    for (; j + 8 <= c; j += 8)
      if (classification_detail::any_of_8<false>(row.data() + j, kth))
        for (std::size_t i = 0; i < 8; ++i) offer(j + i);
    for (; j < c; ++j) offer(j);
    return;
  }
  out.resize(c);
  for (std::size_t j = 0; j < c; ++j) out[j] = static_cast<std::uint32_t>(j);
  std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k - 1), out.end(), better);
  out.resize(k);
  std::sort(out.begin(), out.end(), better);
}

}  // namespace tailor::eval
