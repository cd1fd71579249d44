// The detection report (tailor/eval/detection_report.hpp): vision-evaluation's mAP at chosen IoUs,
// per-tag AP50 and AR, precision / recall at a score and an IoU threshold, and the JSON report.
// Hand-worked cases (expected values derived in the comments), and vision-evaluation's numbers on
// the val2014 reference when ../shared is present.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/data/coco.hpp>
#include <tailor/eval/detection_report.hpp>

#include "coco_reference.hpp"
#include "test_support.hpp"

namespace {

using tailor::eval::detection;
using ojson = nlohmann::ordered_json;

// 1/(1+eps) with eps = np.spacing(1): the precision of a lone true positive.
constexpr double one_tp = 1.0 / (1.0 + std::numeric_limits<double>::epsilon());

struct cat {
  std::int64_t id;
  std::string name;
};
struct gt_box {
  std::int64_t id, image_id, category_id;
  double x, y, w, h;
  bool crowd = false;
};

tailor::data::coco_dataset make_gt(const std::vector<std::int64_t>& images, const std::vector<cat>& categories,
                                   const std::vector<gt_box>& boxes) {
  ojson doc;
  doc["images"] = ojson::array();
  for (auto id : images) doc["images"].push_back({{"id", id}, {"file_name", fmt::format("{}.jpg", id)}});
  doc["categories"] = ojson::array();
  for (auto& c : categories) doc["categories"].push_back({{"id", c.id}, {"name", c.name}});
  doc["annotations"] = ojson::array();
  for (auto& b : boxes)
    doc["annotations"].push_back({{"id", b.id},
                                  {"image_id", b.image_id},
                                  {"category_id", b.category_id},
                                  {"bbox", {b.x, b.y, b.w, b.h}},
                                  {"iscrowd", b.crowd ? 1 : 0}});
  const std::string text = doc.dump();
  auto report = tailor::data::read_coco(std::string_view(text), "gt.json",
                                        {.kind = tailor::data::dataset_kind::detection,
                                         .units = tailor::data::box_units::pixels,
                                         .require_image_sizes = false,
                                         .max_problems = 50});
  REQUIRE(report.readable);
  return std::move(report.dataset);
}

// Three images; cat (1) with a regular box and a crowd region on image 1, dog (2) on image 2,
// bird (3) on image 3 with no detection, fish (4) with a detection but no ground truth.
//   cat:  [0,0,10,10] 0.9 -> IoU 1 with the box: TP at every IoU
//         [110,110,10,10] 0.8 -> inside the crowd region (IoU = I / own area = 1): ignored
//   dog:  [30,30,10,10] 0.7 -> no overlap: FP;  [0,0,20,20] 0.6 -> IoU 1: TP
//   fish: [0,0,5,5] 0.95 -> a category without ground truth
tailor::data::coco_dataset zoo_gt() {
  return make_gt({1, 2, 3}, {{1, "cat"}, {2, "dog"}, {3, "bird"}, {4, "fish"}},
                 {{1, 1, 1, 0, 0, 10, 10}, {2, 2, 2, 0, 0, 20, 20}, {3, 3, 3, 50, 50, 10, 10}, {4, 1, 1, 100, 100, 50, 50, true}});
}
std::vector<detection> zoo_dets() {
  return {{1, 1, 0, 0, 10, 10, 0.9},  {1, 1, 110, 110, 10, 10, 0.8}, {2, 2, 30, 30, 10, 10, 0.7},
          {2, 2, 0, 0, 20, 20, 0.6},  {1, 4, 0, 0, 5, 5, 0.95}};
}

bool all_finite(const ojson& j) {
  if (j.is_number()) return std::isfinite(j.get<double>());
  if (j.is_object() || j.is_array()) {
    for (auto& v : j)
      if (!all_finite(v)) return false;
    return true;
  }
  return !j.is_null();  // a NaN would have been written as null
}

using tailor::testing::read_text;

}  // namespace

TEST_CASE("detection report: key spelling as vision-evaluation's", "[eval][detection_report]") {
  using tailor::eval::map_key;
  using tailor::eval::python_float_str;
  CHECK(map_key(0.3) == "mAP_30");  // 0.3 * 100 = 30.000000000000004
  CHECK(map_key(0.5) == "mAP_50");
  CHECK(map_key(0.75) == "mAP_75");
  CHECK(map_key(0.9) == "mAP_90");
  // Python's int() truncation of the double product: the quirk the keys keep.
  CHECK(map_key(0.29) == "mAP_28");  // 28.999999999999996
  CHECK(map_key(0.57) == "mAP_56");  // 56.99999999999999
  CHECK(map_key(0.58) == "mAP_57");  // 57.99999999999999
  CHECK(map_key(1.0) == "mAP_100");
  CHECK(map_key(0.0) == "mAP_0");
  CHECK(python_float_str(0.5) == "0.5");
  CHECK(python_float_str(0.0) == "0.0");
  CHECK(python_float_str(1.0) == "1.0");
  CHECK(python_float_str(1e-05) == "1e-05");
  CHECK(python_float_str(0.1 + 0.2) == "0.30000000000000004");
  CHECK(tailor::eval::precision_recall_suffix(0.5, 0.5) == "thres=0.5_iou=0.5");
  CHECK(tailor::eval::precision_recall_suffix(0.0, 1.0) == "thres=0.0_iou=1.0");
}

TEST_CASE("detection report: mAP_30 and mAP_50 differ on a box with IoU 0.4", "[eval][detection_report]") {
  // One 10x10 box; the detection [0,0,4,10] covers 40 of its 100 pixels: IoU = 40/100 = 0.4.
  const auto gt = make_gt({1}, {{1, "cat"}}, {{1, 1, 1, 0, 0, 10, 10}});
  const std::vector<detection> dets{{1, 1, 0, 0, 4, 10, 0.9}};
  const auto m = tailor::eval::mean_average_precision(gt, dets);
  REQUIRE(m.ious == std::vector<double>{0.3, 0.5, 0.75});
  // At 0.3 it is a true positive: every recall point samples precision 1/(1+eps). At 0.5 and
  // 0.75 it is a false positive: tp = [0], rc = [0], pr = [0], so every point is 0.
  CHECK(std::fabs(m.map[0] - one_tp) <= 1e-15);
  CHECK(m.map[1] == 0);
  CHECK(m.map[2] == 0);
  // avg_mAP: 101 entries of one_tp among 303.
  CHECK(std::fabs(m.avg_map - one_tp / 3) <= 1e-15);
  REQUIRE(m.tag_wise_ap.size() == 3);
  CHECK(std::fabs(m.tag_wise_ap[0][0] - one_tp) <= 1e-15);
  CHECK(m.tag_wise_ap[1][0] == 0);

  // The report's keys, and its standard COCO numbers (0.50:0.95: never matched -> 0).
  const auto j = tailor::eval::detection_report_json(gt, dets);
  CHECK(std::fabs(j["mAP_30"].get<double>() - one_tp) <= 1e-15);
  CHECK(j["mAP_50"] == 0.0);
  CHECK(j["mAP_75"] == 0.0);
  CHECK(j["AP"] == 0.0);
  CHECK(j["AP50"] == 0.0);
  CHECK(j["tag_wise_AP50"]["cat"] == 0.0);
  // Precision / recall at IoU 0.5: a false positive; at overlap 0.3: a true positive.
  CHECK(j["precision_thres=0.5_iou=0.5"] == 0.0);
  CHECK(j["recall_thres=0.5_iou=0.5"] == 0.0);
  const auto pr = tailor::eval::precision_recall_at(gt, dets, 0.5, 0.3);
  CHECK(pr.precision == 1.0);
  CHECK(pr.recall == 1.0);
  // An IoU threshold of exactly 0.4 still matches (IoU >= threshold).
  CHECK(tailor::eval::precision_recall_at(gt, dets, 0.5, 0.4).true_positives == 1);
  CHECK(tailor::eval::precision_recall_at(gt, dets, 0.5, 0.41).true_positives == 0);
}

TEST_CASE("detection report: tag-wise AP50 per category, a category without detections, one without gt",
          "[eval][detection_report]") {
  const auto gt = zoo_gt();
  const auto dets = zoo_dets();
  const auto r = tailor::eval::make_detection_report(gt, dets);
  REQUIRE(r.category_ids == std::vector<std::int64_t>{1, 2, 3, 4});
  REQUIRE(r.tag_names == std::vector<std::string>{"cat", "dog", "bird", "fish"});
  // cat: the crowd detection is ignored, so the list is one TP: one_tp everywhere.
  CHECK(std::fabs(r.tag_wise_ap50[0] - one_tp) <= 1e-15);
  // dog: FP (0.7) then TP (0.6): tp = [0,1], fp = [1,1], rc = [0,1], pr = [0, 1/(2+eps)] = [0, 0.5];
  // the envelope makes it [0.5, 0.5], so every recall point samples 0.5.
  CHECK(r.tag_wise_ap50[1] == 0.5);
  // bird: ground truth, no detection: precision 0 (and it counts in the mean).
  CHECK(r.tag_wise_ap50[2] == 0);
  // fish: no ground truth: -1 in COCOeval, reported 0.0 (vision-evaluation's rule), left out of mAP.
  CHECK(r.tag_wise_ap50[3] == 0);
  // mAP = mean over the 303 entries of cat, dog and bird = (one_tp + 0.5 + 0) / 3, at every IoU
  // (the IoUs are 1 or 0).
  for (double v : r.map.map) CHECK(std::fabs(v - (one_tp + 0.5) / 3) <= 1e-15);
  // AR100 per tag: cat and dog found at every IoU, bird never, fish has no ground truth (0.0).
  CHECK(r.tag_wise_ar == std::vector<double>{1, 1, 0, 0});
  // Counts.
  CHECK(r.images == 3);
  CHECK(r.ground_truth_boxes == 3);
  CHECK(r.crowd_boxes == 1);
  CHECK(r.detections == 5);

  // The standard COCO numbers: per category AP = one_tp, 0.5, 0 at every threshold.
  CHECK(std::fabs(r.coco.stats[0] - (one_tp + 0.5) / 3) <= 1e-15);
  CHECK(std::fabs(r.coco.stats[1] - (one_tp + 0.5) / 3) <= 1e-15);
}

TEST_CASE("detection report: precision and recall at a score threshold, with a crowd box", "[eval][detection_report]") {
  const auto gt = zoo_gt();
  const auto dets = zoo_dets();
  // Threshold 0.5 keeps all five. cat: 1 TP, the crowd detection is neither TP nor FP; dog: 1 FP,
  // 1 TP; fish: 1 FP (no ground truth); bird: nothing. TP = 2, FP = 2, non-crowd gt = 3.
  {
    const auto pr = tailor::eval::precision_recall_at(gt, dets, 0.5, 0.5);
    CHECK(pr.true_positives == 2);
    CHECK(pr.false_positives == 2);
    CHECK(pr.ground_truth == 3);
    CHECK(pr.precision == 0.5);
    CHECK(pr.recall == 2.0 / 3.0);
    CHECK(pr.tag_precision == std::vector<double>{1, 0.5, 0, 0});
    CHECK(pr.tag_recall == std::vector<double>{1, 1, 0, 0});
    CHECK(pr.tag_ground_truth == std::vector<std::size_t>{1, 1, 1, 0});
  }
  // Threshold 0.65 drops the dog TP (0.6): TP = 1 (cat), FP = 2 (dog 0.7, fish).
  {
    const auto pr = tailor::eval::precision_recall_at(gt, dets, 0.65, 0.5);
    CHECK(pr.precision == 1.0 / 3.0);
    CHECK(pr.recall == 1.0 / 3.0);
    CHECK(pr.tag_precision == std::vector<double>{1, 0, 0, 0});
  }
  // Threshold 0.7 is inclusive: the dog FP scored exactly 0.7 is kept.
  CHECK(tailor::eval::precision_recall_at(gt, dets, 0.7, 0.5).false_positives == 2);
  // Threshold 0.96 keeps nothing: precision 0 (no detection), recall 0.
  {
    const auto pr = tailor::eval::precision_recall_at(gt, dets, 0.96, 0.5);
    CHECK(pr.true_positives + pr.false_positives == 0);
    CHECK(pr.precision == 0);
    CHECK(pr.recall == 0);
  }
  // Without the crowd flag the region is a regular box: the 0.8 detection (IoU 100/2500) is an
  // FP, and the region is a box to find.
  {
    const auto plain = make_gt({1, 2, 3}, {{1, "cat"}, {2, "dog"}, {3, "bird"}, {4, "fish"}},
                               {{1, 1, 1, 0, 0, 10, 10}, {2, 2, 2, 0, 0, 20, 20}, {3, 3, 3, 50, 50, 10, 10}, {4, 1, 1, 100, 100, 50, 50}});
    const auto pr = tailor::eval::precision_recall_at(plain, dets, 0.5, 0.5);
    CHECK(pr.tag_precision[0] == 0.5);
    CHECK(pr.tag_recall[0] == 0.5);
    CHECK(pr.ground_truth == 4);
  }
  // A detection on a regular box that also lies in a crowd region matches the regular box; a
  // second one on the same spot falls back to the crowd region and is ignored, not an FP.
  {
    const auto g = make_gt({1}, {{1, "cat"}}, {{1, 1, 1, 0, 0, 10, 10}, {2, 1, 1, 0, 0, 100, 100, true}});
    const std::vector<detection> d{{1, 1, 0, 0, 10, 10, 0.9}, {1, 1, 0, 0, 10, 10, 0.8}};
    const auto pr = tailor::eval::precision_recall_at(g, d, 0.5, 0.5);
    CHECK(pr.true_positives == 1);
    CHECK(pr.false_positives == 0);
    CHECK(pr.precision == 1);
    CHECK(pr.recall == 1);
  }
  // Greedy by score: the higher-scored detection takes the box even with the lower IoU; the
  // other one (IoU 1) finds the box taken and is an FP (no fallback).
  {
    const auto g = make_gt({1}, {{1, "cat"}}, {{1, 1, 1, 0, 0, 10, 10}});
    const std::vector<detection> d{{1, 1, 0, 0, 10, 10, 0.6}, {1, 1, 0, 0, 6, 10, 0.9}};
    const auto pr = tailor::eval::precision_recall_at(g, d, 0.5, 0.5);
    CHECK(pr.true_positives == 1);
    CHECK(pr.false_positives == 1);
  }
}

TEST_CASE("detection report: empty predictions", "[eval][detection_report]") {
  const auto gt = zoo_gt();
  const auto r = tailor::eval::make_detection_report(gt, {});
  for (double v : r.map.map) CHECK(v == 0);  // cat, dog and bird have gt: precision 0
  CHECK(r.map.avg_map == 0);
  CHECK(r.tag_wise_ap50 == std::vector<double>{0, 0, 0, 0});
  CHECK(r.pr.precision == 0);
  CHECK(r.pr.recall == 0);
  CHECK(r.coco.stats[0] == 0);
  const auto j = tailor::eval::to_json(r);
  CHECK(all_finite(j));

  // No ground-truth box at all: COCOeval's numbers are -1 (nothing to measure), the mAP keys 0.0.
  const auto none = make_gt({1}, {{1, "cat"}}, {});
  const auto j2 = tailor::eval::detection_report_json(none, std::vector<detection>{{1, 1, 0, 0, 5, 5, 0.9}});
  CHECK(j2["AP"] == -1.0);
  CHECK(j2["mAP_50"] == 0.0);
  CHECK(j2["precision_thres=0.5_iou=0.5"] == 0.0);  // one FP
  CHECK(j2["recall_thres=0.5_iou=0.5"] == 0.0);
  CHECK(all_finite(j2));
}

TEST_CASE("detection report: JSON keys in order, chosen IoUs and thresholds", "[eval][detection_report]") {
  const auto gt = zoo_gt();
  const auto dets = zoo_dets();
  const auto j = tailor::eval::detection_report_json(gt, dets, {.ious = {0.29, 0.5, 0.9}, .max_dets = 300, .threshold = 0.65, .overlap = 0.3});
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  const std::vector<std::string> want{"AP",       "AP50",      "AP75",      "AP_small",  "AP_medium",
                                      "AP_large", "AR1",       "AR10",      "AR100",     "AR_small",
                                      "AR_medium", "AR_large", "avg_mAP",   "mAP_28",    "mAP_50",
                                      "mAP_90",   "tag_wise_AP50", "tag_wise_AR", "precision_thres=0.65_iou=0.3",
                                      "recall_thres=0.65_iou=0.3", "tag_wise_precision_thres=0.65_iou=0.3",
                                      "tag_wise_recall_thres=0.65_iou=0.3"};
  CHECK(keys == want);
  std::vector<std::string> tags;
  for (auto& [k, v] : j["tag_wise_AP50"].items()) tags.push_back(k);
  CHECK(tags == std::vector<std::string>{"cat", "dog", "bird", "fish"});
  // 0.5 was asked for: tag_wise_AP50 equals the per-tag mAP at that IoU.
  CHECK(j["tag_wise_AP50"]["dog"] == 0.5);
  CHECK(j["tag_wise_precision_thres=0.65_iou=0.3"]["cat"] == 1.0);
  CHECK(all_finite(j));

  // 0.5 not asked for: still reported in tag_wise_AP50 (evaluated on the side), and it changes
  // neither the mAP keys nor avg_mAP.
  const auto a = tailor::eval::make_detection_report(gt, dets, {.ious = {0.3, 0.75}, .max_dets = 300, .threshold = 0.5, .overlap = 0.5});
  const auto b = tailor::eval::mean_average_precision(gt, dets, {.ious = {0.3, 0.75}, .max_dets = 300});
  CHECK(a.map.map == b.map);
  CHECK(a.map.avg_map == b.avg_map);
  CHECK(a.tag_wise_ap50[1] == 0.5);
  const auto ja = tailor::eval::to_json(a);
  CHECK(!ja.contains("mAP_50"));
  CHECK(ja.contains("mAP_30"));
  CHECK(ja.contains("mAP_75"));
}

TEST_CASE("detection report: maxDets per image and category", "[eval][detection_report]") {
  // Three detections on one box: a higher-scored FP first. With max_dets 1 only the FP is kept.
  const auto gt = make_gt({1}, {{1, "cat"}}, {{1, 1, 1, 0, 0, 10, 10}});
  const std::vector<detection> dets{{1, 1, 50, 50, 10, 10, 0.9}, {1, 1, 0, 0, 10, 10, 0.8}};
  CHECK(tailor::eval::mean_average_precision(gt, dets, {.ious = {0.5}, .max_dets = 1}).map[0] == 0);
  CHECK(tailor::eval::mean_average_precision(gt, dets, {.ious = {0.5}, .max_dets = 300}).map[0] == 0.5);
  // Precision / recall count every kept detection, with no cap.
  CHECK(tailor::eval::precision_recall_at(gt, dets, 0.5, 0.5).false_positives == 1);
}

TEST_CASE("detection report: tag names are made unique", "[eval][detection_report]") {
  const auto gt = make_gt({1}, {{3, "box"}, {1, "box"}, {2, "cup"}}, {{1, 1, 1, 0, 0, 10, 10}});
  const auto r = tailor::eval::make_detection_report(gt, {});
  CHECK(r.tag_names == std::vector<std::string>{"box (id 1)", "cup", "box (id 3)"});
}

TEST_CASE("detection report: bad options and inputs are errors", "[eval][detection_report]") {
  const auto gt = zoo_gt();
  auto message_of = [](auto&& f) {
    try {
      f();
    } catch (const tailor::error& e) {
      CHECK(e.code() == tailor::failure_code::invalid_argument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message_of([&] { tailor::eval::mean_average_precision(gt, {}, {.ious = {}, .max_dets = 300}); }),
             Catch::Contains("at least one IoU"));
  CHECK_THAT(message_of([&] { tailor::eval::mean_average_precision(gt, {}, {.ious = {1.5}, .max_dets = 300}); }),
             Catch::Contains("[0, 1]"));
  CHECK_THAT(message_of([&] { tailor::eval::mean_average_precision(gt, {}, {.ious = {0.5}, .max_dets = 0}); }),
             Catch::Contains("max_dets"));
  CHECK_THAT(message_of([&] { tailor::eval::precision_recall_at(gt, {}, std::nan(""), 0.5); }),
             Catch::Contains("score threshold"));
  CHECK_THAT(message_of([&] { tailor::eval::precision_recall_at(gt, {}, 0.5, -0.1); }), Catch::Contains("overlap"));
  const std::vector<detection> bad{{1, 1, 0, 0, 1, 1, 0.5}, {9, 1, 0, 0, 1, 1, 0.5}};
  CHECK_THAT(message_of([&] { tailor::eval::make_detection_report(gt, bad); }),
             Catch::Contains("detection 1") && Catch::Contains("image_id 9"));
}

TEST_CASE("detection report: the streaming accumulator gives the same report", "[eval][detection_report]") {
  const auto gt = zoo_gt();
  const auto dets = zoo_dets();
  tailor::eval::detection_accumulator acc(gt);
  acc.add(std::span(dets).first(2));
  acc.add(std::span<const detection>{});
  for (std::size_t i = 2; i < dets.size(); ++i) acc.add(dets[i]);
  const auto streamed = tailor::eval::to_json(tailor::eval::make_detection_report(acc));
  CHECK(streamed == tailor::eval::detection_report_json(gt, dets));
}

TEST_CASE("detection report: vision-evaluation's mAP on the val2014 100-image reference", "[eval][detection_report]") {
  // Expected: pycocotools 2.0.11 COCOeval with Params(iouType='bbox'), iouThrs = [0.3, 0.5, 0.75],
  // maxDets = [300], areaRngLbl = ['all'], summarized as CocoMeanAveragePrecisionEvaluator does
  // (np.mean of precision[t, :, :, 0, -1] > -1, 0.0 when empty).
  const auto reference = tailor::testing::load_coco_reference();
  if (!reference) {
    WARN("skipped: ../shared/data/coco_eval_reference is absent");
    return;
  }
  const auto& dets = reference->detections;
  const auto m = tailor::eval::mean_average_precision(reference->ground_truth, dets);
  CHECK(m.avg_map == 0.6567721323210601);
  CHECK(m.map[0] == 0.7003620052427401);
  CHECK(m.map[1] == 0.6969727247299577);
  CHECK(m.map[2] == 0.5729816669904824);
  const auto expected = nlohmann::json::parse(R"({"1":0.7883423914530756,"2":0.6905940594059405,"3":0.7188118811881188,"4":0.6633663366336634,"5":0.2524752475247525,"6":0.5544554455445545,"7":1.0,"8":0.7128712871287128,"9":0.8811881188118812,"10":0.8257425742574259,"11":0.0,"13":0.3999999999999999,"14":0.0,"15":0.7772277227722773,"16":0.5242230105363478,"17":1.0,"18":1.0,"19":0.0,"20":1.0,"21":0.6633663366336634,"22":0.7830268741159826,"23":0.6666666666666669,"24":0.801980198019802,"25":0.33663366336633654,"27":0.8514851485148515,"28":0.0,"31":0.8316831683168316,"32":0.6039603960396039,"33":0.9999999999999999,"34":1.0,"35":0.7491749174917492,"36":0.6,"37":0.5586987270155586,"38":0.5643564356435643,"39":0.6633663366336634,"40":0.8370144706778371,"41":0.6544554455445547,"42":0.0,"43":0.4672324375294671,"44":0.7425742574257426,"46":0.539053905390539,"47":0.7503536067892502,"48":0.584983498349835,"49":0.8178137651821863,"50":0.6415841584158417,"51":0.7217300677436165,"52":0.9641089108910891,"53":0.5742574257425742,"54":0.4465346534653465,"55":0.8415841584158416,"56":0.9336633663366342,"57":0.6794554455445545,"58":0.5049504950495048,"59":0.0,"60":0.0,"61":1.0,"62":0.9020823370351346,"63":0.7298444130127296,"64":0.6741674167416742,"65":0.7227722772277227,"67":0.31435643564356436,"70":0.5,"72":0.33663366336633654,"73":0.2524752475247525,"74":0.0,"75":1.0,"76":0.0,"77":0.8415841584158416,"78":1.0,"79":0.8316831683168316,"80":0.0,"81":0.721122112211221,"82":0.683168316831683,"84":0.6435643564356436,"85":0.8514851485148515,"86":0.717114568599717,"87":0.0,"88":1.0,"89":0.0,"90":0.9009900990099011})");
  REQUIRE(m.category_ids.size() == expected.size());
  for (std::size_t k = 0; k < m.category_ids.size(); ++k) {
    const double want = expected.at(std::to_string(m.category_ids[k]));
    INFO("category " << m.category_ids[k] << ": got " << fmt::format("{:.17g}", m.tag_wise_ap[1][k]) << ", want "
                     << fmt::format("{:.17g}", want));
    CHECK(m.tag_wise_ap[1][k] == want);
  }
}
