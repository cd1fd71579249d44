#pragma once
// Ranking metrics of one binary problem (one class against the rest), as scikit-learn 1.2 computes
// them: average_precision_score (the step-wise area under precision_recall_curve), roc_auc_score
// (the trapezoid under roc_curve, tied scores getting half credit) and vision-evaluation's N-point
// interpolated precision. See ../shared/specs/metrics.md, "2.2 Classification".
//
// Every one of them only needs the operating points where positives enter, in decreasing score:
// for each distinct positive score s, how many positives and how many samples score >= s and == s.
// So nothing is sorted but the positives; every other sample is only counted into its place
// (binary_points::count), which is what makes 1000 classes x 100,000 samples cheap.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <vector>
#include "numpy_compat.hpp"

namespace tailor::eval {

namespace classification_detail {

inline double np_sum(std::span<const double> a) { return numpy::pairwise_sum(a.data(), a.size()); }
inline double np_mean(std::span<const double> a) { return a.empty() ? 0.0 : np_sum(a) / static_cast<double>(a.size()); }


// Neumaier's compensated sum: streamed sums (ECE bins, per-sample scores) stay within an ulp or
// two of numpy's pairwise sums whatever the batch sizes.
struct compensated_sum {
  double sum = 0, compensation = 0;
  void add(double x) noexcept {
    const double t = sum + x;
    compensation += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const noexcept { return sum + compensation; }
};

}  // namespace classification_detail

// The operating points of one binary problem where positives enter, in decreasing score. Build
// with set_positives, feed every sample's score (positives included) to count, then finish.
class binary_points {
 public:
  // Takes the scores of the positives (any order; reordered in place).
  void set_positives(std::span<double> positive_scores) {
    std::sort(positive_scores.begin(), positive_scores.end(), std::greater<>());
    score_.clear();
    tp_.clear();
    for (double s : positive_scores) {
      // == groups -0.0 with 0.0, as np.diff does in sklearn's _binary_clf_curve.
      if (score_.empty() || !(score_.back() == s)) {
        score_.push_back(s);
        tp_.push_back(0);
      }
      ++tp_.back();
    }
    positives_ = static_cast<std::int64_t>(positive_scores.size());
    eq_.assign(score_.size(), 0);
    above_.assign(score_.size(), 0);
    samples_ = 0;
    finished_ = false;
    build_index();
  }

  // The lowest positive score: a sample below it never counts before recall is complete, so
  // callers may skip it (and add it with add_samples). +inf without positives.
  double floor() const noexcept { return score_.empty() ? std::numeric_limits<double>::infinity() : score_.back(); }

  // One sample's score (every sample of the problem, positive or not, exactly once).
  void count(double x) noexcept {
    ++samples_;
    if (x >= floor()) place(x);
  }
  // A score >= floor() that was not counted in samples (add_samples counts it).
  void place(double x) noexcept {
    std::size_t p = 0;  // the first group whose score is <= x (scores decrease)
    if (x < score_[0]) {
      // The bucket of x bounds p: bucket() is monotone in the score, so the groups of lower
      // buckets all score above x and those of higher buckets below it.
      const std::size_t k = bucket(x);
      const std::size_t lo = bucket_start_[k];
      std::size_t n = bucket_start_[k + 1] - lo;
      const double* s = score_.data() + lo;
      while (n > 0) {  // usually 0 to 2 groups
        const std::size_t half = n / 2;
        if (s[half] > x) {
          s += half + 1;
          n -= half + 1;
        } else {
          n = half;
        }
      }
      p = static_cast<std::size_t>(s - score_.data());
    }
    if (score_[p] == x)
      ++eq_[p];
    else
      ++above_[p];  // strictly between this group's score and the previous group's
  }
  // Samples counted by the caller rather than through count() (placed ones and those below floor()).
  void add_samples(std::int64_t n) noexcept { samples_ += n; }

  // Turns the counts into cumulative ones; call once after the last count.
  void finish() {
    if (finished_) return;
    std::int64_t ge = 0, tp = 0;
    tp_cum_.resize(score_.size());
    all_ge_.resize(score_.size());
    for (std::size_t i = 0; i < score_.size(); ++i) {
      ge += static_cast<std::int64_t>(above_[i]) + static_cast<std::int64_t>(eq_[i]);
      tp += tp_[i];
      all_ge_[i] = ge;
      tp_cum_[i] = tp;
    }
    finished_ = true;
  }

  // Bytes the counting pass touches for this problem (to size the chunks of classes counted together).
  std::size_t working_set() const noexcept { return score_.size() * 20 + sizeof(*this); }

  std::int64_t positives() const noexcept { return positives_; }
  std::int64_t samples() const noexcept { return samples_; }
  std::size_t groups() const noexcept { return score_.size(); }

  // sklearn.metrics.average_precision_score: sum over thresholds of (R_n - R_{n-1}) * P_n, with
  // R = tps / tps[-1] and P = tps / (tps + fps) computed as sklearn computes them, summed from the
  // lowest threshold up as np.sum(np.diff(recall) * precision[:-1]) does. No positives: 0, as
  // sklearn gives (it sets recall to 1 everywhere, so the only step has precision 0).
  double average_precision() const {
    if (positives_ == 0) return 0.0;
    const double p = static_cast<double>(positives_);
    terms_.resize(score_.size());
    for (std::size_t i = score_.size(); i-- > 0;) {
      const double recall = static_cast<double>(tp_cum_[i]) / p;
      const double previous = i == 0 ? 0.0 : static_cast<double>(tp_cum_[i - 1]) / p;
      const double precision = static_cast<double>(tp_cum_[i]) / static_cast<double>(all_ge_[i]);
      terms_[score_.size() - 1 - i] = (recall - previous) * precision;
    }
    return numpy::pairwise_sum(terms_.data(), terms_.size());
  }

  // sklearn.metrics.roc_auc_score of the binary problem: the area under the ROC curve, a tie
  // between a positive and a negative counting one half (the trapezoid). nullopt when the problem
  // has no positive or no negative (sklearn raises "Only one class present in y_true").
  std::optional<double> roc_auc() const {
    const std::int64_t negatives = samples_ - positives_;
    if (positives_ == 0 || negatives <= 0) return std::nullopt;
    // Twice the Mann-Whitney count, in integers: each positive at s beats the negatives below s
    // and ties with the negatives at s.
    std::int64_t twice = 0;
    for (std::size_t i = 0; i < score_.size(); ++i) {
      const std::int64_t neg_ge = all_ge_[i] - tp_cum_[i];
      const std::int64_t neg_eq = static_cast<std::int64_t>(eq_[i]) - tp_[i];
      twice += tp_[i] * (2 * (negatives - neg_ge) + neg_eq);
    }
    return static_cast<double>(twice) / (2.0 * static_cast<double>(positives_) * static_cast<double>(negatives));
  }

  // vision-evaluation's PrecisionRecallCurveMixin: for each r in recall_thresholds (decreasing,
  // np.linspace(1, 0, n)), the largest precision among points with recall >= r, where the curve
  // includes sklearn's sentinel point (recall 0, precision 1). Returns the mean over the points.
  // Only the points where positives enter matter: any other point repeats the recall of the one
  // before it with a lower precision. Needs positives.
  double interpolated_average_precision(std::span<const double> recall_thresholds) const {
    const double p = static_cast<double>(positives_);
    std::vector<double> interp(recall_thresholds.size());
    // Suffix maxima of precision over the points, whose recall increases with the index.
    std::vector<double> best(score_.size() + 1, 0.0);
    for (std::size_t i = score_.size(); i-- > 0;)
      best[i] = std::max(best[i + 1], static_cast<double>(tp_cum_[i]) / static_cast<double>(all_ge_[i]));
    for (std::size_t j = 0; j < recall_thresholds.size(); ++j) {
      const double r = recall_thresholds[j];
      std::size_t i = 0;
      while (i < score_.size() && static_cast<double>(tp_cum_[i]) / p < r) ++i;
      double v = best[i];
      if (r <= 0.0) v = std::max(v, 1.0);  // the sentinel (recall 0, precision 1)
      interp[j] = v;
    }
    return classification_detail::np_mean(interp);
  }

 private:
  // Buckets of equal width between the highest and the lowest positive score, counted from the
  // top, one per group; bucket_start_[k] is the first group in bucket k or below.
  std::size_t bucket(double x) const noexcept {
    if (bucket_scale_ == 0) return 0;  // one group, or a range beyond double: one bucket
    const double d = (score_[0] - x) * bucket_scale_;
    return d < static_cast<double>(buckets_ - 1) ? static_cast<std::size_t>(d) : buckets_ - 1;
  }
  void build_index() {
    const std::size_t g = score_.size();
    buckets_ = std::max<std::size_t>(1, g);
    const double range = g > 1 ? score_[0] - score_[g - 1] : 0.0;
    bucket_scale_ = range > 0 && std::isfinite(static_cast<double>(buckets_) / range) ? static_cast<double>(buckets_) / range : 0.0;
    bucket_start_.assign(buckets_ + 1, static_cast<std::uint32_t>(g));
    for (std::size_t i = g; i-- > 0;) bucket_start_[bucket(score_[i])] = static_cast<std::uint32_t>(i);
    for (std::size_t k = buckets_; k-- > 0;) bucket_start_[k] = std::min(bucket_start_[k], bucket_start_[k + 1]);
  }

  std::vector<double> score_;          // distinct positive scores, decreasing
  std::vector<std::int64_t> tp_;       // positives at exactly that score
  // 32-bit counts keep what the counting pass touches small (the accumulator holds < 2^32 samples).
  std::vector<std::uint32_t> eq_;      // samples at exactly that score
  std::vector<std::uint32_t> above_;   // samples strictly between that score and the previous one
  std::vector<std::int64_t> tp_cum_;   // positives scoring >= that score (sklearn's tps)
  std::vector<std::int64_t> all_ge_;   // samples scoring >= that score (sklearn's tps + fps)
  std::vector<std::uint32_t> bucket_start_;
  std::size_t buckets_ = 1;
  double bucket_scale_ = 0;
  std::int64_t positives_ = 0, samples_ = 0;
  bool finished_ = false;
  mutable std::vector<double> terms_;
};

// One binary problem given whole: scores (no NaN) and 0/1 truth of the same length.
inline binary_points make_binary_points(std::span<const double> scores, std::span<const std::uint8_t> truth) {
  std::vector<double> positives;
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (truth[i]) positives.push_back(scores[i]);
  binary_points points;
  points.set_positives(positives);
  for (double s : scores) points.count(s);
  points.finish();
  return points;
}

// sklearn.metrics.average_precision_score(truth, scores) for one binary problem.
inline double binary_average_precision(std::span<const double> scores, std::span<const std::uint8_t> truth) {
  return make_binary_points(scores, truth).average_precision();
}

// sklearn.metrics.roc_auc_score(truth, scores); nullopt where sklearn raises (one class only).
inline std::optional<double> binary_roc_auc(std::span<const double> scores, std::span<const std::uint8_t> truth) {
  return make_binary_points(scores, truth).roc_auc();
}

}  // namespace tailor::eval
