#pragma once
// COCO bbox evaluation, number for number what pycocotools' COCOeval (iouType='bbox') computes:
// evaluate() + accumulate() + summarize(), with its tie rules, its epsilon and its quirks (each
// marked "pycocotools quirk" below). See ../shared/specs/metrics.md, "pycocotools COCOeval".
//
//   auto gt = tailor::data::read_coco(std::string_view(json), "gt.json", options).dataset;  // sizes optional
//   auto dets = tailor::eval::read_coco_results(results_json, "results.json");
//   auto r = tailor::eval::evaluate_bbox(gt, dets);   // r.stats[0] is AP@[.50:.95]
//
// Layout: everything is done one category at a time in flat scratch arrays reused across cells,
// so nothing is allocated per (image, category) pair.
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"

namespace tailor::eval {

struct detection {
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  double x = 0, y = 0, w = 0, h = 0;  // pixels, [x, y, width, height] as in COCO results
  double score = 0;
};

namespace detail {

// np.linspace(start, stop, num) bit for bit: i * step + start, with the last value set to stop.
inline std::vector<double> numpy_linspace(double start, double stop, std::size_t num) {
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

// numpy's pairwise summation (what np.mean uses on a contiguous float64 array), so the summary
// means round exactly as pycocotools' do.
inline double numpy_pairwise_sum(const double* a, std::size_t n) {
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
  return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}

// np.mean(s[s > -1]), or -1 when nothing is left (pycocotools' summarize rule).
inline double mean_over_valid(const std::vector<double>& values) {
  if (values.empty()) return -1;
  return numpy_pairwise_sum(values.data(), values.size()) / static_cast<double>(values.size());
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
  std::vector<double> iou_thresholds = detail::numpy_linspace(0.5, 0.95, 10);
  std::vector<double> recall_thresholds = detail::numpy_linspace(0.0, 1.0, 101);
  std::vector<int> max_dets{1, 10, 100};
  // all, small, medium, large; bounds are inclusive on both sides (pycocotools quirk: an area of
  // exactly 32^2 is both small and medium).
  std::vector<area_range> area_ranges{{0, 1e10}, {0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}};
};

struct coco_eval_result {
  // AP, AP50, AP75, AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small, AR_medium, AR_large;
  // -1 where pycocotools prints -1 (no entry with ground truth).
  std::array<double, 12> stats{};
  std::vector<double> precision;  // [T][R][K][A][M], as eval['precision'] (-1: no gt)
  std::vector<double> recall;     // [T][K][A][M], as eval['recall']
  std::vector<std::int64_t> category_ids;  // sorted: the K dimension
  std::vector<double> per_category_ap;     // AP@[.50:.95], area all, maxDets 100; -1 without gt
  std::size_t T = 0, R = 0, K = 0, A = 0, M = 0;

  double precision_at(std::size_t t, std::size_t r, std::size_t k, std::size_t a, std::size_t m) const {
    return precision[(((t * R + r) * K + k) * A + a) * M + m];
  }
  double recall_at(std::size_t t, std::size_t k, std::size_t a, std::size_t m) const {
    return recall[((t * K + k) * A + a) * M + m];
  }
};

// Evaluates `dets` against the ground truth `gt` as COCOeval(gt, gt.loadRes(dets), 'bbox') does
// with the default imgIds/catIds (all of gt's, sorted). Throws error{invalid_argument} for a
// detection whose image or category is not in gt, or whose numbers are not finite.
inline coco_eval_result evaluate_bbox(const data::coco_dataset& gt, std::span<const detection> dets,
                                      const coco_eval_params& params = {}) {
  using data::no_index;
  const std::size_t T = params.iou_thresholds.size(), R = params.recall_thresholds.size(),
                    A = params.area_ranges.size(), M = params.max_dets.size();
  if (M == 0 || T == 0) throw error(failure_code::invalid_argument, "COCO evaluation needs at least one maxDets and one IoU threshold");
  for (int m : params.max_dets)
    if (m < 0) throw error(failure_code::invalid_argument, fmt::format("maxDets must not be negative (got {})", m));

  // Images and categories in sorted-id order (p.imgIds / p.catIds are np.unique'd).
  std::vector<std::uint32_t> image_order(gt.images.size()), category_order(gt.categories.size());
  for (std::uint32_t i = 0; i < image_order.size(); ++i) image_order[i] = i;
  for (std::uint32_t i = 0; i < category_order.size(); ++i) category_order[i] = i;
  std::sort(image_order.begin(), image_order.end(), [&](auto a, auto b) { return gt.images[a].id < gt.images[b].id; });
  std::sort(category_order.begin(), category_order.end(),
            [&](auto a, auto b) { return gt.categories[a].id < gt.categories[b].id; });
  const std::size_t I = image_order.size(), K = category_order.size();
  std::vector<std::uint32_t> image_pos(gt.images.size()), category_pos(gt.categories.size());
  for (std::uint32_t p = 0; p < I; ++p) image_pos[image_order[p]] = p;
  for (std::uint32_t p = 0; p < K; ++p) category_pos[category_order[p]] = p;

  coco_eval_result result;
  result.T = T, result.R = R, result.K = K, result.A = A, result.M = M;
  result.category_ids.resize(K);
  for (std::size_t k = 0; k < K; ++k) result.category_ids[k] = gt.categories[category_order[k]].id;
  result.precision.assign(T * R * K * A * M, -1.0);
  result.recall.assign(T * K * A * M, -1.0);

  // Bucket gt and detections by cell (category, image), stably: within a cell, file/input order.
  const std::size_t cells = K * I;
  std::vector<std::uint32_t> gt_begin(cells + 1, 0), dt_begin(cells + 1, 0);
  std::vector<std::uint32_t> gt_cell(gt.annotations.size()), dt_cell(dets.size());
  for (std::size_t j = 0; j < gt.annotations.size(); ++j) {
    const auto& a = gt.annotations[j];
    if (a.image_index == no_index || a.category_index == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("ground-truth annotations[{}] (id {}) refers to a missing image or category", j, a.id));
    // A box the loader read but rejected (empty, outside the image) is still evaluated, as
    // pycocotools uses every gt bbox as given; only a missing or unreadable one is an error.
    if (!(a.box_state == data::box_status::valid || a.box_state == data::box_status::rejected))
      throw error(failure_code::invalid_argument,
                  fmt::format("ground-truth annotations[{}] (id {}) has no usable bbox; detection evaluation needs one", j, a.id));
    gt_cell[j] = static_cast<std::uint32_t>(category_pos[a.category_index] * I + image_pos[a.image_index]);
    ++gt_begin[gt_cell[j] + 1];
  }
  for (std::size_t j = 0; j < dets.size(); ++j) {
    const auto& d = dets[j];
    const auto ii = gt.image_ids.find(d.image_id);
    if (ii == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has image_id {}, which is not an image of the ground truth", j, d.image_id));
    const auto ci = gt.category_ids.find(d.category_id);
    if (ci == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has category_id {}, which is not a category of the ground truth", j, d.category_id));
    if (!detail::finite_box(d.x, d.y, d.w, d.h) || !std::isfinite(d.score))
      throw error(failure_code::invalid_argument,
                  fmt::format("detection {} has a non-finite number or a negative size: bbox [{}, {}, {}, {}], score {}", j, d.x,
                              d.y, d.w, d.h, d.score));
    dt_cell[j] = static_cast<std::uint32_t>(category_pos[ci] * I + image_pos[ii]);
    ++dt_begin[dt_cell[j] + 1];
  }
  for (std::size_t c = 0; c < cells; ++c) gt_begin[c + 1] += gt_begin[c], dt_begin[c + 1] += dt_begin[c];
  std::vector<std::uint32_t> gt_list(gt.annotations.size());
  // The detections themselves, copied cell by cell (scattered stores while reading the input in
  // order, rather than scattered loads later).
  std::vector<detection> dt_sorted(dets.size());
  {
    std::vector<std::uint32_t> fill(gt_begin.begin(), gt_begin.end() - 1);
    for (std::uint32_t j = 0; j < gt_list.size(); ++j) gt_list[fill[gt_cell[j]]++] = j;
    fill.assign(dt_begin.begin(), dt_begin.end() - 1);
    for (std::size_t j = 0; j < dets.size(); ++j) dt_sorted[fill[dt_cell[j]]++] = dets[j];
  }
  // Within a cell, detections by descending score, stable (np.argsort(-s, kind='mergesort')).
  auto by_score = [](const detection& a, const detection& b) { return a.score > b.score; };
  for (std::size_t c = 0; c < cells; ++c) {
    auto first = dt_sorted.begin() + dt_begin[c], last = dt_sorted.begin() + dt_begin[c + 1];
    if (last - first > 1) std::stable_sort(first, last, by_score);
  }

  // evaluateImg keeps maxDets[-1] detections per cell (pycocotools quirk: the last entry, not the max).
  const std::size_t max_det_all = static_cast<std::size_t>(params.max_dets.back());
  std::vector<double> thresholds(T);
  for (std::size_t t = 0; t < T; ++t) thresholds[t] = std::min(params.iou_thresholds[t], 1 - 1e-10);

  // Per-category scratch, reused.
  std::vector<double> cat_scores;  // scores of the concatenation over images of each cell's kept detections
  // accumulate, per (threshold, maxDets): pr at each true positive (then its suffix max), counts
  std::vector<std::vector<double>> tp_precision_m(T * M);
  std::vector<std::size_t> nd_m(T * M);
  std::vector<double> fp_m(T * M);
  std::vector<char> first_is_tp_m(T * M);
  std::vector<std::uint32_t> max_det_m(M);
  for (std::size_t m = 0; m < M; ++m) max_det_m[m] = static_cast<std::uint32_t>(params.max_dets[m]);
  std::vector<std::uint32_t> cat_rank;   // rank of each within its cell (for the maxDets cut)
  std::vector<std::uint8_t> cat_flags;   // [n][A][T]: 0 false positive, 1 true positive, 2 ignored
  std::vector<std::uint32_t> perm;
  std::vector<std::size_t> npig(A);
  std::vector<double> ious;
  std::vector<std::uint8_t> gt_ignore, gt_crowd, gt_matched;
  std::vector<std::uint32_t> gt_sorted;

  for (std::size_t k = 0; k < K; ++k) {
    // Size the category's detection list first so the flags can be laid out [n][A][T].
    std::size_t n = 0;
    for (std::size_t i = 0; i < I; ++i) {
      const std::size_t c = k * I + i;
      n += std::min<std::size_t>(dt_begin[c + 1] - dt_begin[c], max_det_all);
    }
    cat_scores.clear();
    cat_rank.clear();
    cat_flags.assign(n * A * T, 0);
    std::fill(npig.begin(), npig.end(), 0);

    for (std::size_t i = 0; i < I; ++i) {
      const std::size_t c = k * I + i;
      const std::uint32_t* g_ids = gt_list.data() + gt_begin[c];
      const std::size_t G = gt_begin[c + 1] - gt_begin[c];
      const detection* cell_dets = dt_sorted.data() + dt_begin[c];
      const std::size_t D = std::min<std::size_t>(dt_begin[c + 1] - dt_begin[c], max_det_all);
      const std::size_t base = cat_scores.size();
      for (std::size_t d = 0; d < D; ++d) {
        cat_scores.push_back(cell_dets[d].score);
        cat_rank.push_back(static_cast<std::uint32_t>(d));
      }
      if (G == 0 && D == 0) continue;  // evaluateImg returns None

      // IoU matrix [D][G] in the cell's original gt order (computeIoU).
      gt_crowd.resize(G);
      for (std::size_t g = 0; g < G; ++g) gt_crowd[g] = gt.annotations[g_ids[g]].iscrowd ? 1 : 0;
      ious.resize(D * G);
      for (std::size_t d = 0; d < D; ++d)
        for (std::size_t g = 0; g < G; ++g)
          ious[d * G + g] = detail::box_iou(cell_dets[d], gt.annotations[g_ids[g]].bbox, gt_crowd[g] != 0);

      for (std::size_t a = 0; a < A; ++a) {
        const double lo = params.area_ranges[a].lo, hi = params.area_ranges[a].hi;
        // gt ignore = iscrowd, or its annotation 'area' outside [lo, hi]; then a stable sort that
        // puts the ignored ones last.
        gt_ignore.resize(G);
        gt_sorted.clear();
        for (std::size_t g = 0; g < G; ++g) {
          const double area = gt.annotations[g_ids[g]].area;
          gt_ignore[g] = (gt_crowd[g] || area < lo || area > hi) ? 1 : 0;
          if (!gt_ignore[g]) gt_sorted.push_back(static_cast<std::uint32_t>(g));
        }
        npig[a] += gt_sorted.size();
        for (std::size_t g = 0; g < G; ++g)
          if (gt_ignore[g]) gt_sorted.push_back(static_cast<std::uint32_t>(g));

        if (G == 0) {
          // No gt (the common cell): every detection is a false positive, or ignored when its
          // area is outside the range, at every threshold.
          for (std::size_t d = 0; d < D; ++d) {
            const double area = cell_dets[d].w * cell_dets[d].h;
            const std::uint8_t f = (area < lo || area > hi) ? 2 : 0;
            std::fill_n(cat_flags.data() + ((base + d) * A + a) * T, T, f);
          }
          continue;
        }
        for (std::size_t t = 0; t < T; ++t) {
          gt_matched.assign(G, 0);
          for (std::size_t d = 0; d < D; ++d) {
            double best = thresholds[t];
            std::ptrdiff_t m = -1;
            for (std::size_t p = 0; p < G; ++p) {
              const std::uint32_t g = gt_sorted[p];
              if (gt_matched[p] && !gt_crowd[g]) continue;
              // Matched to a regular gt already, and only ignored ones remain: stop.
              if (m > -1 && !gt_ignore[gt_sorted[static_cast<std::size_t>(m)]] && gt_ignore[g]) break;
              const double iou = ious[d * G + g];
              if (iou < best) continue;
              best = iou;
              m = static_cast<std::ptrdiff_t>(p);
            }
            bool ignored = false, matched = false;
            if (m > -1) {
              const std::uint32_t g = gt_sorted[static_cast<std::size_t>(m)];
              ignored = gt_ignore[g] != 0;
              // pycocotools quirk: dtMatches holds the gt's id, and an id of 0 reads as "unmatched".
              matched = gt.annotations[g_ids[g]].id != 0;
              gt_matched[static_cast<std::size_t>(m)] = 1;  // the detection's id (1..n) is never 0
            }
            if (!matched) {
              // Unmatched detections outside the area range are ignored (area = w*h, as loadRes sets it).
              const auto& det = cell_dets[d];
              const double area = det.w * det.h;
              if (area < lo || area > hi) ignored = true;
            }
            cat_flags[((base + d) * A + a) * T + t] = ignored ? 2 : (matched ? 1 : 0);
          }
        }
      }
    }

    // accumulate(): one stable sort of the category's detections by descending score; the
    // per-maxDet lists are this order filtered by rank, which is what re-sorting each
    // concatenation of the first m per image would give.
    perm.resize(n);
    for (std::uint32_t j = 0; j < n; ++j) perm[j] = j;
    std::stable_sort(perm.begin(), perm.end(),
                     [&](std::uint32_t x, std::uint32_t y) { return cat_scores[x] > cat_scores[y]; });

    for (std::size_t a = 0; a < A; ++a) {
      if (npig[a] == 0) continue;  // precision and recall stay -1
      const double np_ig = static_cast<double>(npig[a]);
      // One pass over the sorted detections serves every (threshold, maxDets): state s = t*M + m
      // sees the detections of rank < maxDets[m] with their flag at threshold t.
      for (std::size_t s = 0; s < T * M; ++s) {
        tp_precision_m[s].clear();
        nd_m[s] = 0;
        fp_m[s] = 0;
        first_is_tp_m[s] = false;
      }
      for (std::size_t j = 0; j < n; ++j) {
        const std::uint32_t p = perm[j];
        const std::uint32_t rank = cat_rank[p];
        const std::uint8_t* row = cat_flags.data() + (static_cast<std::size_t>(p) * A + a) * T;
        for (std::size_t m = 0; m < M; ++m) {
          if (rank >= max_det_m[m]) continue;
          for (std::size_t t = 0; t < T; ++t) {
            const std::uint8_t f = row[t];
            if (f == 2) continue;
            const std::size_t s = t * M + m;
            if (f == 1) {
              auto& tps = tp_precision_m[s];
              if (nd_m[s] == 0) first_is_tp_m[s] = true;
              const double tp = static_cast<double>(tps.size() + 1);
              tps.push_back(tp / (fp_m[s] + tp + std::numeric_limits<double>::epsilon()));  // np.spacing(1)
            } else {
              fp_m[s] += 1;
            }
            ++nd_m[s];
          }
        }
      }
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t m = 0; m < M; ++m) {
          // The precision/recall curve of pycocotools, computed only where it can be sampled:
          // - an ignored detection repeats its predecessor's rc and pr, so leaving it out changes
          //   neither the envelope nor what searchsorted finds;
          // - a false positive never raises pr (same tp, larger denominator, monotone rounding), so
          //   the envelope max_{j >= i} pr[j] is max(pr[i], pr at the true positives after i);
          // - rc rises only at true positives, so searchsorted lands on index 0 or a true positive.
          // pr and rc are computed with pycocotools' own expressions, so the values are identical.
          auto& tp_precision = tp_precision_m[t * M + m];
          const std::size_t nd = nd_m[t * M + m];
          const bool first_is_tp = first_is_tp_m[t * M + m];
          const std::size_t ntp = tp_precision.size();
          result.recall[((t * K + k) * A + a) * M + m] = nd ? static_cast<double>(ntp) / np_ig : 0.0;
          for (std::size_t i = ntp; i-- > 1;)
            if (tp_precision[i] > tp_precision[i - 1]) tp_precision[i - 1] = tp_precision[i];
          // rc[0] and pr[0] of the full curve: 1/npig and the first tp's pr, or 0 and 0/(1+eps) = 0.
          const double rc0 = first_is_tp ? 1.0 / np_ig : 0.0;
          const double env0 = ntp ? tp_precision[0] : 0.0;  // max over the whole curve
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
                while (lo_i < hi_i) {
                  const std::size_t mid = lo_i + (hi_i - lo_i) / 2;
                  if (static_cast<double>(mid + 1) / np_ig < thr) lo_i = mid + 1;
                  else hi_i = mid;
                }
                if (lo_i == ntp) past_end = true;
                else q = tp_precision[lo_i];
              }
            }
            if (past_end) {
              // pycocotools quirk: the IndexError ends the loop, so this and later thresholds stay 0.
              for (std::size_t r2 = r; r2 < R; ++r2) result.precision[(((t * R + r2) * K + k) * A + a) * M + m] = 0;
              break;
            }
            result.precision[(((t * R + r) * K + k) * A + a) * M + m] = q;
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
    return detail::mean_over_valid(values);
  };
  // Area labels all/small/medium/large are the first four ranges; maxDets[0..2] as in summarize.
  auto area_at = [&](std::ptrdiff_t a) { return a < static_cast<std::ptrdiff_t>(A) ? a : -1; };
  auto det_at = [&](std::size_t i) { return i < M ? params.max_dets[i] : -1; };
  const int m_last = det_at(2);
  result.stats[0] = summarize(true, area_at(0), m_last, std::nullopt);
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
      result.per_category_ap[k] = detail::mean_over_valid(values);
    }
  }
  return result;
}

// Reads COCO detection results, `[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]`
// (other keys are ignored). `name` names the input in messages. Throws error{invalid_argument}
// naming the entry for anything else, including non-finite numbers and negative box sizes.
inline std::vector<detection> read_coco_results(std::string_view json, std::string_view name) {
  namespace od = simdjson::ondemand;
  std::vector<detection> out;
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  std::size_t index = 0;
  auto fail = [&](std::string_view what) -> error {
    return error(failure_code::invalid_argument, fmt::format("{}[{}]: {}", name, index, what));
  };
  auto read_id = [&](od::value v, std::string_view key) -> std::int64_t {
    std::int64_t id = 0;
    if (v.get_int64().get(id) == simdjson::SUCCESS) return id;
    // pycocotools takes integral floats such as 42.0 as well.
    double d = 0;
    if (v.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<std::int64_t>(d);
    throw fail(fmt::format("{} must be an integer", key));
  };
  try {
    if (parser.iterate(padded).get(doc) != simdjson::SUCCESS)
      throw error(failure_code::invalid_argument, fmt::format("{}: not JSON", name));
    od::array entries;
    if (doc.get_array().get(entries) != simdjson::SUCCESS)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: COCO results must be a JSON array of {{image_id, category_id, bbox, score}}", name));
    for (auto entry_result : entries) {
      od::object obj;
      if (entry_result.get_object().get(obj) != simdjson::SUCCESS) throw fail("each entry must be an object");
      detection d;
      bool has_image = false, has_category = false, has_box = false, has_score = false;
      for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) throw fail("unreadable key");
        od::value v;
        if (field.value().get(v) != simdjson::SUCCESS) throw fail(fmt::format("unreadable value of {}", key));
        if (key == "image_id") {
          d.image_id = read_id(v, key);
          has_image = true;
        } else if (key == "category_id") {
          d.category_id = read_id(v, key);
          has_category = true;
        } else if (key == "score") {
          if (v.get_double().get(d.score) != simdjson::SUCCESS || !std::isfinite(d.score))
            throw fail("score must be a finite number");
          has_score = true;
        } else if (key == "bbox") {
          od::array box;
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
        }
      }
      if (!has_image) throw fail("image_id is missing");
      if (!has_category) throw fail("category_id is missing");
      if (!has_box) throw fail("bbox is missing");
      if (!has_score) throw fail("score is missing");
      out.push_back(d);
      ++index;
    }
  } catch (const simdjson::simdjson_error& e) {
    throw fail(fmt::format("malformed JSON ({})", e.what()));
  }
  return out;
}

}  // namespace tailor::eval
