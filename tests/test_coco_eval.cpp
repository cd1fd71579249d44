// COCO bbox evaluation against pycocotools: the reference numbers in shared/ when present, and
// hand-worked cases (expected values derived in the comments) that CI always runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/data/coco.hpp>
#include <tailor/eval/coco_detection.hpp>

#include "coco_reference.hpp"
#include "test_support.hpp"

namespace {

using tailor::eval::coco_eval_params;
using tailor::eval::coco_eval_result;
using tailor::eval::detection;
using tailor::eval::evaluate_bbox;
using ojson = nlohmann::ordered_json;

// 1/(1+eps) with eps = np.spacing(1): the precision of a lone true positive is 1 - 2^-52, not 1.
constexpr double one_tp = 1.0 / (1.0 + std::numeric_limits<double>::epsilon());
// A summary stat is a numpy mean of such values, which may round to 1 exactly: compared to 1e-15.

using tailor::testing::read_text;

// The message of reading `json` as COCO results named "r.json" ("no error" when it reads).
std::string message_of(std::string_view json) {
  try {
    tailor::eval::read_coco_results(json, "r.json");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
    return std::string(e.what());
  }
  return std::string("no error");
}

struct gt_box {
  std::int64_t id, image_id, category_id;
  double x, y, w, h;
  double area;  // < 0: leave the field out (w*h is used)
  bool crowd = false;
};

tailor::data::coco_dataset make_gt(std::vector<std::int64_t> images, std::vector<std::int64_t> categories,
                                   const std::vector<gt_box>& boxes) {
  ojson doc = tailor::testing::coco_skeleton(images, categories);
  for (auto& b : boxes) {
    ojson a{{"id", b.id}, {"image_id", b.image_id}, {"category_id", b.category_id}, {"bbox", {b.x, b.y, b.w, b.h}},
            {"iscrowd", b.crowd ? 1 : 0}};
    if (b.area >= 0) a["area"] = b.area;
    doc["annotations"].push_back(a);
  }
  const std::string json_text = doc.dump();
  auto report = tailor::data::read_coco(std::string_view(json_text), "gt.json",
                                        {.kind = tailor::data::dataset_kind::detection,
                                         .units = tailor::data::box_units::pixels,
                                         .require_image_sizes = false});
  REQUIRE(report.readable);
  return std::move(report.dataset);
}

// One image, one category, one 10x10 gt box (area 100: small).
tailor::data::coco_dataset one_box_gt() { return make_gt({1}, {1}, {{1, 1, 1, 0, 0, 10, 10, -1}}); }

double approx_eq(double a, double b) { return std::fabs(a - b); }

}  // namespace

TEST_CASE("COCO eval matches pycocotools on the val2014 100-image reference", "[eval]") {
  const auto reference = tailor::testing::load_coco_reference();
  if (!reference || !std::filesystem::exists(reference->dir / "expected_bbox.json")) {
    WARN("skipped: ../shared/data/coco_eval_reference is absent");
    return;
  }
  REQUIRE(!reference->detections.empty());
  const auto r = evaluate_bbox(reference->ground_truth, reference->detections);
  const auto expected = nlohmann::json::parse(read_text(reference->dir / "expected_bbox.json"));

  const char* names[12] = {"AP",   "AP50", "AP75",  "AP_small", "AP_medium", "AP_large",
                           "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"};
  double max_diff = 0;
  for (std::size_t i = 0; i < 12; ++i) {
    const double want = expected.at("stats").at(names[i]);
    INFO(names[i] << ": got " << fmt::format("{:.17g}", r.stats[i]) << ", pycocotools " << fmt::format("{:.17g}", want));
    CHECK(std::fabs(r.stats[i] - want) <= 1e-12);
    max_diff = std::max(max_diff, std::fabs(r.stats[i] - want));
  }
  REQUIRE(expected["per_category_AP"].size() == r.category_ids.size());
  for (std::size_t k = 0; k < r.category_ids.size(); ++k) {
    const std::string key = std::to_string(r.category_ids[k]);
    const double want = expected.at("per_category_AP").at(key);
    INFO("category " << r.category_ids[k] << ": got " << fmt::format("{:.17g}", r.per_category_ap[k]) << ", pycocotools "
                     << fmt::format("{:.17g}", want));
    CHECK(std::fabs(r.per_category_ap[k] - want) <= 1e-12);
    max_diff = std::max(max_diff, std::fabs(r.per_category_ap[k] - want));
  }
  WARN("COCO reference: max |difference| against pycocotools = " << fmt::format("{:.3g}", max_diff));
}

TEST_CASE("COCO eval: numpy linspace thresholds", "[eval]") {
  const coco_eval_params p;
  REQUIRE(p.iou_thresholds.size() == 10);
  REQUIRE(p.recall_thresholds.size() == 101);
  CHECK(p.iou_thresholds[0] == 0.5);
  CHECK(p.iou_thresholds[5] == 0.75);  // what np.where(0.75 == iouThrs) finds for AP75
  CHECK(p.iou_thresholds[9] == 0.95);
  CHECK(p.recall_thresholds[3] == 3 * 0.01);  // i*step, not i/100
  CHECK(p.recall_thresholds[100] == 1.0);
}

TEST_CASE("COCO eval: a perfect detection", "[eval]") {
  const auto gt = one_box_gt();
  const std::vector<detection> dets{{1, 1, 0, 0, 10, 10, 0.9}};
  const auto r = evaluate_bbox(gt, dets);
  // Matched at every threshold: rc = [1], pr = [1/(1+eps)], so every precision entry is one_tp.
  // The box is small (area 100): medium and large have no gt and are -1.
  const std::array<double, 12> want{one_tp, one_tp, one_tp, one_tp, -1, -1, 1, 1, 1, 1, -1, -1};
  for (std::size_t i = 0; i < 12; ++i) {
    INFO("stat " << i);
    CHECK(approx_eq(r.stats[i], want[i]) <= 1e-15);
  }
  CHECK(r.precision.size() == 10u * 101 * 1 * 4 * 3);
  CHECK(r.recall.size() == 10u * 1 * 4 * 3);
  CHECK(r.precision_at(0, 0, 0, 0, 2) == one_tp);
  REQUIRE(r.per_category_ap.size() == 1);
  CHECK(approx_eq(r.per_category_ap[0], one_tp) <= 1e-15);

  // The 1 - 1e-10 epsilon: at a threshold of exactly 1.0 an IoU of 1.0 still matches.
  coco_eval_params p;
  p.iou_thresholds = {1.0};
  const auto r1 = evaluate_bbox(gt, dets, p);
  CHECK(approx_eq(r1.stats[0], one_tp) <= 1e-15);
  CHECK(r1.stats[1] == -1);  // no 0.5 threshold: np.where finds nothing, mean of nothing is -1
}

TEST_CASE("COCO eval: IoU just below and above 0.5 and 0.75", "[eval]") {
  const auto gt = one_box_gt();  // [0,0,10,10]
  // A det [0,0,w,10] inside the gt has IoU = 10w / 100 = w/10, exact for these w.
  auto eval_w = [&](double w) { return evaluate_bbox(gt, std::vector<detection>{{1, 1, 0, 0, w, 10, 0.5}}); };
  {
    const auto r = eval_w(4.9);  // IoU 0.49: a false positive at every threshold -> all precision 0
    CHECK(r.stats[0] == 0);
    CHECK(r.stats[1] == 0);
    CHECK(r.stats[8] == 0);
  }
  {
    const auto r = eval_w(5);  // IoU exactly 0.5: a match at t = 0.5 only (iou < t is the reject rule)
    CHECK(approx_eq(r.stats[1], one_tp) <= 1e-15);
    CHECK(r.stats[2] == 0);
    // AP = mean over 10 thresholds x 101 recall points, 101 of them one_tp: one_tp / 10
    CHECK(approx_eq(r.stats[0], one_tp / 10) <= 1e-15);
    CHECK(approx_eq(r.stats[8], 0.1) <= 1e-15);  // recall 1 at one threshold of 10
  }
  {
    const auto r = eval_w(5.1);  // IoU 0.51
    CHECK(approx_eq(r.stats[1], one_tp) <= 1e-15);
    CHECK(r.stats[2] == 0);
  }
  {
    const auto r = eval_w(7.4);  // IoU 0.74: matched at 0.50, 0.55, ..., 0.70 (5 of 10)
    CHECK(r.stats[2] == 0);
    CHECK(approx_eq(r.stats[0], one_tp / 2) <= 1e-15);
  }
  {
    const auto r = eval_w(7.5);  // IoU exactly 0.75, and iouThrs[5] == 0.75: matched at 6 of 10
    CHECK(approx_eq(r.stats[2], one_tp) <= 1e-15);
    CHECK(approx_eq(r.stats[0], one_tp * 0.6) <= 1e-15);
  }
  {
    const auto r = eval_w(7.6);  // IoU 0.76
    CHECK(approx_eq(r.stats[2], one_tp) <= 1e-15);
    CHECK(approx_eq(r.stats[0], one_tp * 0.6) <= 1e-15);
  }
}

TEST_CASE("COCO eval: a crowd gt absorbs several detections without false positives", "[eval]") {
  // A regular 10x10 gt and a 50x50 crowd region; two higher-scored detections fall in the crowd.
  const auto gt = make_gt({1}, {1}, {{1, 1, 1, 0, 0, 10, 10, -1}, {2, 1, 1, 100, 100, 50, 50, -1, true}});
  const std::vector<detection> dets{{1, 1, 100, 100, 10, 10, 0.95},  // crowd IoU = I / area(det) = 1
                                    {1, 1, 120, 120, 10, 10, 0.92},  // the same crowd gt again
                                    {1, 1, 0, 0, 10, 10, 0.90}};     // the regular gt
  const auto r = evaluate_bbox(gt, dets);
  // Both crowd detections are matched to an ignored gt, so ignored: the list is one TP -> one_tp.
  CHECK(approx_eq(r.stats[0], one_tp) <= 1e-15);
  CHECK(r.stats[8] == 1);
  CHECK(approx_eq(r.stats[3], one_tp) <= 1e-15);  // small: the crowd dets (area 100) still match the crowd, ignored
  CHECK(r.stats[4] == -1);      // the crowd gt (area 2500) is ignored everywhere: no medium gt

  // Without the crowd flag the two detections (IoU 100/2500 = 0.04) are false positives ranked
  // first, and the region is a second gt to find (npig = 2): tp = [0,0,1], fp = [1,2,2],
  // rc = [0,0,0.5], pr = [0,0,1/3]. Recall points 0, 0.01, ..., 0.50 (51 of 101) sample 1/3, the
  // rest lie past rc[-1] and stay 0: AP50 = 51/101/3 = 17/101.
  const auto plain = make_gt({1}, {1}, {{1, 1, 1, 0, 0, 10, 10, -1}, {2, 1, 1, 100, 100, 50, 50, -1, false}});
  const auto r2 = evaluate_bbox(plain, dets);
  CHECK(approx_eq(r2.precision_at(0, 0, 0, 0, 2), 1.0 / (3.0 + std::numeric_limits<double>::epsilon())) == 0);
  CHECK(approx_eq(r2.stats[1], 17.0 / 101.0) <= 1e-15);
}

TEST_CASE("COCO eval: area boundaries are inclusive and use the annotation area", "[eval]") {
  {
    // Area exactly 32^2 = 1024: small (1024 > 1024 is false) and medium (1024 < 1024 is false).
    const auto gt = make_gt({1}, {1}, {{1, 1, 1, 0, 0, 32, 32, 1024}});
    const auto r = evaluate_bbox(gt, std::vector<detection>{{1, 1, 0, 0, 32, 32, 0.8}});
    CHECK(approx_eq(r.stats[3], one_tp) <= 1e-15);
    CHECK(approx_eq(r.stats[4], one_tp) <= 1e-15);
    CHECK(r.stats[5] == -1);
    CHECK(r.stats[9] == 1);
    CHECK(r.stats[10] == 1);
    CHECK(r.stats[11] == -1);
  }
  {
    // The box is 32x32 but the annotation says area 5000: pycocotools uses the field -> medium only.
    // The matched detection (box area 1024) counts where its gt counts.
    const auto gt = make_gt({1}, {1}, {{1, 1, 1, 0, 0, 32, 32, 5000}});
    const auto r = evaluate_bbox(gt, std::vector<detection>{{1, 1, 0, 0, 32, 32, 0.8}});
    CHECK(r.stats[3] == -1);
    CHECK(approx_eq(r.stats[4], one_tp) <= 1e-15);
    CHECK(r.stats[5] == -1);
  }
  {
    // An unmatched detection outside the range is ignored (its own w*h): a large FP does not hurt
    // AP_small, but it does count in 'all'.
    const auto gt = make_gt({1}, {1}, {{1, 1, 1, 0, 0, 10, 10, -1}});
    const std::vector<detection> dets{{1, 1, 200, 200, 100, 100, 0.9}, {1, 1, 0, 0, 10, 10, 0.8}};
    const auto r = evaluate_bbox(gt, dets);
    CHECK(approx_eq(r.stats[3], one_tp) <= 1e-15);
    // all: tp = [0,1], fp = [1,1], rc = [0,1], pr = [0, 1/2]: envelope [0.5, 0.5] -> 0.5 everywhere
    CHECK(r.stats[0] == 0.5);
  }
}

TEST_CASE("COCO eval: empty detections and categories without gt", "[eval]") {
  const auto gt = make_gt({1, 2}, {1, 2}, {{1, 1, 1, 0, 0, 10, 10, -1}});
  const auto r = evaluate_bbox(gt, std::span<const detection>{});
  // Category 1 has one small gt and no detections: precision 0, recall 0. Category 2 has no gt: -1
  // everywhere and left out of the means. Medium and large have no gt at all: -1.
  const std::array<double, 12> want{0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
  for (std::size_t i = 0; i < 12; ++i) {
    INFO("stat " << i);
    CHECK(r.stats[i] == want[i]);
  }
  REQUIRE(r.category_ids == std::vector<std::int64_t>{1, 2});
  CHECK(r.per_category_ap == std::vector<double>{0, -1});

  // No gt at all: every number is -1 (the detections find nothing to be measured against).
  const auto empty = make_gt({1}, {1}, {});
  const auto r2 = evaluate_bbox(empty, std::vector<detection>{{1, 1, 0, 0, 10, 10, 0.9}});
  for (double s : r2.stats) CHECK(s == -1);
}

TEST_CASE("COCO eval: tied scores keep input order (stable sort)", "[eval]") {
  const auto gt = one_box_gt();
  const detection fp{1, 1, 50, 50, 10, 10, 0.5}, tp{1, 1, 0, 0, 10, 10, 0.5};
  {
    // FP first: tp = [0,1], fp = [1,1], rc = [0,1], pr = [0, 1/(2+eps)] = [0, 0.5] (2+eps rounds
    // to 2); the envelope gives 0.5 at every recall point.
    const auto r = evaluate_bbox(gt, std::vector<detection>{fp, tp});
    CHECK(r.stats[0] == 0.5);
  }
  {
    // TP first: rc = [1,1], pr = [1/(1+eps), 0.5]: every recall point takes index 0 -> one_tp.
    const auto r = evaluate_bbox(gt, std::vector<detection>{tp, fp});
    CHECK(approx_eq(r.stats[0], one_tp) <= 1e-15);
  }
  {
    // Across images the tie goes to the lower image id (imgIds order), whatever the input order:
    // image 2's FP is listed first but image 1's TP comes first in the concatenation.
    const auto gt2 = make_gt({1, 2}, {1}, {{1, 1, 1, 0, 0, 10, 10, -1}});
    const auto r = evaluate_bbox(gt2, std::vector<detection>{{2, 1, 50, 50, 10, 10, 0.5}, tp});
    CHECK(approx_eq(r.stats[0], one_tp) <= 1e-15);
  }
}

TEST_CASE("COCO eval: maxDets applies per image and category", "[eval]") {
  // 2 detections on one gt: the best-scored is an FP, the TP is second. maxDets 1 keeps only the FP.
  const auto gt = one_box_gt();
  const auto r = evaluate_bbox(gt, std::vector<detection>{{1, 1, 50, 50, 10, 10, 0.9}, {1, 1, 0, 0, 10, 10, 0.8}});
  CHECK(r.stats[6] == 0);  // AR1
  CHECK(r.stats[7] == 1);  // AR10
  CHECK(r.stats[8] == 1);
}

TEST_CASE("COCO eval: bad detections are errors naming the entry", "[eval]") {
  const auto gt = one_box_gt();
  auto code_of = [&](std::vector<detection> dets) {
    try {
      evaluate_bbox(gt, dets);
    } catch (const tailor::error& e) {
      return std::pair{e.code(), std::string(e.what())};
    }
    return std::pair{tailor::failure_code::unknown, std::string()};
  };
  auto [c1, m1] = code_of({{1, 1, 0, 0, 1, 1, 0.5}, {7, 1, 0, 0, 1, 1, 0.5}});
  CHECK(c1 == tailor::failure_code::invalid_argument);
  CHECK_THAT(m1, Catch::Contains("detection 1") && Catch::Contains("image_id 7"));
  auto [c2, m2] = code_of({{1, 9, 0, 0, 1, 1, 0.5}});
  CHECK(c2 == tailor::failure_code::invalid_argument);
  CHECK_THAT(m2, Catch::Contains("category_id 9"));
  auto [c3, m3] = code_of({{1, 1, 0, 0, 1, 1, std::numeric_limits<double>::quiet_NaN()}});
  CHECK(c3 == tailor::failure_code::invalid_argument);
}

TEST_CASE("COCO results JSON is read, and bad entries are named", "[eval]") {
  const auto dets = tailor::eval::read_coco_results(
      R"([{"image_id": 3, "category_id": 2, "bbox": [1.5, 2, 3, 4.25], "score": 0.75, "extra": [1]},
          {"score": 1e-3, "bbox": [0, 0, 0, 0], "category_id": 1, "image_id": 4.0}])",
      "r.json");
  REQUIRE(dets.size() == 2);
  CHECK(dets[0].image_id == 3);
  CHECK(dets[0].category_id == 2);
  CHECK(dets[0].x == 1.5);
  CHECK(dets[0].h == 4.25);
  CHECK(dets[0].score == 0.75);
  CHECK(dets[1].image_id == 4);
  CHECK(dets[1].score == 1e-3);

  const std::string ok = R"({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5})";
  CHECK_THAT(message_of("[" + ok + R"(, {"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 0.5}])"),
             Catch::Contains("r.json[1]") && Catch::Contains("non-negative"));
  CHECK_THAT(message_of(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}])"),
             Catch::Contains("r.json[0]") && Catch::Contains("4 numbers"));
  CHECK_THAT(message_of(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])"), Catch::Contains("score is missing"));
  CHECK_THAT(message_of(R"([{"image_id": "a", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])"),
             Catch::Contains("image_id must be an integer"));
  CHECK_THAT(message_of(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1e400, 1], "score": 1}])"), Catch::Contains("r.json[0]"));
  CHECK_THAT(message_of(R"({"image_id": 1})"), Catch::Contains("JSON array"));
  CHECK_THAT(message_of("[" + ok + ", 3]"), Catch::Contains("r.json[1]"));
  CHECK(tailor::eval::read_coco_results("[]", "r.json").empty());
}

namespace {

// pycocotools' evaluateImg + accumulate transcribed literally (lists per cell, full rc/pr arrays,
// the envelope loop, searchsorted), to check the shortcuts of evaluate_bbox on random cases.
struct literal_result {
  std::vector<double> precision, recall;
};

literal_result literal_cocoeval(const tailor::data::coco_dataset& gt, const std::vector<detection>& dets,
                                const coco_eval_params& p) {
  std::vector<std::int64_t> img_ids, cat_ids;
  for (auto& im : gt.images) img_ids.push_back(im.id);
  for (auto& c : gt.categories) cat_ids.push_back(c.id);
  std::sort(img_ids.begin(), img_ids.end());
  std::sort(cat_ids.begin(), cat_ids.end());
  const std::size_t T = p.iou_thresholds.size(), R = p.recall_thresholds.size(), K = cat_ids.size(),
                    A = p.area_ranges.size(), M = p.max_dets.size(), I = img_ids.size();
  struct eval_img {
    bool none = true;
    std::vector<double> scores;
    std::vector<std::vector<std::int64_t>> dtm;  // [T][D]: matched gt id (0: none)
    std::vector<std::vector<bool>> dtig;
    std::vector<bool> gtig;
  };
  std::vector<eval_img> evals(K * A * I);
  const std::size_t max_det_all = static_cast<std::size_t>(p.max_dets.back());
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t a = 0; a < A; ++a)
      for (std::size_t i = 0; i < I; ++i) {
        std::vector<const tailor::data::coco_annotation*> g;
        for (auto& ann : gt.annotations)
          if (ann.image_id == img_ids[i] && ann.category_id == cat_ids[k]) g.push_back(&ann);
        std::vector<detection> d;
        for (auto& x : dets)
          if (x.image_id == img_ids[i] && x.category_id == cat_ids[k]) d.push_back(x);
        if (g.empty() && d.empty()) continue;
        std::stable_sort(d.begin(), d.end(), [](auto& x, auto& y) { return -x.score < -y.score; });
        if (d.size() > max_det_all) d.resize(max_det_all);
        const auto [lo, hi] = p.area_ranges[a];
        std::vector<int> ig(g.size());
        for (std::size_t j = 0; j < g.size(); ++j) ig[j] = (g[j]->iscrowd || g[j]->area < lo || g[j]->area > hi) ? 1 : 0;
        std::vector<std::size_t> gtind(g.size());
        for (std::size_t j = 0; j < g.size(); ++j) gtind[j] = j;
        std::stable_sort(gtind.begin(), gtind.end(), [&](auto x, auto y) { return ig[x] < ig[y]; });
        eval_img e;
        e.none = false;
        for (auto& x : d) e.scores.push_back(x.score);
        e.dtm.assign(T, std::vector<std::int64_t>(d.size(), 0));
        e.dtig.assign(T, std::vector<bool>(d.size(), false));
        for (auto j : gtind) e.gtig.push_back(ig[j] != 0);
        for (std::size_t t = 0; t < T; ++t) {
          std::vector<std::int64_t> gtm(g.size(), 0);
          for (std::size_t di = 0; di < d.size(); ++di) {
            double iou = std::min(p.iou_thresholds[t], 1 - 1e-10);
            std::ptrdiff_t m = -1;
            for (std::size_t gi = 0; gi < g.size(); ++gi) {
              const auto* gg = g[gtind[gi]];
              if (gtm[gi] > 0 && !gg->iscrowd) continue;
              if (m > -1 && !e.gtig[static_cast<std::size_t>(m)] && e.gtig[gi]) break;
              const double v = tailor::eval::detail::box_iou(d[di], gg->bbox, gg->iscrowd);
              if (v < iou) continue;
              iou = v;
              m = static_cast<std::ptrdiff_t>(gi);
            }
            if (m == -1) continue;
            e.dtig[t][di] = e.gtig[static_cast<std::size_t>(m)];
            e.dtm[t][di] = g[gtind[static_cast<std::size_t>(m)]]->id;
            gtm[static_cast<std::size_t>(m)] = static_cast<std::int64_t>(di) + 1;
          }
          for (std::size_t di = 0; di < d.size(); ++di) {
            const double area = d[di].w * d[di].h;
            if (e.dtm[t][di] == 0 && (area < lo || area > hi)) e.dtig[t][di] = true;
          }
        }
        evals[(k * A + a) * I + i] = std::move(e);
      }
  literal_result out;
  out.precision.assign(T * R * K * A * M, -1);
  out.recall.assign(T * K * A * M, -1);
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t a = 0; a < A; ++a)
      for (std::size_t m = 0; m < M; ++m) {
        const std::size_t md = static_cast<std::size_t>(p.max_dets[m]);
        std::vector<double> scores;
        std::vector<std::vector<std::int64_t>> dtm(T);
        std::vector<std::vector<bool>> dtig(T);
        std::size_t npig = 0;
        bool any = false;
        for (std::size_t i = 0; i < I; ++i) {
          const auto& e = evals[(k * A + a) * I + i];
          if (e.none) continue;
          any = true;
          const std::size_t n = std::min(md, e.scores.size());
          scores.insert(scores.end(), e.scores.begin(), e.scores.begin() + static_cast<std::ptrdiff_t>(n));
          for (std::size_t t = 0; t < T; ++t) {
            dtm[t].insert(dtm[t].end(), e.dtm[t].begin(), e.dtm[t].begin() + static_cast<std::ptrdiff_t>(n));
            dtig[t].insert(dtig[t].end(), e.dtig[t].begin(), e.dtig[t].begin() + static_cast<std::ptrdiff_t>(n));
          }
          for (bool b : e.gtig) npig += b ? 0 : 1;
        }
        if (!any || npig == 0) continue;
        std::vector<std::size_t> inds(scores.size());
        for (std::size_t j = 0; j < inds.size(); ++j) inds[j] = j;
        std::stable_sort(inds.begin(), inds.end(), [&](auto x, auto y) { return -scores[x] < -scores[y]; });
        for (std::size_t t = 0; t < T; ++t) {
          const std::size_t nd = inds.size();
          std::vector<double> rc(nd), pr(nd);
          double tp = 0, fp = 0;
          for (std::size_t j = 0; j < nd; ++j) {
            const bool ig = dtig[t][inds[j]];
            const bool matched = dtm[t][inds[j]] != 0;
            if (matched && !ig) tp += 1;
            if (!matched && !ig) fp += 1;
            rc[j] = tp / static_cast<double>(npig);
            pr[j] = tp / (fp + tp + std::numeric_limits<double>::epsilon());
          }
          out.recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0;
          for (std::size_t j = nd; j-- > 1;)
            if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          std::vector<double> q(R, 0);
          for (std::size_t r = 0; r < R; ++r) {
            const auto idx = static_cast<std::size_t>(std::lower_bound(rc.begin(), rc.end(), p.recall_thresholds[r]) - rc.begin());
            if (idx >= nd) break;  // the IndexError of pycocotools' try block
            q[r] = pr[idx];
          }
          for (std::size_t r = 0; r < R; ++r) out.precision[(((t * R + r) * K + k) * A + a) * M + m] = q[r];
        }
      }
  return out;
}

}  // namespace

namespace {

// A random case: boxes with jittered detections (some
// twice), background false positives, quantized scores (ties), crowds and boundary areas.
struct random_case {
  tailor::data::coco_dataset gt;
  std::vector<detection> dets;
};

random_case make_random_case(int round, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<gt_box> boxes;
  const int images = 1 + round % 5, cats = 1 + round % 3;
  std::vector<std::int64_t> image_ids, cat_ids;
  for (int i = 0; i < images; ++i) image_ids.push_back(10 + 3 * i);
  for (int c = 0; c < cats; ++c) cat_ids.push_back(5 - c);
  random_case out;
  for (int j = 0; j < 6 * images; ++j) {
    const double w = 4 + std::floor(u(rng) * 120), h = 4 + std::floor(u(rng) * 120);
    const double x = std::floor(u(rng) * 100), y = std::floor(u(rng) * 100);
    const double area = u(rng) < 0.2 ? 1024.0 : u(rng) < 0.1 ? 9216.0 : u(rng) < 0.5 ? w * h * 0.7 : -1;
    const auto img = image_ids[static_cast<std::size_t>(u(rng) * images)];
    const auto cat = cat_ids[static_cast<std::size_t>(u(rng) * cats)];
    boxes.push_back({j + 1, img, cat, x, y, w, h, area, u(rng) < 0.1});
    const int copies = static_cast<int>(u(rng) * 3);
    for (int c = 0; c < copies; ++c)
      out.dets.push_back({img, cat, x + (u(rng) - 0.5) * w * 0.6, y + (u(rng) - 0.5) * h * 0.6, w * (0.7 + u(rng) * 0.6),
                          h * (0.7 + u(rng) * 0.6), std::round(u(rng) * 8) / 8});
  }
  for (int j = 0; j < 4 * images; ++j)
    out.dets.push_back({image_ids[static_cast<std::size_t>(u(rng) * images)], cat_ids[static_cast<std::size_t>(u(rng) * cats)],
                        u(rng) * 150, u(rng) * 150, 2 + u(rng) * 100, 2 + u(rng) * 100, std::round(u(rng) * 8) / 8});
  out.gt = make_gt(image_ids, cat_ids, boxes);
  return out;
}

bool same_result(const coco_eval_result& a, const coco_eval_result& b) {
  return a.stats == b.stats && a.precision == b.precision && a.recall == b.recall && a.per_category_ap == b.per_category_ap &&
         a.true_positives == b.true_positives && a.false_positives == b.false_positives && a.ground_truth == b.ground_truth;
}

}  // namespace

TEST_CASE("COCO eval equals a literal transcription of pycocotools on random cases", "[eval]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    const auto [gt, dets] = make_random_case(round, rng);
    coco_eval_params p;
    if (round % 2 == 1) p.max_dets = {1, 3, 2};  // small and unsorted: the last one is the cell cut
    const auto r = evaluate_bbox(gt, dets, p);
    const auto want = literal_cocoeval(gt, dets, p);
    INFO("round " << round);
    CHECK(r.precision == want.precision);
    CHECK(r.recall == want.recall);
  }
}


TEST_CASE("COCO eval: the detection accumulator equals evaluate_bbox, batch by batch", "[eval]") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; ++round) {
    auto c = make_random_case(round, rng);
    INFO("round " << round);
    coco_eval_params p;
    if (round % 2 == 1) p.max_dets = {1, 3, 2};
    if (round % 3 == 2) {
      // Negative scores, and zeros of both signs (which compare equal: a tie kept in input order).
      for (std::size_t j = 0; j < c.dets.size(); j += 2) c.dets[j].score = -c.dets[j].score;
      const auto literal = literal_cocoeval(c.gt, c.dets, p);
      const auto r = evaluate_bbox(c.gt, c.dets, p);
      CHECK(r.precision == literal.precision);
      CHECK(r.recall == literal.recall);
    }
    // Batches of random sizes (empty ones too, and single detections), then one evaluation.
    tailor::eval::detection_accumulator acc(c.gt);
    std::size_t done = 0;
    while (done < c.dets.size()) {
      const std::size_t n = std::min<std::size_t>(c.dets.size() - done, static_cast<std::size_t>(rng() % 5));
      if (n == 1) acc.add(c.dets[done]);
      else acc.add(std::span(c.dets).subspan(done, n));
      done += n;
    }
    REQUIRE(acc.size() == c.dets.size());
    const auto want = evaluate_bbox(c.gt, c.dets, p);
    CHECK(same_result(acc.evaluate(p), want));
    CHECK(same_result(acc.evaluate(p), want));  // evaluating again changes nothing

    // Evaluate half-way, then add the rest: ties between old and new detections keep input order.
    tailor::eval::detection_accumulator half(c.gt);
    const std::size_t mid = c.dets.size() / 2;
    half.add(std::span(c.dets).first(mid));
    CHECK(same_result(half.evaluate(p), evaluate_bbox(c.gt, std::span(c.dets).first(mid), p)));
    half.add(std::span(c.dets).subspan(mid));
    CHECK(same_result(half.evaluate(p), want));
  }
}

TEST_CASE("COCO eval: a bad batch adds nothing to the accumulator", "[eval]") {
  const auto gt = one_box_gt();
  tailor::eval::detection_accumulator acc(gt);
  acc.add(std::vector<detection>{{1, 1, 0, 0, 10, 10, 0.9}});
  try {
    acc.add(std::vector<detection>{{1, 1, 50, 50, 10, 10, 0.8}, {1, 1, 0, 0, -1, 10, 0.8}});
    FAIL("no error");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
    CHECK_THAT(std::string(e.what()), Catch::Contains("detection 2"));  // counted over everything added
  }
  CHECK(acc.size() == 1);
  CHECK(approx_eq(acc.evaluate().stats[0], one_tp) <= 1e-15);  // the perfect detection alone
}

TEST_CASE("COCO eval: stat 0 asks for maxDets 100 literally, as pycocotools does", "[eval]") {
  const auto gt = one_box_gt();
  const std::vector<detection> dets{{1, 1, 0, 0, 10, 10, 0.9}};
  coco_eval_params p;
  p.max_dets = {1, 10, 50};
  const auto r = evaluate_bbox(gt, dets, p);
  CHECK(r.stats[0] == -1);  // _summarize(1) uses maxDets=100: not in the list
  CHECK(approx_eq(r.stats[1], one_tp) <= 1e-15);  // the others use maxDets[2] = 50
  CHECK(r.stats[8] == 1);
}

TEST_CASE("COCO eval: minimum score and the counts behind the curves", "[eval]") {
  // Image 1: the gt box, found by a 0.9 detection; a 0.4 false positive; a 0.3 detection in a
  // crowd region (ignored).
  const auto gt = make_gt({1}, {1, 2}, {{1, 1, 1, 0, 0, 10, 10, -1}, {2, 1, 1, 100, 100, 50, 50, -1, true}});
  const std::vector<detection> dets{{1, 1, 0, 0, 10, 10, 0.9}, {1, 1, 50, 50, 10, 10, 0.4}, {1, 1, 110, 110, 10, 10, 0.3},
                                    {1, 2, 0, 0, 5, 5, 0.5}};
  const auto r = evaluate_bbox(gt, dets);
  // t = 0 (0.5), category 1, area all, maxDets 100.
  CHECK(r.true_positives_at(0, 0, 0, 2) == 1);
  CHECK(r.false_positives_at(0, 0, 0, 2) == 1);
  CHECK(r.ground_truth_at(0, 0) == 1);
  // Category 2 has no gt: its detection still counts as a false positive.
  CHECK(r.false_positives_at(0, 1, 0, 2) == 1);
  CHECK(r.ground_truth_at(1, 0) == 0);
  CHECK(r.recall_at(0, 1, 0, 2) == -1);

  coco_eval_params p;
  p.min_score = 0.5;  // keeps the 0.9 and the 0.5 only
  const auto r2 = evaluate_bbox(gt, dets, p);
  CHECK(r2.false_positives_at(0, 0, 0, 2) == 0);
  CHECK(approx_eq(r2.stats[1], one_tp) <= 1e-15);
  // The same as leaving the low-scored detections out.
  const std::vector<detection> kept{dets[0], dets[3]};
  CHECK(same_result(r2, evaluate_bbox(gt, kept)));
  p.min_score = std::nan("");
  CHECK_THROWS_AS(evaluate_bbox(gt, dets, p), tailor::error);
}

TEST_CASE("COCO results JSON: content after the array is an error naming the file and the offset", "[eval]") {
  const std::string ok = R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])";
  CHECK(tailor::eval::read_coco_results(ok + " \n\t\r\n", "r.json").size() == 1);  // white space is fine
  REQUIRE(ok.size() == 71);  // the offset is where the extra content starts
  CHECK(message_of(ok + "\n]") == "r.json: unexpected content after the results array, at byte offset 72");
  CHECK(message_of(ok + " []") == "r.json: unexpected content after the results array, at byte offset 72");
  CHECK(message_of(ok + "x") == "r.json: unexpected content after the results array, at byte offset 71");
  CHECK(message_of(ok + ", {}") == "r.json: unexpected content after the results array, at byte offset 71");
  CHECK(message_of("[] 3") == "r.json: unexpected content after the results array, at byte offset 3");
  // A bracket inside a string is not the end of the array.
  CHECK(message_of(R"([{"image_id": "]"}] 3)") == "r.json: unexpected content after the results array, at byte offset 20");
  CHECK_THAT(message_of("[{\"image_id\": 1}"), Catch::Contains("r.json") && Catch::Contains("not closed"));
}
