#pragma once
// COCO bbox evaluation, number for number what pycocotools' COCOeval (iouType='bbox') computes:
// evaluate() + accumulate() + summarize(), with its tie rules, its epsilon and its quirks (each
// marked "pycocotools quirk" below). See ../shared/specs/metrics.md, "pycocotools COCOeval".
//
//   auto gt = tailor::data::read_coco(std::string_view(json), "gt.json", options).dataset;  // sizes optional
//   auto dets = tailor::eval::read_coco_results(results_json, "results.json");
//   auto r = tailor::eval::evaluate_bbox(gt, dets);   // r.stats[0] is AP@[.50:.95]
//
//   tailor::eval::detection_accumulator acc(gt);       // or batch by batch, stored once
//   acc.add(batch);  ...;  auto r2 = acc.evaluate();   // the same numbers
//
// Layout: the detections are copied once, in (category, image) cell order and by score within a
// cell; then everything is done one category at a time in flat scratch arrays reused across
// cells, so nothing is allocated per (image, category) pair.
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"
#include "coco_results_reader.hpp"
#include "numpy_compat.hpp"

namespace tailor::eval {

struct detection {
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  double x = 0, y = 0, w = 0, h = 0;  // pixels, [x, y, width, height] as in COCO results
  double score = 0;
};

namespace detail {



// np.mean(s[s > -1]), or -1 when nothing is left (pycocotools' summarize rule).
inline double mean_over_valid(const std::vector<double>& values) {
  if (values.empty()) return -1;
  return numpy::pairwise_sum(values.data(), values.size()) / static_cast<double>(values.size());
}

// maskUtils.iou for boxes (the C function bbIou), with the same operation order: the union of a
// crowd gt is the detection's own area (pycocotools quirk: a crowd region absorbs detections).
inline double box_iou(const detection& d, const data::box& g, bool crowd) noexcept {
  const double da = d.w * d.h;
  const double w = std::fmin(d.w + d.x, g.w + g.x) - std::fmax(d.x, g.x);
  if (w <= 0) return 0;
  const double h = std::fmin(d.h + d.y, g.h + g.y) - std::fmax(d.y, g.y);
  if (h <= 0) return 0;
  const double i = w * h;
  const double ga = g.w * g.h;
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

inline bool finite_box(double x, double y, double w, double h) {
  return std::isfinite(x) && std::isfinite(y) && std::isfinite(w) && std::isfinite(h) && w >= 0 && h >= 0;
}

}  // namespace detail

struct area_range {
  double lo = 0, hi = 0;
};

struct coco_eval_params {
  // Params(iouType='bbox'): np.linspace(.5, 0.95, 10) and np.linspace(.0, 1.00, 101), computed as
  // numpy does (so 0.75 is the value np.where finds for AP75).
  std::vector<double> iou_thresholds = numpy::linspace(0.5, 0.95, 10);
  std::vector<double> recall_thresholds = numpy::linspace(0.0, 1.0, 101);
  std::vector<int> max_dets{1, 10, 100};
  // all, small, medium, large; bounds are inclusive on both sides (pycocotools quirk: an area of
  // exactly 32^2 is both small and medium).
  std::vector<area_range> area_ranges{{0, 1e10}, {0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}};
  // tailor extension, not in pycocotools: detections scored below this are left out before
  // anything else, exactly as if they were not in the results. The default keeps every one.
  double min_score = -std::numeric_limits<double>::infinity();
};

struct coco_eval_result {
  // AP, AP50, AP75, AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small, AR_medium, AR_large;
  // -1 where pycocotools prints -1 (no entry with ground truth).
  std::array<double, 12> stats{};
  std::vector<double> precision;  // [T][R][K][A][M], as eval['precision'] (-1: no gt)
  std::vector<double> recall;     // [T][K][A][M], as eval['recall']
  std::vector<std::int64_t> category_ids;  // sorted: the K dimension
  std::vector<double> per_category_ap;     // AP@[.50:.95], area all, maxDets 100; -1 without gt
  // Counts behind the curves (tailor additions; pycocotools keeps them implicit). Per
  // [T][K][A][M]: the true and false positives among the detections accumulate() ranks (each
  // image's first maxDets[m], ignored ones left out), counted also where there is no ground truth.
  // Per [K][A]: npig, the ground-truth boxes that are not ignored.
  std::vector<std::size_t> true_positives, false_positives;  // [T][K][A][M]
  std::vector<std::size_t> ground_truth;                     // [K][A]
  std::size_t T = 0, R = 0, K = 0, A = 0, M = 0;

  double precision_at(std::size_t t, std::size_t r, std::size_t k, std::size_t a, std::size_t m) const {
    return precision[(((t * R + r) * K + k) * A + a) * M + m];
  }
  double recall_at(std::size_t t, std::size_t k, std::size_t a, std::size_t m) const {
    return recall[((t * K + k) * A + a) * M + m];
  }
  std::size_t true_positives_at(std::size_t t, std::size_t k, std::size_t a, std::size_t m) const {
    return true_positives[((t * K + k) * A + a) * M + m];
  }
  std::size_t false_positives_at(std::size_t t, std::size_t k, std::size_t a, std::size_t m) const {
    return false_positives[((t * K + k) * A + a) * M + m];
  }
  std::size_t ground_truth_at(std::size_t k, std::size_t a) const { return ground_truth[k * A + a]; }
};

namespace detail {

// A ground-truth box as the matching loop reads it, copied out of the annotation table.
struct gt_record {
  data::box bbox;
  double area = 0;      // the annotation's 'area' field (else w*h), as pycocotools uses it
  bool crowd = false;
  bool zero_id = false;  // annotation id 0: reads as "unmatched" in dtMatches (pycocotools quirk)
};

// The ground truth arranged as COCOeval walks it: images and categories in sorted-id order
// (p.imgIds / p.catIds are np.unique'd), annotations bucketed by cell = category * I + image, in
// file order within a cell.
struct gt_layout {
  std::size_t I = 0, K = 0;
  std::vector<std::uint32_t> image_pos, category_pos;  // table index -> sorted position
  std::vector<std::int64_t> category_ids;               // sorted: the K dimension
  std::vector<std::uint32_t> gt_begin;                  // per cell, cells + 1 entries
  std::vector<gt_record> gt;                            // by cell

  explicit gt_layout(const data::coco_dataset& d) {
    using data::no_index;
    std::vector<std::uint32_t> image_order(d.images.size()), category_order(d.categories.size());
    for (std::uint32_t i = 0; i < image_order.size(); ++i) image_order[i] = i;
    for (std::uint32_t i = 0; i < category_order.size(); ++i) category_order[i] = i;
    std::sort(image_order.begin(), image_order.end(), [&](auto a, auto b) { return d.images[a].id < d.images[b].id; });
    std::sort(category_order.begin(), category_order.end(),
              [&](auto a, auto b) { return d.categories[a].id < d.categories[b].id; });
    I = image_order.size(), K = category_order.size();
    if (K != 0 && I > (std::size_t{0xffffffffu} - 1) / K)
      throw error(failure_code::invalid_argument,
                  fmt::format("COCO evaluation of {} images x {} categories is too large (at most 2^32 pairs)", I, K));
    image_pos.resize(I), category_pos.resize(K), category_ids.resize(K);
    for (std::uint32_t p = 0; p < I; ++p) image_pos[image_order[p]] = p;
    for (std::uint32_t p = 0; p < K; ++p) category_pos[category_order[p]] = p;
    for (std::size_t k = 0; k < K; ++k) category_ids[k] = d.categories[category_order[k]].id;

    const std::size_t cells = K * I;
    gt_begin.assign(cells + 1, 0);
    std::vector<std::uint32_t> cell_of(d.annotations.size());
    for (std::size_t j = 0; j < d.annotations.size(); ++j) {
      const auto& a = d.annotations[j];
      if (a.image_index == no_index || a.category_index == no_index)
        throw error(failure_code::invalid_argument,
                    fmt::format("ground-truth annotations[{}] (id {}) refers to a missing image or category", j, a.id));
      // A box the loader read but rejected (empty, outside the image) is still evaluated, as
      // pycocotools uses every gt bbox as given; only a missing or unreadable one is an error.
      if (!(a.box_state == data::box_status::valid || a.box_state == data::box_status::rejected))
        throw error(failure_code::invalid_argument,
                    fmt::format("ground-truth annotations[{}] (id {}) has no usable bbox; detection evaluation needs one", j, a.id));
      cell_of[j] = static_cast<std::uint32_t>(category_pos[a.category_index] * I + image_pos[a.image_index]);
      ++gt_begin[cell_of[j] + 1];
    }
    for (std::size_t c = 0; c < cells; ++c) gt_begin[c + 1] += gt_begin[c];
    gt.resize(d.annotations.size());
    std::vector<std::uint32_t> fill(gt_begin.begin(), gt_begin.end() - 1);
    for (std::size_t j = 0; j < d.annotations.size(); ++j) {
      const auto& a = d.annotations[j];
      gt[fill[cell_of[j]]++] = {a.bbox, a.area, a.iscrowd, a.id == 0};
    }
  }

  // The cell of a detection; throws error{invalid_argument} naming it (`index`) when it cannot be
  // evaluated. `last` remembers the previous image looked up: detections come image by image, and
  // sparse image ids (COCO's) are looked up in a hash map.
  struct lookup_cache {
    std::int64_t image_id = 0;
    std::uint32_t image_index = data::no_index;
  };
  std::uint32_t cell_of(const data::coco_dataset& d, const detection& det, std::size_t index, lookup_cache& last) const {
    using data::no_index;
    if (det.image_id != last.image_id || last.image_index == no_index) last = {det.image_id, d.image_ids.find(det.image_id)};
    const auto ii = last.image_index;
    if (ii == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has image_id {}, which is not an image of the ground truth", index, det.image_id));
    const auto ci = d.category_ids.find(det.category_id);
    if (ci == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has category_id {}, which is not a category of the ground truth", index,
                              det.category_id));
    if (!finite_box(det.x, det.y, det.w, det.h) || !std::isfinite(det.score))
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has a non-finite number or a negative size: bbox [{}, {}, {}, {}], score {}",
                              index, det.x, det.y, det.w, det.h, det.score));
    return static_cast<std::uint32_t>(category_pos[ci] * I + image_pos[ii]);
  }
};

// Detections in fixed-size chunks that never move (no reallocation copies while they are added),
// addressed by position.
class detection_store {
 public:
  static constexpr std::size_t chunk_bits = 14, chunk_size = std::size_t{1} << chunk_bits, chunk_mask = chunk_size - 1;

  std::size_t size() const noexcept { return size_; }
  // &store[q], when store[q .. q+n) lies in one chunk (as almost every cell does); else nullptr.
  const detection* contiguous(std::size_t q, std::size_t n) const noexcept {
    if (n == 0 || (q >> chunk_bits) != ((q + n - 1) >> chunk_bits)) return nullptr;
    return &(*this)[q];
  }
  detection& operator[](std::size_t q) noexcept { return chunks_[q >> chunk_bits][q & chunk_mask]; }
  const detection& operator[](std::size_t q) const noexcept { return chunks_[q >> chunk_bits][q & chunk_mask]; }
  void resize(std::size_t n) {
    while (chunks_.size() * chunk_size < n) chunks_.push_back(std::make_unique<detection[]>(chunk_size));
    size_ = n;
  }
  void append(std::span<const detection> dets) {
    std::size_t q = size_;
    resize(size_ + dets.size());
    for (const auto& d : dets) (*this)[q++] = d;
  }

 private:
  std::vector<std::unique_ptr<detection[]>> chunks_;
  std::size_t size_ = 0;
};

// Stable sort of store[first, last) by descending score (np.argsort(-s, kind='mergesort')):
// insertion sort for the short runs most cells have, std::stable_sort through `scratch` otherwise.
inline void sort_by_score(detection_store& store, std::size_t first, std::size_t last, std::vector<detection>& scratch) {
  const std::size_t n = last - first;
  if (n < 2) return;
  if (n > 24) {
    scratch.resize(n);
    for (std::size_t q = 0; q < n; ++q) scratch[q] = store[first + q];
    std::stable_sort(scratch.begin(), scratch.end(), [](const detection& a, const detection& b) { return a.score > b.score; });
    for (std::size_t q = 0; q < n; ++q) store[first + q] = scratch[q];
    return;
  }
  for (std::size_t i = first + 1; i < last; ++i) {
    const detection v = store[i];
    std::size_t j = i;
    for (; j != first && store[j - 1].score < v.score; --j) store[j] = store[j - 1];
    store[j] = v;
  }
}

// A detection's place in a category's accumulation: its sort key (descending score), its index
// in the concatenation over images, and its rank within its cell.
struct score_entry {
  std::uint64_t key;
  std::uint32_t index, rank;
};

// An unsigned key whose ascending order is the scores' descending order; -0.0 and 0.0 get the
// same key, as they compare equal.
inline std::uint64_t descending_key(double score) noexcept {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(score == 0 ? 0.0 : score);
  const std::uint64_t ascending = (bits >> 63) ? ~bits : bits | (std::uint64_t{1} << 63);
  return ~ascending;
}

// Stable sort by key (LSD radix sort, 11 bits a pass; passes whose digit is the same everywhere
// are skipped): equal keys keep their order, as np.argsort(-s, kind='mergesort') keeps them.
inline void sort_by_key(std::vector<score_entry>& v, std::vector<score_entry>& scratch) {
  constexpr int bits = 11, passes = (64 + bits - 1) / bits;
  constexpr std::size_t buckets = std::size_t{1} << bits;
  const std::size_t n = v.size();
  if (n < 2) return;
  std::vector<std::uint32_t> count(passes * buckets, 0);
  for (const auto& e : v)
    for (int p = 0; p < passes; ++p) ++count[p * buckets + ((e.key >> (p * bits)) & (buckets - 1))];
  scratch.resize(n);
  for (int p = 0; p < passes; ++p) {
    std::uint32_t* c = count.data() + p * buckets;
    if (c[(v[0].key >> (p * bits)) & (buckets - 1)] == n) continue;  // one digit for all
    std::uint32_t sum = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      const std::uint32_t x = c[b];
      c[b] = sum;
      sum += x;
    }
    for (const auto& e : v) scratch[c[(e.key >> (p * bits)) & (buckets - 1)]++] = e;
    v.swap(scratch);
  }
}

// evaluate() + accumulate() + summarize() on detections arranged by cell (cell c holds
// dets[begin[c] .. begin[c+1])) and within a cell by descending score, stable.
inline coco_eval_result evaluate_cells(const gt_layout& L, const std::vector<std::uint32_t>& begin, const detection_store& dets,
                                       const coco_eval_params& params) {
  const std::size_t T = params.iou_thresholds.size(), R = params.recall_thresholds.size(),
                    A = params.area_ranges.size(), M = params.max_dets.size();
  if (M == 0 || T == 0) throw error(failure_code::invalid_argument, "COCO evaluation needs at least one maxDets and one IoU threshold");
  for (int m : params.max_dets)
    if (m < 0) throw error(failure_code::invalid_argument, fmt::format("maxDets must not be negative (got {})", m));
  if (std::isnan(params.min_score)) throw error(failure_code::invalid_argument, "the minimum score must be a number, not NaN");
  const std::size_t I = L.I, K = L.K;

  coco_eval_result result;
  result.T = T, result.R = R, result.K = K, result.A = A, result.M = M;
  result.category_ids = L.category_ids;
  result.precision.assign(T * R * K * A * M, -1.0);
  result.recall.assign(T * K * A * M, -1.0);
  result.true_positives.assign(T * K * A * M, 0);
  result.false_positives.assign(T * K * A * M, 0);
  result.ground_truth.assign(K * A, 0);

  // evaluateImg keeps maxDets[-1] detections per cell (pycocotools quirk: the last entry, not the max).
  const std::size_t max_det_all = static_cast<std::size_t>(params.max_dets.back());
  const bool cut_scores = params.min_score > -std::numeric_limits<double>::infinity();
  std::vector<double> thresholds(T);
  for (std::size_t t = 0; t < T; ++t) thresholds[t] = std::min(params.iou_thresholds[t], 1 - 1e-10);

  // Per-category scratch, reused.
  std::vector<std::uint32_t> kept(I);  // detections of each cell that take part
  // The concatenation over images of each cell's kept detections (index p): per area range a
  // kind, all_fp (a false positive at every threshold), all_ignored, or mixed (then its flag at
  // each threshold is in cat_flags).
  enum : std::uint8_t { all_fp = 0, all_ignored = 2, mixed = 3 };
  enum : std::uint8_t { flag_fp = 0, flag_tp = 1, flag_ignored = 2 };
  std::vector<score_entry> cat_order, sort_scratch;  // by p, then by descending score (stable)
  std::vector<std::uint8_t> cat_kind;   // [p][A]
  std::vector<std::uint8_t> cat_flags;  // [p][A][T], read only where cat_kind is mixed
  // accumulate, per state s = (a, t, m): pr at each true positive (then its suffix max), and the
  // counts. all_fp detections count at every threshold: fp_all per (a, m), the rest per state.
  const std::size_t S = A * T * M;
  std::vector<std::vector<double>> tp_precision_s(S);
  std::vector<std::size_t> nd_x(S), fp_x(S), fp_all(A * M);
  std::vector<char> first_is_tp_s(S);
  std::vector<std::uint32_t> max_det_m(M);
  for (std::size_t m = 0; m < M; ++m) max_det_m[m] = static_cast<std::uint32_t>(params.max_dets[m]);
  std::vector<std::size_t> npig(A);
  struct candidate {
    std::uint32_t d;  // the detection in its cell
    double best;      // its highest IoU
  };
  struct gt_iou {
    std::uint32_t g;  // the gt in its cell
    double iou;
  };
  std::vector<candidate> candidates;
  std::vector<gt_iou> pairs, scan;       // per candidate: pairs[pair_begin[ci] .. pair_begin[ci+1])
  std::vector<std::uint32_t> pair_begin;
  std::vector<double> det_area, area_lo(A), area_hi(A);
  for (std::size_t a = 0; a < A; ++a) area_lo[a] = params.area_ranges[a].lo, area_hi[a] = params.area_ranges[a].hi;
  std::vector<detection> cell_copy;
  std::vector<std::uint8_t> gt_ignore, gt_crowd, gt_matched;
  const double lowest_threshold = *std::min_element(thresholds.begin(), thresholds.end());
  const bool sorted_recall_thresholds = std::is_sorted(params.recall_thresholds.begin(), params.recall_thresholds.end());

  for (std::size_t k = 0; k < K; ++k) {
    // Size the category's detection list first so the flags can be laid out [p][A][T].
    std::size_t n = 0;
    for (std::size_t i = 0; i < I; ++i) {
      const std::size_t c = k * I + i;
      std::size_t D = begin[c + 1] - begin[c];
      if (cut_scores)
        while (D > 0 && !(dets[begin[c] + D - 1].score >= params.min_score)) --D;
      D = std::min(D, max_det_all);
      kept[i] = static_cast<std::uint32_t>(D);
      n += D;
    }
    cat_order.clear();
    cat_kind.resize(n * A);
    cat_flags.resize(n * A * T);
    std::fill(npig.begin(), npig.end(), 0);

    for (std::size_t i = 0; i < I; ++i) {
      const std::size_t c = k * I + i;
      const gt_record* g_rec = L.gt.data() + L.gt_begin[c];
      const std::size_t G = L.gt_begin[c + 1] - L.gt_begin[c];
      const std::size_t q0 = begin[c];  // the cell's detections are dets[q0 + d]
      const std::size_t D = kept[i];
      const std::size_t base = cat_order.size();
      if (G == 0 && D == 0) continue;  // evaluateImg returns None
      const detection* cd = dets.contiguous(q0, D);
      if (cd == nullptr) {  // the cell spans two chunks of the store
        cell_copy.resize(D);
        for (std::size_t d = 0; d < D; ++d) cell_copy[d] = dets[q0 + d];
        cd = cell_copy.data();
      }
      // Each detection's sort key, and what it is at each area range while unmatched: ignored
      // when its area (w*h, as loadRes sets it) is outside the range, else a false positive.
      det_area.resize(D);
      for (std::size_t d = 0; d < D; ++d) {
        const double area = cd[d].w * cd[d].h;
        det_area[d] = area;
        cat_order.push_back({descending_key(cd[d].score), static_cast<std::uint32_t>(base + d), static_cast<std::uint32_t>(d)});
        std::uint8_t* kinds = cat_kind.data() + (base + d) * A;
        for (std::size_t a = 0; a < A; ++a) kinds[a] = (area < area_lo[a] || area > area_hi[a]) ? all_ignored : all_fp;
      }
      if (G == 0) continue;  // no gt (the common cell): every detection is unmatched

      // computeIoU, kept sparse: for each candidate (a detection with an IoU >= the lowest
      // threshold with some gt), its gt with such an IoU, in gt order. Every other detection
      // matches nothing at any threshold (the scan below would find no gt), and a gt whose IoU is
      // below the threshold never changes the scan's outcome (it is skipped, and the stop rule
      // for ignored gt acts at the next ignored one all the same), so leaving them out changes no
      // flag.
      gt_crowd.resize(G);
      for (std::size_t g = 0; g < G; ++g) gt_crowd[g] = g_rec[g].crowd ? 1 : 0;
      candidates.clear();
      pairs.clear();
      pair_begin.clear();
      for (std::size_t d = 0; d < D; ++d) {
        const detection& det = cd[d];
        const std::size_t first = pairs.size();
        double best = -1;
        for (std::size_t g = 0; g < G; ++g) {
          const double v = box_iou(det, g_rec[g].bbox, gt_crowd[g] != 0);
          if (v >= lowest_threshold) {
            pairs.push_back({static_cast<std::uint32_t>(g), v});
            best = std::max(best, v);
          }
        }
        if (pairs.size() != first) {
          candidates.push_back({static_cast<std::uint32_t>(d), best});
          pair_begin.push_back(static_cast<std::uint32_t>(first));
        }
      }
      pair_begin.push_back(static_cast<std::uint32_t>(pairs.size()));

      for (std::size_t a = 0; a < A; ++a) {
        const double lo = params.area_ranges[a].lo, hi = params.area_ranges[a].hi;
        auto unmatched_flag = [&](std::size_t d) { return (det_area[d] < lo || det_area[d] > hi) ? flag_ignored : flag_fp; };

        // gt ignore = iscrowd, or its annotation 'area' outside [lo, hi]; evaluateImg then scans
        // them in a stable order that puts the ignored ones last.
        gt_ignore.resize(G);
        std::size_t regular = 0;
        for (std::size_t g = 0; g < G; ++g) {
          const double area = g_rec[g].area;
          gt_ignore[g] = (gt_crowd[g] || area < lo || area > hi) ? 1 : 0;
          regular += gt_ignore[g] ? 0 : 1;
        }
        npig[a] += regular;
        if (candidates.empty()) continue;
        // Each candidate's gt in scan order: regular ones first, each part in gt order (stable).
        scan.resize(pairs.size());
        for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
          std::size_t out = pair_begin[ci];
          for (std::size_t q = pair_begin[ci]; q < pair_begin[ci + 1]; ++q)
            if (!gt_ignore[pairs[q].g]) scan[out++] = pairs[q];
          for (std::size_t q = pair_begin[ci]; q < pair_begin[ci + 1]; ++q)
            if (gt_ignore[pairs[q].g]) scan[out++] = pairs[q];
        }

        std::uint8_t* flags = cat_flags.data() + (base * A + a) * T;  // detection d's row: + d * A * T
        for (std::size_t t = 0; t < T; ++t) {
          gt_matched.assign(G, 0);
          for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
            const std::uint32_t d = candidates[ci].d;
            if (candidates[ci].best < thresholds[t]) {  // no gt reaches this threshold
              flags[d * A * T + t] = unmatched_flag(d);
              continue;
            }
            double best = thresholds[t];
            std::ptrdiff_t m = -1;  // the gt
            for (std::size_t q = pair_begin[ci]; q < pair_begin[ci + 1]; ++q) {
              const std::uint32_t g = scan[q].g;
              if (gt_matched[g] && !gt_crowd[g]) continue;
              // Matched to a regular gt already, and only ignored ones remain: stop.
              if (m > -1 && !gt_ignore[static_cast<std::size_t>(m)] && gt_ignore[g]) break;
              if (scan[q].iou < best) continue;
              best = scan[q].iou;  // ties go to the later gt
              m = static_cast<std::ptrdiff_t>(g);
            }
            bool ignored = false, matched = false;
            if (m > -1) {
              const auto g = static_cast<std::size_t>(m);
              ignored = gt_ignore[g] != 0;
              // pycocotools quirk: dtMatches holds the gt's id, and an id of 0 reads as "unmatched".
              matched = !g_rec[g].zero_id;
              gt_matched[g] = 1;  // the detection's id (1..n) is never 0
            }
            // Unmatched detections outside the area range are ignored.
            flags[d * A * T + t] = matched ? (ignored ? flag_ignored : flag_tp) : (ignored ? flag_ignored : unmatched_flag(d));
          }
        }
        for (const auto& cand : candidates) {
          const std::uint8_t* row = flags + cand.d * A * T;
          const bool uniform = std::all_of(row + 1, row + T, [&](std::uint8_t f) { return f == row[0]; });
          cat_kind[(base + cand.d) * A + a] =
              uniform && row[0] == flag_fp ? all_fp : uniform && row[0] == flag_ignored ? all_ignored : mixed;
        }
      }
    }

    // accumulate(): one stable sort of the category's detections by descending score; the
    // per-maxDet lists are this order filtered by rank, which is what re-sorting each
    // concatenation of the first m per image would give.
    sort_by_key(cat_order, sort_scratch);

    // One pass over the sorted detections serves every (a, t, m): state s = (a*T + t)*M + m sees
    // the detections of rank < maxDets[m] with their flag at area range a and threshold t.
    for (std::size_t s = 0; s < S; ++s) {
      tp_precision_s[s].clear();
      nd_x[s] = 0;
      fp_x[s] = 0;
      first_is_tp_s[s] = false;
    }
    std::fill(fp_all.begin(), fp_all.end(), 0);
    for (const auto& e : cat_order) {
      const std::uint32_t p = e.index, rank = e.rank;
      const std::uint8_t* kinds = cat_kind.data() + static_cast<std::size_t>(p) * A;
      for (std::size_t a = 0; a < A; ++a) {
        const std::uint8_t kind = kinds[a];
        if (kind == all_ignored) continue;
        if (kind == all_fp) {
          for (std::size_t m = 0; m < M; ++m) fp_all[a * M + m] += rank < max_det_m[m] ? 1 : 0;
          continue;
        }
        const std::uint8_t* row = cat_flags.data() + (static_cast<std::size_t>(p) * A + a) * T;
        for (std::size_t m = 0; m < M; ++m) {
          if (rank >= max_det_m[m]) continue;
          for (std::size_t t = 0; t < T; ++t) {
            const std::uint8_t f = row[t];
            if (f == flag_ignored) continue;
            const std::size_t s = (a * T + t) * M + m;
            if (f == flag_tp) {
              auto& tps = tp_precision_s[s];
              if (fp_all[a * M + m] + nd_x[s] == 0) first_is_tp_s[s] = true;
              const double tp = static_cast<double>(tps.size() + 1);
              const double fp = static_cast<double>(fp_all[a * M + m] + fp_x[s]);
              tps.push_back(tp / (fp + tp + std::numeric_limits<double>::epsilon()));  // np.spacing(1)
            } else {
              ++fp_x[s];
            }
            ++nd_x[s];
          }
        }
      }
    }

    for (std::size_t a = 0; a < A; ++a) {
      result.ground_truth[k * A + a] = npig[a];
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t m = 0; m < M; ++m) {
          const std::size_t at = ((t * K + k) * A + a) * M + m, s = (a * T + t) * M + m;
          result.true_positives[at] = tp_precision_s[s].size();
          result.false_positives[at] = fp_all[a * M + m] + fp_x[s];
        }
      if (npig[a] == 0) continue;  // precision and recall stay -1
      const double np_ig = static_cast<double>(npig[a]);
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t m = 0; m < M; ++m) {
          // The precision/recall curve of pycocotools, computed only where it can be sampled:
          // - an ignored detection repeats its predecessor's rc and pr, so leaving it out changes
          //   neither the envelope nor what searchsorted finds;
          // - a false positive never raises pr (same tp, larger denominator, monotone rounding), so
          //   the envelope max_{j >= i} pr[j] is max(pr[i], pr at the true positives after i);
          // - rc rises only at true positives, so searchsorted lands on index 0 or a true positive.
          // pr and rc are computed with pycocotools' own expressions, so the values are identical.
          const std::size_t s = (a * T + t) * M + m;
          auto& tp_precision = tp_precision_s[s];
          const std::size_t nd = fp_all[a * M + m] + nd_x[s];
          const bool first_is_tp = first_is_tp_s[s];
          const std::size_t ntp = tp_precision.size();
          result.recall[((t * K + k) * A + a) * M + m] = nd ? static_cast<double>(ntp) / np_ig : 0.0;
          for (std::size_t i = ntp; i-- > 1;)
            if (tp_precision[i] > tp_precision[i - 1]) tp_precision[i - 1] = tp_precision[i];
          // rc[0] and pr[0] of the full curve: 1/npig and the first tp's pr, or 0 and 0/(1+eps) = 0.
          const double rc0 = first_is_tp ? 1.0 / np_ig : 0.0;
          const double env0 = ntp ? tp_precision[0] : 0.0;  // max over the whole curve
          double* out = result.precision.data() + ((t * R * K + k) * A + a) * M + m;  // + r * K * A * M
          const std::size_t stride = K * A * M;
          std::size_t walk = 0;  // with sorted recall thresholds, searchsorted's answers only grow
          for (std::size_t r = 0; r < R; ++r) {
            const double thr = params.recall_thresholds[r];
            double q = 0;
            bool past_end = nd == 0;
            if (!past_end) {
              if (rc0 >= thr) {
                q = env0;
              } else {
                // First true positive i with (i+1)/npig >= thr (searchsorted 'left' on rc).
                std::size_t lo_i = 0, hi_i = ntp;
                if (sorted_recall_thresholds) {
                  while (walk < ntp && static_cast<double>(walk + 1) / np_ig < thr) ++walk;
                  lo_i = walk;
                } else {
                  while (lo_i < hi_i) {
                    const std::size_t mid = lo_i + (hi_i - lo_i) / 2;
                    if (static_cast<double>(mid + 1) / np_ig < thr) lo_i = mid + 1;
                    else hi_i = mid;
                  }
                }
                if (lo_i == ntp) past_end = true;
                else q = tp_precision[lo_i];
              }
            }
            if (past_end) {
              // pycocotools quirk: the IndexError ends the loop, so this and later thresholds stay 0.
              for (std::size_t r2 = r; r2 < R; ++r2) out[r2 * stride] = 0;
              break;
            }
            out[r * stride] = q;
          }
        }
      }
    }
  }

  // summarize(): means over entries > -1, in numpy's C order of the selected sub-array.
  std::vector<double> values;
  auto find_index = [](const auto& list, auto value) -> std::ptrdiff_t {
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i] == value) return static_cast<std::ptrdiff_t>(i);
    return -1;
  };
  auto summarize = [&](bool ap, std::ptrdiff_t a, int max_det, std::optional<double> iou) -> double {
    const std::ptrdiff_t m = find_index(params.max_dets, max_det);
    values.clear();
    if (a < 0 || m < 0) return -1;
    for (std::size_t t = 0; t < T; ++t) {
      if (iou && params.iou_thresholds[t] != *iou) continue;  // np.where(iouThr == p.iouThrs)
      const auto au = static_cast<std::size_t>(a), mu = static_cast<std::size_t>(m);
      if (ap) {
        for (std::size_t r = 0; r < R; ++r)
          for (std::size_t k = 0; k < K; ++k) {
            const double v = result.precision[(((t * R + r) * K + k) * A + au) * M + mu];
            if (v > -1) values.push_back(v);
          }
      } else {
        for (std::size_t k = 0; k < K; ++k) {
          const double v = result.recall[((t * K + k) * A + au) * M + mu];
          if (v > -1) values.push_back(v);
        }
      }
    }
    return mean_over_valid(values);
  };
  // Area labels all/small/medium/large are the first four ranges; maxDets[0..2] as in summarize,
  // except stat 0, which asks for a literal 100 (pycocotools quirk: -1 when maxDets has no 100).
  auto area_at = [&](std::ptrdiff_t a) { return a < static_cast<std::ptrdiff_t>(A) ? a : -1; };
  auto det_at = [&](std::size_t i) { return i < M ? params.max_dets[i] : -1; };
  const int m_last = det_at(2);
  result.stats[0] = summarize(true, area_at(0), 100, std::nullopt);
  result.stats[1] = summarize(true, area_at(0), m_last, 0.5);
  result.stats[2] = summarize(true, area_at(0), m_last, 0.75);
  result.stats[3] = summarize(true, area_at(1), m_last, std::nullopt);
  result.stats[4] = summarize(true, area_at(2), m_last, std::nullopt);
  result.stats[5] = summarize(true, area_at(3), m_last, std::nullopt);
  result.stats[6] = summarize(false, area_at(0), det_at(0), std::nullopt);
  result.stats[7] = summarize(false, area_at(0), det_at(1), std::nullopt);
  result.stats[8] = summarize(false, area_at(0), m_last, std::nullopt);
  result.stats[9] = summarize(false, area_at(1), m_last, std::nullopt);
  result.stats[10] = summarize(false, area_at(2), m_last, std::nullopt);
  result.stats[11] = summarize(false, area_at(3), m_last, std::nullopt);

  // Per category: mean of precision[:, :, k, all, last maxDets] over entries > -1.
  result.per_category_ap.assign(K, -1.0);
  if (A > 0) {
    for (std::size_t k = 0; k < K; ++k) {
      values.clear();
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t r = 0; r < R; ++r) {
          const double v = result.precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)];
          if (v > -1) values.push_back(v);
        }
      result.per_category_ap[k] = mean_over_valid(values);
    }
  }
  return result;
}

}  // namespace detail

// Detections gathered batch by batch (or image by image) for evaluation against one ground
// truth, then evaluated as often as wanted, with any parameters:
//
//   tailor::eval::detection_accumulator acc(gt);      // gt must outlive acc
//   for (auto& batch : batches) acc.add(batch);       // checked now, stored once
//   auto r = acc.evaluate();                          // == evaluate_bbox(gt, all batches in order)
//
// Each detection is checked when added (an error names it by its position among everything
// added: "detection 1234"; a batch with a bad entry adds nothing) and copied once into chunks
// that never move, so memory holds one copy of the detections (48 bytes each) plus 4 bytes of
// bookkeeping each (8 while they are being arranged). The first evaluation after an add sorts that copy in place by (category, image)
// and score, for all the evaluations that follow; adding more later keeps the order of ties
// right. The results are those of evaluate_bbox on the concatenation of the batches, bit for bit.
class detection_accumulator {
 public:
  explicit detection_accumulator(const data::coco_dataset& gt) : gt_(&gt), layout_(gt) { count_cells({}); }

  // The same as add(dets) on an empty accumulator, storing them directly in evaluation order.
  detection_accumulator(const data::coco_dataset& gt, std::span<const detection> dets) : gt_(&gt), layout_(gt) {
    std::vector<std::uint32_t> cells;
    check(dets, cells);
    count_cells(cells);
    store_.resize(dets.size());
    {
      std::vector<std::uint32_t> fill(begin_.begin(), begin_.end() - 1);
      for (std::size_t j = 0; j < dets.size(); ++j) store_[fill[cells[j]]++] = dets[j];
    }
    finish_arranging();
  }

  // Checks `dets` and stores a copy of them.
  void add(std::span<const detection> dets) {
    std::vector<std::uint32_t> cells;
    check(dets, cells);
    record_cells();
    cell_of_.insert(cell_of_.end(), cells.begin(), cells.end());
    store_.append(dets);
    arranged_ = dets.empty() && arranged_;
  }
  void add(const detection& d) { add(std::span<const detection>(&d, 1)); }

  std::size_t size() const noexcept { return store_.size(); }
  const data::coco_dataset& ground_truth() const noexcept { return *gt_; }
  // The ground truth's category ids, sorted: the K dimension of every result.
  const std::vector<std::int64_t>& category_ids() const noexcept { return layout_.category_ids; }

  // COCOeval(gt, gt.loadRes(everything added, in order), 'bbox') with `params`: evaluate() +
  // accumulate() + summarize().
  coco_eval_result evaluate(const coco_eval_params& params = {}) {
    arrange();
    return detail::evaluate_cells(layout_, begin_, store_, params);
  }

 private:
  void check(std::span<const detection> dets, std::vector<std::uint32_t>& cells) const {
    if (dets.size() >= 0xffffffffu - store_.size())
      throw error(failure_code::invalid_argument, "COCO evaluation takes fewer than 2^32 detections");
    cells.resize(dets.size());
    detail::gt_layout::lookup_cache last;
    for (std::size_t j = 0; j < dets.size(); ++j) cells[j] = layout_.cell_of(*gt_, dets[j], store_.size() + j, last);
  }

  void count_cells(const std::vector<std::uint32_t>& cells) {
    const std::size_t n = layout_.K * layout_.I;
    begin_.assign(n + 1, 0);
    for (auto c : cells) ++begin_[c + 1];
    for (std::size_t c = 0; c < n; ++c) begin_[c + 1] += begin_[c];
  }

  // The store in cell order, stable: each detection's place, then the permutation applied in place
  // (following its cycles), then the stable score sort within each cell.
  void arrange() {
    if (arranged_) return;
    count_cells(cell_of_);
    {
      std::vector<std::uint32_t> dest(cell_of_.size());
      std::vector<std::uint32_t> fill(begin_.begin(), begin_.end() - 1);
      for (std::size_t j = 0; j < cell_of_.size(); ++j) dest[j] = fill[cell_of_[j]]++;
      for (std::size_t j = 0; j < dest.size(); ++j)
        while (dest[j] != j) {
          const std::uint32_t to = dest[j];
          std::swap(store_[j], store_[to]);
          std::swap(dest[j], dest[to]);
        }
    }
    finish_arranging();
  }

  // With the store bucketed by cell: sorts each cell by score.
  void finish_arranging() {
    std::vector<detection> scratch;
    const std::size_t n = layout_.K * layout_.I;
    for (std::size_t c = 0; c < n; ++c)
      if (begin_[c + 1] - begin_[c] > 1) detail::sort_by_score(store_, begin_[c], begin_[c + 1], scratch);
    arranged_ = true;
    cells_recorded_ = false;
  }

  // cell_of_ for the store as arranged (only needed when more detections are added).
  void record_cells() {
    if (cells_recorded_) return;
    const std::size_t n = layout_.K * layout_.I;
    cell_of_.resize(store_.size());
    for (std::size_t c = 0; c < n; ++c)
      std::fill(cell_of_.begin() + begin_[c], cell_of_.begin() + begin_[c + 1], static_cast<std::uint32_t>(c));
    cells_recorded_ = true;
  }

  const data::coco_dataset* gt_;
  detail::gt_layout layout_;
  detail::detection_store store_;
  std::vector<std::uint32_t> cell_of_;  // the cell of each stored detection (when cells_recorded_)
  bool cells_recorded_ = true;
  std::vector<std::uint32_t> begin_;    // when arranged: cell c is store_[begin_[c] .. begin_[c+1])
  bool arranged_ = true;
};

// Evaluates `dets` against the ground truth `gt` as COCOeval(gt, gt.loadRes(dets), 'bbox') does
// with the default imgIds/catIds (all of gt's, sorted). Throws error{invalid_argument} for a
// detection whose image or category is not in gt, or whose numbers are not finite.
inline coco_eval_result evaluate_bbox(const data::coco_dataset& gt, std::span<const detection> dets,
                                      const coco_eval_params& params = {}) {
  detection_accumulator acc(gt, dets);
  return acc.evaluate(params);
}

// Reads COCO detection results, `[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]`
// (other keys are ignored). `name` names the input in messages. Throws error{invalid_argument}
// naming the entry for anything else, including non-finite numbers and negative box sizes, and
// naming the file and the byte offset for anything but white space after the array.
inline std::vector<detection> read_coco_results(std::string_view json, std::string_view name) {
  std::vector<detection> out;
  detection d;
  bool has_box = false;
  auto bbox = [&](std::string_view key, simdjson::ondemand::value v, const results_detail::entry_error& fail) {
    if (key != "bbox") return;
    simdjson::ondemand::array box;
    if (v.get_array().get(box) != simdjson::SUCCESS) throw fail("bbox must be an array [x, y, width, height]");
    double values[4] = {0, 0, 0, 0};
    std::size_t count = 0;
    for (auto element : box) {
      double x = 0;
      if (element.get_double().get(x) != simdjson::SUCCESS) throw fail("bbox must hold 4 numbers");
      if (count < 4) values[count] = x;
      ++count;
    }
    if (count != 4) throw fail(fmt::format("bbox must hold 4 numbers, not {}", count));
    if (!detail::finite_box(values[0], values[1], values[2], values[3]))
      throw fail(fmt::format("bbox [{}, {}, {}, {}] must be finite with a non-negative width and height", values[0],
                             values[1], values[2], values[3]));
    d.x = values[0], d.y = values[1], d.w = values[2], d.h = values[3];
    has_box = true;
  };
  auto take = [&](const results_detail::result_entry& e, const results_detail::entry_error& fail) {
    if (!has_box) throw fail("bbox is missing");
    d.image_id = e.image_id, d.category_id = e.category_id, d.score = e.score;
    out.push_back(d);
    has_box = false;
  };
  results_detail::read_results_array(json, name, "{image_id, category_id, bbox, score}", bbox, take);
  return out;
}

}  // namespace tailor::eval
