#pragma once
// The detection summary that Azure's model customization users read, on top of COCO bbox
// evaluation (coco_detection.hpp), whose matching code it reuses through coco_eval_params:
//
// - mAP at chosen IoU thresholds, as microsoft/vision-evaluation's CocoMeanAveragePrecisionEvaluator
//   computes it (COCOeval with iouThrs = the list, maxDets = [300], area 'all'; the mean of the
//   precision entries > -1 of each threshold, 0.0 when there is none; keys mAP_{int(iou*100)}),
//   with its per-tag breakdown;
// - precision and recall at a score threshold and an overlap (IoU) threshold, overall and per tag;
// - the 12 standard COCO numbers, per-tag AR100, all in one nlohmann::ordered_json report.
//
//   tailor::eval::detection_accumulator acc(gt);          // gt: a COCO detection dataset
//   for (auto& batch : batches) acc.add(batch);           // streaming: stored once
//   auto report = tailor::eval::make_detection_report(acc, {.ious = {0.3, 0.5, 0.75}});
//   std::cout << tailor::eval::to_json(report).dump(2);
//
// The rules are written out next to each function; docs/metrics.md has them too.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"
#include "coco_detection.hpp"
#include "numpy_compat.hpp"

namespace tailor::eval {

using numpy::python_float_str;  // thresholds in report keys, as vision-evaluation's thres={t}

// vision-evaluation's key for the mAP at one IoU: "mAP_" + str(int(iou * 100)). Python's int()
// truncates the product as computed in doubles, so 0.29 gives "mAP_28" (0.29 * 100 =
// 28.999999999999996) and 0.57 gives "mAP_56".
inline std::string map_key(double iou) { return fmt::format("mAP_{}", static_cast<long long>(iou * 100.0)); }

struct map_options {
  std::vector<double> ious{0.3, 0.5, 0.75};  // each in [0, 1]
  int max_dets = 300;                         // per image and category
};

struct map_result {
  std::vector<double> ious;                // as asked, in order
  std::vector<double> map;                 // per asked IoU: mAP_{int(iou*100)}
  double avg_map = 0;                      // over all asked IoUs: vision-evaluation's avg_mAP
  std::vector<std::int64_t> category_ids;  // sorted: the order of tag_wise_ap's rows
  std::vector<std::vector<double>> tag_wise_ap;  // [asked IoU][category]: tag_wise_AP_{int(iou*100)}
};

struct precision_recall {
  double threshold = 0.5;  // score: detections with score >= threshold are kept
  double overlap = 0.5;    // IoU a match needs (>=)
  std::size_t true_positives = 0, false_positives = 0;
  std::size_t ground_truth = 0;  // non-crowd ground-truth boxes
  double precision = 0;          // TP / (TP + FP), 0 when no kept detection counts
  double recall = 0;             // TP / ground_truth, 0 without ground truth
  std::vector<std::int64_t> category_ids;  // sorted: the order of the tag_ vectors
  std::vector<std::size_t> tag_true_positives, tag_false_positives, tag_ground_truth;
  std::vector<double> tag_precision, tag_recall;
};

struct detection_report_options {
  std::vector<double> ious{0.3, 0.5, 0.75};  // the mAP_XX keys
  int max_dets = 300;                         // for the mAP_XX and tag_wise_AP50 (vision-evaluation's)
  double threshold = 0.5;                     // precision / recall: score threshold
  double overlap = 0.5;                       // precision / recall: IoU threshold
};

struct detection_report {
  detection_report_options options;
  coco_eval_result coco;  // standard COCOeval (maxDets 1, 10, 100): stats are AP .. AR_large
  map_result map;         // at options.ious, maxDets options.max_dets
  std::vector<std::int64_t> category_ids;  // sorted
  std::vector<std::string> tag_names;      // per category: the keys of the tag-wise objects
  std::vector<double> tag_wise_ap50;       // per category: AP at IoU 0.5, maxDets options.max_dets
  std::vector<double> tag_wise_ar;         // per category: AR100 at area all (standard COCOeval)
  precision_recall pr;
  std::size_t images = 0, ground_truth_boxes = 0, crowd_boxes = 0, detections = 0;
};

namespace detail {

inline void check_iou(double iou, std::string_view what) {
  if (!(iou >= 0 && iou <= 1))
    throw error(failure_code::invalid_argument, fmt::format("{} must be a number in [0, 1], got {}", what, iou));
}

inline void check_map_options(std::span<const double> ious, int max_dets) {
  if (ious.empty()) throw error(failure_code::invalid_argument, "mAP needs at least one IoU threshold");
  for (double iou : ious) check_iou(iou, "an IoU threshold");
  if (max_dets < 1) throw error(failure_code::invalid_argument, fmt::format("max_dets must be at least 1, got {}", max_dets));
}

// CocoMeanAveragePrecisionEvaluator's Params: iouThrs = `ious`, maxDets = [max_dets], and only
// area 'all' read (its other three ranges never change area 0's numbers, so they are left out).
inline coco_eval_params vision_evaluation_params(std::vector<double> ious, int max_dets) {
  coco_eval_params p;
  p.iou_thresholds = std::move(ious);
  p.max_dets = {max_dets};
  p.area_ranges = {{0, 1e10}};
  return p;
}

// vision-evaluation's _summarize(ap=1, iouThr, areaRng='all', maxDets=maxDets[-1], catId): the
// precision entries > -1 of the IoUs equal to `iou` (np.where, so every equal one; all IoUs when
// absent) and of category k (all when absent), in numpy's C order [T][R][K]; their mean, or 0.0
// when there is none.
inline double vision_evaluation_summarize(const coco_eval_result& r, std::span<const double> thresholds,
                                          std::optional<double> iou, std::optional<std::size_t> k) {
  std::vector<double> values;
  for (std::size_t t = 0; t < thresholds.size(); ++t) {
    if (iou && thresholds[t] != *iou) continue;
    for (std::size_t rr = 0; rr < r.R; ++rr)
      for (std::size_t kk = 0; kk < r.K; ++kk) {
        if (k && kk != *k) continue;
        const double v = r.precision_at(t, rr, kk, 0, r.M - 1);
        if (v > -1) values.push_back(v);
      }
  }
  return values.empty() ? 0.0 : mean_over_valid(values);
}

// The mAP numbers of `asked` from an evaluation whose thresholds begin with `asked` (more may
// follow: they are left out of avg_map).
inline map_result map_from(const coco_eval_result& r, std::span<const double> asked, const std::vector<double>& thresholds) {
  map_result out;
  out.ious.assign(asked.begin(), asked.end());
  out.category_ids = r.category_ids;
  out.avg_map = vision_evaluation_summarize(r, std::span(thresholds).first(asked.size()), std::nullopt, std::nullopt);
  for (double iou : asked) {
    out.map.push_back(vision_evaluation_summarize(r, thresholds, iou, std::nullopt));
    auto& tags = out.tag_wise_ap.emplace_back(r.K);
    for (std::size_t k = 0; k < r.K; ++k) tags[k] = vision_evaluation_summarize(r, thresholds, iou, k);
  }
  return out;
}

}  // namespace detail

// mAP at each of `options.ious`, as vision-evaluation's CocoMeanAveragePrecisionEvaluator(ious,
// max_dets=300) reports it (avg_mAP, mAP_{int(iou*100)}, tag_wise_AP_{..}):
// - COCOeval (bbox) with iouThrs = ious, maxDets = [max_dets] (per image and category), the 101
//   recall points, area 'all' = [0, 1e10];
// - mAP at an IoU = the mean of the precision entries > -1 at that IoU over recall points and
//   categories (= the mean over categories with a non-crowd ground-truth box of their AP), 0.0
//   when there is none (pycocotools' summarize would say -1);
// - per tag: the same mean for one category, 0.0 for a category without non-crowd ground truth;
// - only the ground truth's categories count: a category with detections but no ground-truth box
//   adds nothing (unlike vision-evaluation's sklearn evaluator, where it counts as AP 0).
// vision-evaluation numbers its annotations from 1, so pycocotools' "id 0 = unmatched" quirk never
// applies there; a ground truth read by tailor::data::read_coco without errors has no id 0 either.
inline map_result mean_average_precision(detection_accumulator& acc, const map_options& options = {}) {
  detail::check_map_options(options.ious, options.max_dets);
  const auto params = detail::vision_evaluation_params(options.ious, options.max_dets);
  return detail::map_from(acc.evaluate(params), options.ious, params.iou_thresholds);
}

inline map_result mean_average_precision(const data::coco_dataset& gt, std::span<const detection> dets,
                                         const map_options& options = {}) {
  detection_accumulator acc(gt, dets);
  return mean_average_precision(acc, options);
}

// Precision and recall at a score threshold and an overlap threshold, as Custom Vision users tune
// them. Per image and category:
// 1. keep the detections with score >= threshold;
// 2. take them by descending score (ties in input order), each matching the ground-truth box of
//    the highest IoU >= overlap among those not matched yet (COCO's matching rules, as
//    evaluate_bbox applies them: IoU = intersection / union with no +1 pixel, ties go to the later
//    box in file order, and the test is IoU >= min(overlap, 1 - 1e-10));
// 3. crowd boxes are ignored: a detection matches a crowd region only when no regular box is left
//    for it (IoU with a crowd = intersection / the detection's area), and such a detection counts
//    neither as a true nor as a false positive; crowd boxes are not counted as ground truth.
// A matched detection is a true positive (TP), an unmatched one a false positive (FP); there is
// no cap on detections per image. precision = TP / (TP + FP), 0 when no kept detection counts;
// recall = TP / (non-crowd ground-truth boxes), 0 when there are none. Overall numbers add up the
// counts of every category (detections of a category without ground truth are false positives);
// per-tag numbers use that category's counts.
inline precision_recall precision_recall_at(detection_accumulator& acc, double threshold = 0.5, double overlap = 0.5) {
  if (!std::isfinite(threshold))
    throw error(failure_code::invalid_argument, fmt::format("the score threshold must be a finite number, got {}", threshold));
  detail::check_iou(overlap, "the overlap threshold");
  coco_eval_params p;
  p.iou_thresholds = {overlap};
  p.recall_thresholds = {};  // no curve: only the counts are read
  p.max_dets = {std::numeric_limits<int>::max()};
  p.area_ranges = {{-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()}};
  p.min_score = threshold;
  const auto r = acc.evaluate(p);

  precision_recall out;
  out.threshold = threshold;
  out.overlap = overlap;
  out.category_ids = r.category_ids;
  auto ratio = [](std::size_t num, std::size_t den) { return den ? static_cast<double>(num) / static_cast<double>(den) : 0.0; };
  for (std::size_t k = 0; k < r.K; ++k) {
    const std::size_t tp = r.true_positives_at(0, k, 0, 0), fp = r.false_positives_at(0, k, 0, 0), gt = r.ground_truth_at(k, 0);
    out.tag_true_positives.push_back(tp);
    out.tag_false_positives.push_back(fp);
    out.tag_ground_truth.push_back(gt);
    out.tag_precision.push_back(ratio(tp, tp + fp));
    out.tag_recall.push_back(ratio(tp, gt));
    out.true_positives += tp;
    out.false_positives += fp;
    out.ground_truth += gt;
  }
  out.precision = ratio(out.true_positives, out.true_positives + out.false_positives);
  out.recall = ratio(out.true_positives, out.ground_truth);
  return out;
}

inline precision_recall precision_recall_at(const data::coco_dataset& gt, std::span<const detection> dets,
                                            double threshold = 0.5, double overlap = 0.5) {
  detection_accumulator acc(gt, dets);
  return precision_recall_at(acc, threshold, overlap);
}

// Everything `tailor eval` reports for a detection model, from three evaluations of the same
// arranged detections: the standard COCOeval, vision-evaluation's (at options.ious plus 0.5, for
// tag_wise_AP50), and the precision/recall count.
inline detection_report make_detection_report(detection_accumulator& acc, const detection_report_options& options = {}) {
  detail::check_map_options(options.ious, options.max_dets);
  const auto& gt = acc.ground_truth();
  detection_report out;
  out.options = options;
  out.coco = acc.evaluate();
  out.category_ids = acc.category_ids();
  const std::size_t K = out.category_ids.size();

  // vision-evaluation's evaluation, with 0.5 added at the end when it is not asked for (each IoU
  // threshold is matched and accumulated on its own, so the others do not change).
  auto thresholds = options.ious;
  if (std::find(thresholds.begin(), thresholds.end(), 0.5) == thresholds.end()) thresholds.push_back(0.5);
  const auto params = detail::vision_evaluation_params(thresholds, options.max_dets);
  const auto azure = acc.evaluate(params);
  out.map = detail::map_from(azure, options.ious, params.iou_thresholds);
  out.tag_wise_ap50.resize(K);
  for (std::size_t k = 0; k < K; ++k)
    out.tag_wise_ap50[k] = detail::vision_evaluation_summarize(azure, params.iou_thresholds, 0.5, k);

  // Per-tag AR100: recall[:, k, all, maxDets 100] over entries > -1 (0.0 when none).
  out.tag_wise_ar.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    std::vector<double> values;
    for (std::size_t t = 0; t < out.coco.T; ++t) {
      const double v = out.coco.recall_at(t, k, 0, 2);
      if (v > -1) values.push_back(v);
    }
    out.tag_wise_ar[k] = values.empty() ? 0.0 : detail::mean_over_valid(values);
  }

  out.pr = precision_recall_at(acc, options.threshold, options.overlap);

  // Tag names, made unique with the id where two categories share one (or one has none).
  std::unordered_map<std::string, std::size_t> name_count;
  std::vector<std::string> names(K);
  for (std::size_t k = 0; k < K; ++k) {
    const auto* c = gt.find_category(out.category_ids[k]);
    names[k] = c ? c->name : std::string();
    ++name_count[names[k]];
  }
  for (std::size_t k = 0; k < K; ++k)
    out.tag_names.push_back(names[k].empty() || name_count[names[k]] > 1 ? fmt::format("{} (id {})", names[k], out.category_ids[k])
                                                                         : names[k]);
  out.images = gt.images.size();
  for (const auto& a : gt.annotations) (a.iscrowd ? out.crowd_boxes : out.ground_truth_boxes) += 1;
  out.detections = acc.size();
  return out;
}

inline detection_report make_detection_report(const data::coco_dataset& gt, std::span<const detection> dets,
                                              const detection_report_options& options = {}) {
  detection_accumulator acc(gt, dets);
  return make_detection_report(acc, options);
}

// The suffix of the precision / recall keys: "thres=0.5_iou=0.5" (Python's str() of each number,
// as vision-evaluation spells `thres={t}`).
inline std::string precision_recall_suffix(double threshold, double overlap) {
  return fmt::format("thres={}_iou={}", python_float_str(threshold), python_float_str(overlap));
}

// The report as JSON, keys in this order:
//   AP, AP50, AP75, AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small, AR_medium, AR_large
//       the 12 COCOeval numbers (maxDets 100; -1 where pycocotools says -1: no ground truth there)
//   avg_mAP, mAP_30, mAP_50, mAP_75 ...   vision-evaluation's, one mAP key per asked IoU
//   tag_wise_AP50 {tag name: AP}          per category, IoU 0.5, maxDets as the mAP keys
//   tag_wise_AR {tag name: AR100}         per category, standard COCOeval
//   precision_thres=0.5_iou=0.5, recall_thres=0.5_iou=0.5
//   tag_wise_precision_thres=0.5_iou=0.5 {tag name: precision}, tag_wise_recall_thres=... {...}
// Every value is a finite number (no NaN). Two asked IoUs with one key (0.3 and 0.305 both give
// mAP_30) keep the first key's place and the last one's value, as a Python dict does.
inline nlohmann::ordered_json to_json(const detection_report& r) {
  nlohmann::ordered_json j;
  static constexpr const char* names[12] = {"AP",  "AP50", "AP75",  "AP_small", "AP_medium", "AP_large",
                                            "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"};
  for (std::size_t i = 0; i < 12; ++i) j[names[i]] = r.coco.stats[i];
  j["avg_mAP"] = r.map.avg_map;
  for (std::size_t i = 0; i < r.map.ious.size(); ++i) j[map_key(r.map.ious[i])] = r.map.map[i];
  auto tags = [&](const std::vector<double>& values) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < values.size(); ++k) o[r.tag_names[k]] = values[k];
    return o;
  };
  j["tag_wise_AP50"] = tags(r.tag_wise_ap50);
  j["tag_wise_AR"] = tags(r.tag_wise_ar);
  const std::string suffix = precision_recall_suffix(r.pr.threshold, r.pr.overlap);
  j["precision_" + suffix] = r.pr.precision;
  j["recall_" + suffix] = r.pr.recall;
  j["tag_wise_precision_" + suffix] = tags(r.pr.tag_precision);
  j["tag_wise_recall_" + suffix] = tags(r.pr.tag_recall);
  return j;
}

inline nlohmann::ordered_json detection_report_json(const data::coco_dataset& gt, std::span<const detection> dets,
                                                    const detection_report_options& options = {}) {
  return to_json(make_detection_report(gt, dets, options));
}

}  // namespace tailor::eval
