#pragma once
// Classification metrics, number for number what microsoft/vision-evaluation v0.2.14 reports on
// top of scikit-learn 1.2, with its tie rules and quirks (each marked "vision-evaluation quirk" or
// "sklearn quirk" below). See ../shared/specs/metrics.md, "2.1 Common machinery" and
// "2.2 Classification".
//
//   tailor::eval::classification_accumulator acc(num_classes, classification_kind::multiclass);
//   for (auto& batch : batches) acc.add(batch.scores, batch.labels);   // N_b x C scores, N_b labels
//   nlohmann::ordered_json report = acc.report();                     // accuracy_top1, ...
//   double ap = acc.average_precision(averaging::macro);              // or any metric, typed
//
// Streaming: each score is stored once (AP, ROC AUC, N-point AP and balanced accuracy rank the
// columns when asked); top-k and threshold counts, the confusion matrix and the calibration bins
// are counted as batches arrive. Batch sizes never change a result beyond the last bit of a sum.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xoperation.hpp>

#include "../backend/cpu/parallel.hpp"
#include "../core/error.hpp"
#include "classification_curves.hpp"
#include "classification_filters.hpp"
#include "classification_prf.hpp"

namespace tailor::eval {

namespace classification_detail {

// std::allocator, except that blocks of 8 MB and more are 2 MB-aligned and advised for
// transparent huge pages: first touching 800 MB of scores otherwise costs 200,000 page faults,
// a third of the time spent adding them.
template <class T>
struct large_allocator {
  using value_type = T;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  static constexpr std::size_t large = 4 * huge_page;

  large_allocator() = default;
  template <class U>
  large_allocator(const large_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < large) return std::allocator<T>{}.allocate(n);
    void* p = std::aligned_alloc(huge_page, (bytes + huge_page - 1) / huge_page * huge_page);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)::madvise(p, (bytes + huge_page - 1) / huge_page * huge_page, MADV_HUGEPAGE);  // advice only
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < large)
      std::allocator<T>{}.deallocate(p, n);
    else
      std::free(p);
  }
  friend bool operator==(const large_allocator&, const large_allocator&) noexcept { return true; }
};

}  // namespace classification_detail

// multiclass: one class per sample, targets are (N,) class indices. multilabel: any number of
// classes per sample, targets are an (N, C) 0/1 matrix.
enum class classification_kind { multiclass, multilabel };

constexpr std::string_view to_string(classification_kind k) noexcept {
  return k == classification_kind::multiclass ? "multiclass" : "multilabel";
}

struct classification_metrics_options {
  std::vector<int> top_k{1, 5};           // accuracy_top{k} (multiclass) and precision/recall/F1 at top{k}
  std::vector<double> thresholds{0.5};    // precision/recall/F1 at thres={t}, accuracy_thres={t} (multilabel)
  averaging average = averaging::macro;   // of precision, recall, F1 and average_precision
  int calibration_bins = 15;              // EceLossEvaluator(n_bins)
  int ap_points = 11;                     // MeanAveragePrecisionNPointsEvaluator(n_points): key mAP_{n}_points
  bool normalize_confusion_matrix = false;  // rows divided by (row sum + 1e-5)
  std::vector<std::string> class_names;   // confusion_matrix "labels"; empty: the class indices 0..C-1
  // Above this many classes the C x C matrix is not kept (8 C^2 bytes) and the report leaves
  // confusion_matrix out; tag-wise and balanced accuracy do not need it.
  std::size_t confusion_matrix_max_classes = 4096;
};

class classification_accumulator {
 public:
  classification_accumulator(std::size_t num_classes, classification_kind kind,
                             classification_metrics_options options = {})
      : classes_(num_classes), kind_(kind), options_(std::move(options)) {
    if (classes_ == 0) throw error(failure_code::invalid_argument, "classification metrics need at least one class");
    if (classes_ > std::numeric_limits<std::int32_t>::max())
      throw error(failure_code::invalid_argument, fmt::format("too many classes ({})", classes_));
    for (int k : options_.top_k)
      if (k < 0) throw error(failure_code::invalid_argument, fmt::format("top-k must not be negative (got {})", k));
    for (double t : options_.thresholds)
      if (std::isnan(t)) throw error(failure_code::invalid_argument, "a score threshold must be a number (got NaN)");
    if (options_.calibration_bins < 1)
      throw error(failure_code::invalid_argument,
                  fmt::format("calibration needs at least one bin (got {})", options_.calibration_bins));
    if (options_.ap_points < 1)
      throw error(failure_code::invalid_argument,
                  fmt::format("the N-point AP needs at least one point (got {})", options_.ap_points));
    if (!options_.class_names.empty() && options_.class_names.size() != classes_)
      throw error(failure_code::invalid_argument, fmt::format("{} class names given for {} classes",
                                                              options_.class_names.size(), classes_));
    // One set of streamed counts per distinct filter: the top-k ones, then the thresholds.
    for (int k : options_.top_k) add_filter(prediction_filter::top(k));
    for (double t : options_.thresholds) add_filter(prediction_filter::at_threshold(t));
    for (int k : options_.top_k) top_k_max_ = std::max(top_k_max_, static_cast<std::size_t>(k));
    top_k_max_ = std::max<std::size_t>(1, std::min(top_k_max_, classes_));  // >= 1: argmax is always needed
    top_k_correct_.assign(options_.top_k.size(), 0);
    class_positives_.assign(classes_, 0);
    positive_begin_.assign(1, 0);
    mark_.assign(classes_, 0);
    if (kind_ == classification_kind::multiclass) {
      argmax_hits_.assign(classes_, 0);
      if (keeps_confusion_matrix()) confusion_.assign(classes_ * classes_, 0);
      ece_edges_ = numpy::linspace(0.0, 1.0, static_cast<std::size_t>(options_.calibration_bins) + 1);
      ece_correct_.assign(static_cast<std::size_t>(options_.calibration_bins), 0);
      ece_confidence_.assign(static_cast<std::size_t>(options_.calibration_bins), {});
    }
  }

  std::size_t num_classes() const noexcept { return classes_; }
  std::size_t num_samples() const noexcept { return samples_; }
  classification_kind kind() const noexcept { return kind_; }
  const classification_metrics_options& options() const noexcept { return options_; }
  // The scores added so far, N x C row-major (the only copy kept).
  std::span<const double> scores() const noexcept { return scores_; }

  void reserve(std::size_t samples) {
    scores_.reserve(samples * classes_);
    if (kind_ == classification_kind::multiclass) labels_.reserve(samples);
    else positive_begin_.reserve(samples + 1);
  }

  // Adds a batch: `scores` is N_b x C row-major; `targets` holds N_b class indices (multiclass)
  // or an N_b x C 0/1 matrix (multilabel). The batch is checked whole before anything is counted,
  // so a rejected batch leaves the accumulator as it was.
  void add(std::span<const double> scores, std::span<const std::int32_t> targets) {
    if (scores.size() % classes_ != 0)
      throw error(failure_code::invalid_argument, fmt::format("a batch of scores must hold N x {} numbers (got {})",
                                                              classes_, scores.size()));
    const std::size_t n = scores.size() / classes_;
    if (samples_ + n > std::numeric_limits<std::uint32_t>::max())
      throw error(failure_code::invalid_argument, "classification metrics hold fewer than 2^32 samples");
    const std::size_t expected = kind_ == classification_kind::multiclass ? n : n * classes_;
    if (targets.size() != expected)
      throw error(failure_code::invalid_argument,
                  fmt::format("{} targets of a batch of {} samples x {} classes must hold {} values (got {})",
                              to_string(kind_), n, classes_, expected, targets.size()));
    {
      // One branch-free pass finds whether anything is wrong; the loop that names it runs only then.
      bool finite = true;
      for (double x : scores) finite &= std::fabs(x) <= std::numeric_limits<double>::max();
      if (!finite)
        for (std::size_t i = 0; i < scores.size(); ++i)
          if (!std::isfinite(scores[i]))
            throw error(failure_code::invalid_argument, fmt::format("sample {} has a non-finite score {} for class {}",
                                                                    samples_ + i / classes_, scores[i], i % classes_));
    }
    {
      // The same for the targets: class ids below C, or 0/1.
      const auto limit = kind_ == classification_kind::multiclass ? static_cast<std::uint32_t>(classes_) : 2u;
      bool valid = true;
      for (auto t : targets) valid &= static_cast<std::uint32_t>(t) < limit;
      if (!valid)
        for (std::size_t i = 0; i < targets.size(); ++i) {
          const auto t = targets[i];
          if (static_cast<std::uint32_t>(t) >= limit)
            throw error(failure_code::invalid_argument,
                        kind_ == classification_kind::multiclass
                            ? fmt::format("sample {} has class {}, outside 0..{}", samples_ + i, t, classes_ - 1)
                            : fmt::format("sample {} has target {} for class {}; multilabel targets are 0 or 1",
                                          samples_ + i / classes_, t, i % classes_));
        }
    }

    std::vector<std::uint32_t> positives;
    for (std::size_t r = 0; r < n; ++r) {
      // Stored and counted row by row, so the row is counted while it is in L1.
      const std::size_t first = scores_.size();
      scores_.insert(scores_.end(), scores.begin() + static_cast<std::ptrdiff_t>(r * classes_),
                     scores.begin() + static_cast<std::ptrdiff_t>((r + 1) * classes_));
      const std::span<const double> row(scores_.data() + first, classes_);
      positives.clear();
      if (kind_ == classification_kind::multiclass) {
        positives.push_back(static_cast<std::uint32_t>(targets[r]));
        labels_.push_back(targets[r]);
      } else {
        for (std::size_t c = 0; c < classes_; ++c)
          if (targets[r * classes_ + c]) positives.push_back(static_cast<std::uint32_t>(c));
        positive_class_.insert(positive_class_.end(), positives.begin(), positives.end());
        positive_begin_.push_back(positive_class_.size());
      }
      count_row(row, positives);
      ++samples_;
    }
  }

  // The same from xtensor expressions: scores (N_b, C), targets (N_b,) or (N_b, C).
  template <class E1, class E2>
  void add(const xt::xexpression<E1>& scores, const xt::xexpression<E2>& targets) {
    const xt::xarray<double> s = scores.derived_cast();  // a row-major copy of the batch only
    const xt::xarray<std::int32_t> t = xt::cast<std::int32_t>(targets.derived_cast());
    if (s.dimension() != 2 || s.shape()[1] != classes_)
      throw error(failure_code::invalid_argument, fmt::format("a batch of scores must have shape (N, {})", classes_));
    const bool multiclass = kind_ == classification_kind::multiclass;
    if (multiclass ? (t.dimension() != 1 || t.shape()[0] != s.shape()[0])
                   : (t.dimension() != 2 || t.shape()[0] != s.shape()[0] || t.shape()[1] != classes_))
      throw error(failure_code::invalid_argument,
                  fmt::format("{} targets must have shape {}", to_string(kind_), multiclass ? "(N,)" : "(N, C)"));
    add(std::span<const double>(s.data(), s.size()), std::span<const std::int32_t>(t.data(), t.size()));
  }

  // ---- streamed metrics ---------------------------------------------------------------------

  // TopKAccuracyEvaluator (multiclass): share of samples whose class is among the k' = min(k, C)
  // best. k must be one of options.top_k. vision-evaluation asserts k > 0; top0 is 0 here.
  double top_k_accuracy(int k) const {
    require_multiclass("top-k accuracy");
    for (std::size_t i = 0; i < options_.top_k.size(); ++i)
      if (options_.top_k[i] == k) return samples_ ? static_cast<double>(top_k_correct_[i]) / static_cast<double>(samples_) : 0.0;
    throw error(failure_code::invalid_argument, fmt::format("top-{} accuracy was not counted; add {} to options.top_k", k, k));
  }

  // ThresholdAccuracyEvaluator: the mean over samples of |P ∩ T| / |P ∪ T| with P = {c : score >= t}.
  // vision-evaluation quirk: a sample with nothing predicted and no target scores 0, not 1.
  double threshold_accuracy(double threshold) const {
    const auto& f = filter_state_of(prediction_filter::at_threshold(threshold));
    return samples_ ? f.jaccard_sum.value() / static_cast<double>(samples_) : 0.0;
  }

  // PrecisionEvaluator(filter): sklearn.precision_score over every class column (vision-evaluation
  // keeps the columns without positives here, filter_out_zero_tgt=False, so their false
  // positives count); a class or sample without predictions counts 0.
  double precision(const prediction_filter& filter, averaging average) const {
    const auto& f = filter_state_of(filter);
    prf_counts counts{f.tp, f.pred, class_positives_, static_cast<std::int64_t>(samples_),
                      samples_ ? f.precision_sum.value() / static_cast<double>(samples_) : 0.0};
    return sklearn_prf(prf_metric::precision, average, counts);
  }

  // RecallEvaluator(filter): sklearn.recall_score after dropping the classes without positives
  // (vision-evaluation's filter_out_zero_tgt): macro recall is the mean over classes with >= 1
  // positive; with 'samples' a sample without targets counts 0.
  double recall(const prediction_filter& filter, averaging average) const {
    const auto& f = filter_state_of(filter);
    std::vector<std::int64_t> tp, pred, truth;
    for (std::size_t c = 0; c < classes_; ++c)
      if (class_positives_[c] > 0) tp.push_back(f.tp[c]), pred.push_back(f.pred[c]), truth.push_back(class_positives_[c]);
    prf_counts counts{tp, pred, truth, static_cast<std::int64_t>(samples_),
                      samples_ ? f.recall_sum.value() / static_cast<double>(samples_) : 0.0};
    return sklearn_prf(prf_metric::recall, average, counts);
  }

  // F1ScoreEvaluator(filter). vision-evaluation quirk: 2PR/(P+R) of the averaged P and R above,
  // not the mean of per-class F1s.
  double f1_score(const prediction_filter& filter, averaging average) const {
    return f1_from_averages(precision(filter, average), recall(filter, average));
  }

  // TagWiseAccuracyEvaluator (multiclass): per class, the share of its samples whose argmax is
  // that class (per-class recall); a class without samples gives 0 (NaN in numpy, nan_to_num'd).
  std::vector<double> tag_wise_accuracy() const {
    require_multiclass("tag-wise accuracy");
    std::vector<double> out(classes_, 0.0);
    for (std::size_t c = 0; c < classes_; ++c) out[c] = classification_detail::ratio_or_zero(argmax_hits_[c], class_positives_[c]);
    return out;
  }

  // EceLossEvaluator(n_bins) (multiclass): confidence = the argmax score, correct = argmax is the
  // class; bins (b/n, (b+1)/n] on np.linspace(0, 1, n + 1); ECE = sum_b |correct_b - confidence_b| / N.
  // vision-evaluation quirk: a confidence of exactly 0 (or outside (0, 1]) falls in no bin but
  // still counts in N.
  double calibration_ece() const {
    require_multiclass("calibration ECE");
    if (samples_ == 0) return 0.0;
    std::vector<double> gaps(ece_correct_.size());
    for (std::size_t b = 0; b < gaps.size(); ++b)
      gaps[b] = std::fabs(static_cast<double>(ece_correct_[b]) - ece_confidence_[b].value());
    return classification_detail::np_sum(gaps) / static_cast<double>(samples_);
  }

  // ConfusionMatrixEvaluator of the argmax predictions (multiclass): cm[i * C + j] counts samples
  // of class i predicted as j.
  std::vector<std::int64_t> confusion_matrix() const {
    require_confusion_matrix();
    return confusion_;
  }

  // The same with normalize=True: each row divided by (row sum + 1e-5), so an empty row stays 0.
  std::vector<double> normalized_confusion_matrix() const {
    require_confusion_matrix();
    std::vector<double> out(confusion_.size());
    for (std::size_t i = 0; i < classes_; ++i) {
      std::int64_t row = 0;
      for (std::size_t j = 0; j < classes_; ++j) row += confusion_[i * classes_ + j];
      const double den = static_cast<double>(row) + 1e-5;
      for (std::size_t j = 0; j < classes_; ++j) out[i * classes_ + j] = static_cast<double>(confusion_[i * classes_ + j]) / den;
    }
    return out;
  }

  // ---- metrics that rank the stored scores ----------------------------------------------------

  // The operating points of each class's one-vs-rest problem (no groups for a class without
  // positives). AP, tag-wise AP, N-point AP and ROC AUC all read these; compute once and pass
  // them to the overloads below when asking for several.
  std::vector<binary_points> rank_classes() const {
    std::vector<binary_points> points(classes_);
    const auto positives = positives_by_class();
    std::vector<double> buffer;
    std::vector<std::size_t> ranked;  // classes with positives
    for (std::size_t c = 0; c < classes_; ++c) {
      buffer.clear();
      for (auto i = positives.begin[c]; i < positives.begin[c + 1]; ++i)
        buffer.push_back(scores_[static_cast<std::size_t>(positives.sample[i]) * classes_ + c]);
      points[c].set_positives(buffer);
      if (buffer.empty())
        points[c].add_samples(static_cast<std::int64_t>(samples_));
      else
        ranked.push_back(c);
    }
    // Rows in order, each class's score checked against its lowest positive first (most samples
    // of most classes fall below it and are only counted). The classes are cut into chunks whose
    // counting state fits in a core's L2 cache, which threads share out; each chunk writes only
    // its own classes' points, so the result does not depend on threads.
    std::vector<double> floors(ranked.size());
    for (std::size_t j = 0; j < ranked.size(); ++j) floors[j] = points[ranked[j]].floor();
    std::vector<std::size_t> chunk_begin;
    for (std::size_t j = 0, bytes = 0; j < ranked.size(); ++j) {
      const std::size_t b = points[ranked[j]].working_set();
      if (chunk_begin.empty() || (bytes + b > (256u << 10) && j - chunk_begin.back() >= 8)) chunk_begin.push_back(j), bytes = 0;
      bytes += b;
    }
    chunk_begin.push_back(ranked.size());
    const auto chunks = static_cast<std::int64_t>(chunk_begin.size() - 1);
    auto count_chunk = [&](std::int64_t b) {
      const std::size_t lo = chunk_begin[static_cast<std::size_t>(b)], hi = chunk_begin[static_cast<std::size_t>(b) + 1];
      const std::size_t first_column = ranked[lo], last_column = ranked[hi - 1];
      for (std::size_t r = 0; r < samples_; ++r) {
        const double* row = scores_.data() + r * classes_;
        // This chunk's slice of the row 4 ahead: rows are pages apart, beyond the hardware prefetcher.
        if (r + 4 < samples_)
          for (std::size_t c = first_column; c <= last_column; c += 8) __builtin_prefetch(row + 4 * classes_ + c);
        for (std::size_t j = lo; j < hi; ++j) {
          const double x = row[ranked[j]];
          if (x >= floors[j]) points[ranked[j]].place(x);
        }
      }
      for (std::size_t j = lo; j < hi; ++j) points[ranked[j]].add_samples(static_cast<std::int64_t>(samples_));
    };
    // On the library's thread pool (backend::cpu set_num_threads sets its size).
    const auto per_chunk = chunks ? static_cast<std::int64_t>(samples_ * ranked.size()) / chunks : 0;  // scores read
    backend::cpu_detail::parallel_for(chunks, per_chunk, count_chunk);
    for (auto& p : points) p.finish();
    return points;
  }

  // AveragePrecisionEvaluator. macro (vision-evaluation's own code): the mean of per-class
  // sklearn AP over classes with >= 1 positive, 0 when none has. micro / weighted / samples:
  // sklearn.average_precision_score after dropping the classes without positives.
  // sklearn quirk: with a single class left the target is 'binary' and every average gives that
  // class's AP.
  double average_precision(averaging average) const { return average_precision(average, rank_classes()); }
  double average_precision(averaging average, const std::vector<binary_points>& points) const {
    if (samples_ == 0) return 0.0;
    const auto kept = classes_with_positives();
    if (kept.empty()) return 0.0;
    if (average == averaging::macro) {
      double sum = 0;  // a Python float accumulated class by class
      for (auto c : kept) sum += points[c].average_precision();
      return sum / static_cast<double>(kept.size());
    }
    if (kept.size() == 1) return points[kept[0]].average_precision();
    if (average == averaging::weighted) {
      std::vector<double> weighted(kept.size()), weights(kept.size());
      for (std::size_t i = 0; i < kept.size(); ++i) {
        weights[i] = static_cast<double>(class_positives_[kept[i]]);
        weighted[i] = points[kept[i]].average_precision() * weights[i];
      }
      return classification_detail::np_sum(weighted) / classification_detail::np_sum(weights);
    }
    if (average == averaging::micro) {
      // One binary problem of every (sample, kept class) cell.
      std::vector<double> positive_scores;
      for (std::size_t r = 0; r < samples_; ++r)
        for_each_positive(r, [&](std::size_t c) { positive_scores.push_back(scores_[r * classes_ + c]); });
      binary_points micro;
      micro.set_positives(positive_scores);
      for (std::size_t r = 0; r < samples_; ++r)
        for (auto c : kept) micro.count(scores_[r * classes_ + c]);
      micro.finish();
      return micro.average_precision();
    }
    // samples: one binary problem per row over the kept classes (0 for a row without positives).
    std::vector<double> per_row(samples_);
    std::vector<double> positive_scores;
    binary_points row_points;
    for (std::size_t r = 0; r < samples_; ++r) {
      positive_scores.clear();
      for_each_positive(r, [&](std::size_t c) { positive_scores.push_back(scores_[r * classes_ + c]); });
      row_points.set_positives(positive_scores);
      for (auto c : kept) row_points.count(scores_[r * classes_ + c]);
      row_points.finish();
      per_row[r] = row_points.average_precision();
    }
    return classification_detail::np_mean(per_row);
  }

  // TagWiseAveragePrecisionEvaluator: sklearn AP of each class with >= 1 positive, in class order
  // (so the list is indexed by the classes left, not by class id). vision-evaluation quirk: when
  // nothing was added or no class has a positive, the list is [0.0].
  std::vector<double> tag_wise_average_precision() const { return tag_wise_average_precision(rank_classes()); }
  std::vector<double> tag_wise_average_precision(const std::vector<binary_points>& points) const {
    std::vector<double> out;
    if (samples_ > 0)
      for (auto c : classes_with_positives()) out.push_back(points[c].average_precision());
    if (out.empty()) out.push_back(0.0);
    return out;
  }

  // MeanAveragePrecisionNPointsEvaluator(n): per class with >= 1 positive, the mean over r in
  // np.linspace(1, 0, n) of the best precision at recall >= r; then the mean over those classes.
  // vision-evaluation quirk: sklearn's curve ends at (recall 0, precision 1), so the point r = 0 is
  // always 1 (VOC2007 would take the true maximum precision there).
  double mean_average_precision_n_points(int n) const { return mean_average_precision_n_points(n, rank_classes()); }
  double mean_average_precision_n_points(int n, const std::vector<binary_points>& points) const {
    if (n < 1) throw error(failure_code::invalid_argument, fmt::format("the N-point AP needs n >= 1 (got {})", n));
    const auto kept = classes_with_positives();
    if (samples_ == 0 || kept.empty()) return 0.0;
    const auto thresholds = numpy::linspace(1.0, 0.0, static_cast<std::size_t>(n));
    std::vector<double> per_class;
    for (auto c : kept) per_class.push_back(points[c].interpolated_average_precision(thresholds));
    return classification_detail::np_mean(per_class);
  }

  // RocAucEvaluator: sklearn.roc_auc_score, average 'macro' (tied scores count one half).
  // multiclass with 2 classes: the binary AUC of column 1 (vision-evaluation's rule for (N, 2)
  // scores and 1-D targets); with more: one-vs-rest (multi_class='ovr'), the mean over classes.
  // multilabel: the mean over columns.
  // Where sklearn raises, tailor reports instead of failing: a class (column) with no positive or
  // no negative is left out of the mean, and 0 when none is left; the multiclass "scores must sum
  // to 1" check is not made (the AUC of each class does not depend on it).
  double roc_auc() const { return roc_auc(rank_classes()); }
  double roc_auc(const std::vector<binary_points>& points) const {
    if (samples_ == 0) return 0.0;
    if (kind_ == classification_kind::multiclass && classes_ <= 2) {
      if (classes_ == 1) return 0.0;
      return points[1].roc_auc().value_or(0.0);
    }
    std::vector<double> per_class;
    for (std::size_t c = 0; c < classes_; ++c)
      if (auto auc = points[c].roc_auc()) per_class.push_back(*auc);
    return classification_detail::np_mean(per_class);
  }

  // BalancedAccuracyScoreEvaluator: sklearn.balanced_accuracy_score(argmax(T), argmax(P)), the
  // mean recall over the classes present in the targets.
  // vision-evaluation quirk: the classes without positives are dropped before the argmax, so a
  // prediction whose argmax is such a class is re-argmaxed over the classes left; a multilabel
  // target row is reduced to its first positive class (the first class left when it has none).
  double balanced_accuracy() const {
    if (samples_ == 0) return 0.0;
    const auto kept = classes_with_positives();
    if (kept.empty()) return 0.0;
    std::vector<std::int64_t> position(classes_, -1);
    for (std::size_t i = 0; i < kept.size(); ++i) position[kept[i]] = static_cast<std::int64_t>(i);
    std::vector<std::int64_t> row_total(kept.size(), 0), diagonal(kept.size(), 0);
    if (kind_ == classification_kind::multiclass && kept.size() == classes_) {
      // Every class is kept: the streamed counts already hold argmax against class.
      for (std::size_t c = 0; c < classes_; ++c) row_total[c] = class_positives_[c], diagonal[c] = argmax_hits_[c];
    } else {
      for (std::size_t r = 0; r < samples_; ++r) {
        const double* row = scores_.data() + r * classes_;
        std::size_t best = 0;  // position in kept; ties to the lowest, as np.argmax
        for (std::size_t i = 1; i < kept.size(); ++i)
          if (row[kept[i]] > row[kept[best]]) best = i;
        std::size_t truth = 0;
        if (kind_ == classification_kind::multiclass) {
          truth = static_cast<std::size_t>(position[static_cast<std::size_t>(labels_[r])]);
        } else {
          std::int64_t first = std::numeric_limits<std::int64_t>::max();
          for (auto i = positive_begin_[r]; i < positive_begin_[r + 1]; ++i)
            first = std::min(first, position[static_cast<std::size_t>(positive_class_[i])]);
          truth = first == std::numeric_limits<std::int64_t>::max() ? 0 : static_cast<std::size_t>(first);
        }
        ++row_total[truth];
        if (truth == best) ++diagonal[truth];
      }
    }
    // sklearn drops the labels that only occur among the predictions (NaN recall).
    std::vector<double> per_class;
    for (std::size_t i = 0; i < kept.size(); ++i)
      if (row_total[i] > 0) per_class.push_back(static_cast<double>(diagonal[i]) / static_cast<double>(row_total[i]));
    return classification_detail::np_mean(per_class);
  }

  // ---- the report ---------------------------------------------------------------------------

  // Every metric under the key vision-evaluation reports it with, averaged with options.average:
  //   multiclass: accuracy_top{k}; precision_/recall_/f1_score_ at top{k} and thres={t};
  //     average_precision, tag_wise_average_precision, mAP_{n}_points, roc_auc, tag_wise_accuracy,
  //     balanced_accuracy, calibration_ece, confusion_matrix {cm, labels}.
  //   multilabel: accuracy_thres={t}; precision_/recall_/f1_score_ at top{k} and thres={t};
  //     average_precision, tag_wise_average_precision, mAP_{n}_points, roc_auc.
  // Never NaN: every undefined ratio is 0 as above.
  nlohmann::ordered_json report() const { return report(options_.average); }
  nlohmann::ordered_json report(averaging average) const {
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    const bool multiclass = kind_ == classification_kind::multiclass;
    if (multiclass)
      for (int k : options_.top_k) r[fmt::format("accuracy_top{}", k)] = top_k_accuracy(k);
    else
      for (double t : options_.thresholds) r["accuracy_" + prediction_filter::at_threshold(t).identifier()] = threshold_accuracy(t);
    for (const auto& f : filters_) {
      const auto id = f.filter.identifier();
      const double p = precision(f.filter, average), rc = recall(f.filter, average);
      r["precision_" + id] = p;
      r["recall_" + id] = rc;
      r["f1_score_" + id] = f1_from_averages(p, rc);
    }
    const auto points = rank_classes();
    r["average_precision"] = average_precision(average, points);
    r["tag_wise_average_precision"] = tag_wise_average_precision(points);
    r[fmt::format("mAP_{}_points", options_.ap_points)] = mean_average_precision_n_points(options_.ap_points, points);
    r["roc_auc"] = roc_auc(points);
    if (multiclass) {
      r["tag_wise_accuracy"] = tag_wise_accuracy();
      r["balanced_accuracy"] = balanced_accuracy();
      r["calibration_ece"] = calibration_ece();
      if (keeps_confusion_matrix()) r["confusion_matrix"] = confusion_matrix_json();
    }
    return r;
  }

  // Whether the C x C confusion matrix is kept (multiclass, C <= options.confusion_matrix_max_classes).
  bool keeps_confusion_matrix() const noexcept {
    return kind_ == classification_kind::multiclass && classes_ <= options_.confusion_matrix_max_classes;
  }

 private:
  // {"cm": [[...]], "labels": [...]}, counts or normalized rows.
  nlohmann::ordered_json confusion_matrix_json() const {
    nlohmann::ordered_json cm = nlohmann::ordered_json::array();
    const auto normalized = options_.normalize_confusion_matrix ? normalized_confusion_matrix() : std::vector<double>{};
    for (std::size_t i = 0; i < classes_; ++i) {
      nlohmann::ordered_json row = nlohmann::ordered_json::array();
      for (std::size_t j = 0; j < classes_; ++j) {
        if (options_.normalize_confusion_matrix)
          row.push_back(normalized[i * classes_ + j]);
        else
          row.push_back(confusion_[i * classes_ + j]);
      }
      cm.push_back(std::move(row));
    }
    nlohmann::ordered_json labels = nlohmann::ordered_json::array();
    for (std::size_t c = 0; c < classes_; ++c) {
      if (options_.class_names.empty())
        labels.push_back(c);
      else
        labels.push_back(options_.class_names[c]);
    }
    return {{"cm", std::move(cm)}, {"labels", std::move(labels)}};
  }

  struct filter_counts {
    prediction_filter filter;
    std::vector<std::int64_t> tp, pred;  // per class
    classification_detail::compensated_sum precision_sum, recall_sum, jaccard_sum;  // per-sample ratios
  };
  struct class_samples {  // samples of each class, CSR
    std::vector<std::size_t> begin;
    std::vector<std::uint32_t> sample;
  };

  void add_filter(const prediction_filter& f) {
    for (auto& g : filters_)
      if (g.filter == f) return;
    filters_.push_back({f, std::vector<std::int64_t>(classes_, 0), std::vector<std::int64_t>(classes_, 0), {}, {}, {}});
  }

  const filter_counts& filter_state_of(const prediction_filter& f) const {
    for (auto& g : filters_)
      if (g.filter == f) return g;
    throw error(failure_code::invalid_argument,
                fmt::format("{} was not counted; add it to options.{}", f.identifier(),
                            f.type == prediction_filter::kind::top_k ? "top_k" : "thresholds"));
  }

  void require_confusion_matrix() const {
    require_multiclass("the confusion matrix");
    if (!keeps_confusion_matrix())
      throw error(failure_code::invalid_argument,
                  fmt::format("the confusion matrix of {} classes was not kept (options.confusion_matrix_max_classes is {})",
                              classes_, options_.confusion_matrix_max_classes));
  }

  void require_multiclass(std::string_view what) const {
    if (kind_ != classification_kind::multiclass)
      throw error(failure_code::invalid_argument, fmt::format("{} is defined for multiclass targets only", what));
  }

  // Counts one stored row whose positive classes are `positives`.
  void count_row(std::span<const double> row, std::span<const std::uint32_t> positives) {
    for (auto c : positives) mark_[c] = 1, ++class_positives_[c];
    const auto n_true = static_cast<std::int64_t>(positives.size());
    select_top_k(row, top_k_max_, top_);
    auto count_selection = [&](filter_counts& f, std::int64_t selected, std::int64_t hits) {
      f.precision_sum.add(selected ? static_cast<double>(hits) / static_cast<double>(selected) : 0.0);
      f.recall_sum.add(n_true ? static_cast<double>(hits) / static_cast<double>(n_true) : 0.0);
      const std::int64_t uni = selected + n_true - hits;
      f.jaccard_sum.add(uni ? static_cast<double>(hits) / static_cast<double>(uni) : 0.0);
    };
    for (auto& f : filters_) {
      std::int64_t selected = 0, hits = 0;
      if (f.filter.type == prediction_filter::kind::top_k) {
        const std::size_t k = std::min(static_cast<std::size_t>(f.filter.k), classes_);
        for (std::size_t i = 0; i < k; ++i) {
          const auto c = top_[i];
          ++f.pred[c];
          if (mark_[c]) ++f.tp[c], ++hits;
        }
        selected = static_cast<std::int64_t>(k);
      } else {
        const double t = f.filter.threshold;
        auto take = [&](std::size_t c) {
          if (row[c] >= t) {  // inclusive, as ThresholdPredictionFilter
            ++f.pred[c], ++selected;
            if (mark_[c]) ++f.tp[c], ++hits;
          }
        };
        // Blocks of 8 with none selected (most, for a selective threshold) cost one vector compare.
        std::size_t c = 0;
        for (; c + 8 <= classes_; c += 8)
          if (classification_detail::any_of_8<true>(row.data() + c, t))
            for (std::size_t k = 0; k < 8; ++k) take(c + k);
        for (; c < classes_; ++c) take(c);
      }
      count_selection(f, selected, hits);
    }
    if (kind_ == classification_kind::multiclass) {
      const auto y = positives[0];
      for (std::size_t i = 0; i < options_.top_k.size(); ++i) {
        const std::size_t k = std::min(static_cast<std::size_t>(options_.top_k[i]), classes_);
        for (std::size_t j = 0; j < k; ++j)
          if (top_[j] == y) {
            ++top_k_correct_[i];
            break;
          }
      }
      const auto best = top_[0];
      if (best == y) ++argmax_hits_[y];
      if (!confusion_.empty()) ++confusion_[static_cast<std::size_t>(y) * classes_ + best];
      // The bin (e[b], e[b+1]] holding the confidence: the first edge >= it closes the bin.
      const double confidence = row[best];
      const auto edge = std::lower_bound(ece_edges_.begin(), ece_edges_.end(), confidence) - ece_edges_.begin();
      if (edge >= 1 && static_cast<std::size_t>(edge) < ece_edges_.size()) {
        const auto b = static_cast<std::size_t>(edge - 1);
        ece_correct_[b] += best == y ? 1 : 0;
        ece_confidence_[b].add(confidence);
      }
    }
    for (auto c : positives) mark_[c] = 0;
  }

  template <class F>
  void for_each_positive(std::size_t r, F&& f) const {
    if (kind_ == classification_kind::multiclass) {
      f(static_cast<std::size_t>(labels_[r]));
      return;
    }
    for (auto i = positive_begin_[r]; i < positive_begin_[r + 1]; ++i) f(static_cast<std::size_t>(positive_class_[i]));
  }

  class_samples positives_by_class() const {
    class_samples out;
    out.begin.assign(classes_ + 1, 0);
    for (std::size_t c = 0; c < classes_; ++c) out.begin[c + 1] = out.begin[c] + static_cast<std::size_t>(class_positives_[c]);
    out.sample.resize(out.begin[classes_]);
    std::vector<std::size_t> next(out.begin.begin(), out.begin.end() - 1);
    for (std::size_t r = 0; r < samples_; ++r) for_each_positive(r, [&](std::size_t c) { out.sample[next[c]++] = static_cast<std::uint32_t>(r); });
    return out;
  }

  std::vector<std::size_t> classes_with_positives() const {
    std::vector<std::size_t> kept;
    for (std::size_t c = 0; c < classes_; ++c)
      if (class_positives_[c] > 0) kept.push_back(c);
    return kept;
  }

  std::size_t classes_;
  classification_kind kind_;
  classification_metrics_options options_;
  std::size_t samples_ = 0;
  std::vector<double, classification_detail::large_allocator<double>> scores_;  // N x C
  std::vector<std::int32_t> labels_;           // multiclass: N classes
  std::vector<std::size_t> positive_begin_;    // multilabel: positives of row r are
  std::vector<std::int32_t> positive_class_;   //   positive_class_[positive_begin_[r] .. positive_begin_[r+1])
  std::vector<std::int64_t> class_positives_;  // per class: samples with it as a target
  std::vector<filter_counts> filters_;
  std::size_t top_k_max_ = 1;
  std::vector<std::int64_t> top_k_correct_;    // per options.top_k entry
  std::vector<std::int64_t> argmax_hits_;      // multiclass, per class: samples whose argmax is their class
  std::vector<std::int64_t> confusion_;        // multiclass: C x C, true x argmax (when kept)
  std::vector<double> ece_edges_;
  std::vector<std::int64_t> ece_correct_;
  std::vector<classification_detail::compensated_sum> ece_confidence_;
  std::vector<std::uint8_t> mark_;             // scratch: the positives of the row being counted
  std::vector<std::uint32_t> top_;             // scratch: its best classes
};

// The report of everything added to `acc` (see classification_accumulator::report).
inline nlohmann::ordered_json classification_report(const classification_accumulator& acc) { return acc.report(); }

}  // namespace tailor::eval
