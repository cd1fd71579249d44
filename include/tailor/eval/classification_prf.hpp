#pragma once
// sklearn.metrics.precision_score / recall_score (zero_division='warn', so an undefined ratio
// counts 0) from per-class counts, for the four averages vision-evaluation passes through, and
// vision-evaluation's F1 from the already-averaged precision and recall.
//
// Counts are all these need, so they are streamed: per class, true positives, predictions and
// positives (sklearn's tp_sum, pred_sum, true_sum). 'samples' needs per-sample ratios, which the
// caller streams as a mean.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "classification_curves.hpp"

namespace tailor::eval {

// The `average` of sklearn's metrics (and of vision-evaluation's get_report).
enum class averaging { macro, micro, weighted, samples };

constexpr std::string_view to_string(averaging a) noexcept {
  switch (a) {
    case averaging::macro: return "macro";
    case averaging::micro: return "micro";
    case averaging::weighted: return "weighted";
    case averaging::samples: return "samples";
  }
  return "macro";
}

inline std::optional<averaging> parse_averaging(std::string_view s) noexcept {
  if (s == "macro") return averaging::macro;
  if (s == "micro") return averaging::micro;
  if (s == "weighted") return averaging::weighted;
  if (s == "samples") return averaging::samples;
  return std::nullopt;
}

enum class prf_metric { precision, recall };

// Counts of the columns handed to sklearn (after vision-evaluation dropped the ones it drops).
struct prf_counts {
  std::span<const std::int64_t> tp;     // per column: predicted and positive
  std::span<const std::int64_t> pred;   // per column: predicted
  std::span<const std::int64_t> truth;  // per column: positive
  std::int64_t samples = 0;             // rows
  double samples_mean = 0;              // mean over rows of the per-row ratio ('samples' only)
};

namespace classification_detail {

inline double ratio_or_zero(std::int64_t num, std::int64_t den) {
  return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

// Per-label values averaged as precision_recall_fscore_support does: macro is np.average(v),
// micro divides the summed counts, weighted is np.average(v, weights=true_sum) (0 when no label
// has a positive).
inline double average_labels(std::span<const std::int64_t> num, std::span<const std::int64_t> den,
                             std::span<const std::int64_t> truth, averaging average) {
  const std::size_t n = num.size();
  if (average == averaging::micro) {
    std::int64_t a = 0, b = 0;
    for (std::size_t i = 0; i < n; ++i) a += num[i], b += den[i];
    return ratio_or_zero(a, b);
  }
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = ratio_or_zero(num[i], den[i]);
  if (average == averaging::weighted) {
    double scale = 0;
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<double>(truth[i]);
    scale = np_sum(w);
    if (scale == 0) return 0.0;
    for (std::size_t i = 0; i < n; ++i) v[i] *= w[i];
    return np_sum(v) / scale;
  }
  return np_mean(v);
}

}  // namespace classification_detail

// sklearn's precision_score / recall_score of the multilabel-indicator matrices behind `counts`.
//
// sklearn quirk: a single column is not multilabel-indicator for sklearn but a 'binary' target,
// and then 'macro', 'micro' and 'weighted' average over the labels {0, 1} present in either
// array, so label 0 (the negatives) takes part; with 'samples' sklearn raises "Samplewise metrics
// are not available outside of multilabel classification", where tailor gives the per-row mean
// (the value a second, empty column would give).
inline double sklearn_prf(prf_metric metric, averaging average, const prf_counts& counts) {
  using classification_detail::average_labels;
  if (counts.samples == 0 || counts.tp.empty()) return 0.0;
  if (average == averaging::samples) return counts.samples_mean;
  if (counts.tp.size() == 1) {
    const std::int64_t n = counts.samples, tp = counts.tp[0], pred = counts.pred[0], truth = counts.truth[0];
    std::vector<std::int64_t> l_tp, l_pred, l_truth;
    // unique_labels(y_true, y_pred): label 0 is present where some row is 0 in either array.
    if (truth < n || pred < n) l_tp.push_back(n - truth - pred + tp), l_pred.push_back(n - pred), l_truth.push_back(n - truth);
    if (truth > 0 || pred > 0) l_tp.push_back(tp), l_pred.push_back(pred), l_truth.push_back(truth);
    return average_labels(l_tp, metric == prf_metric::precision ? l_pred : l_truth, l_truth, average);
  }
  return average_labels(counts.tp, metric == prf_metric::precision ? counts.pred : counts.truth, counts.truth, average);
}

// vision-evaluation's F1ScoreEvaluator: 2PR / (P + R) of the averaged precision and recall (not
// sklearn's f1_score, which averages per-class F1s); 0 when P + R = 0.
inline double f1_from_averages(double precision, double recall) {
  return precision + recall > 0 ? 2 * (precision * recall) / (precision + recall) : 0.0;
}

}  // namespace tailor::eval
