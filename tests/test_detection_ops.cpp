// Box arithmetic and non-maximum suppression for detection: IoU and GIoU on boxes worked out by
// hand (including the degenerate rule), the GIoU loss gradient against central finite differences,
// and NMS against the plain definition written out below, on random sets full of overlaps and ties.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tailor/core/error.hpp>
#include <tailor/data/coco_types.hpp>
#include <tailor/detection/box_ops.hpp>
#include <tailor/detection/nms.hpp>

namespace {

using namespace tailor::detection;
using box_d = xyxy<double>;
using box_f = xyxy<float>;

box_d make_box(double x1, double y1, double x2, double y2) { return box_d{x1, y1, x2, y2}; }

std::array<double, 4> coordinates(const box_d& b) { return {b.x1, b.y1, b.x2, b.y2}; }

box_d with_coordinate(box_d b, int k, double value) {
  (k == 0 ? b.x1 : k == 1 ? b.y1 : k == 2 ? b.x2 : b.y2) = value;
  return b;
}

double gradient_component(const box_d& g, int k) { return coordinates(g)[static_cast<std::size_t>(k)]; }

bool all_finite(const giou_loss_result<double>& r) {
  return std::isfinite(r.loss) && std::isfinite(r.gradient.x1) && std::isfinite(r.gradient.y1) &&
         std::isfinite(r.gradient.x2) && std::isfinite(r.gradient.y2);
}

scored_box make_detection(float x1, float y1, float x2, float y2, float score, int class_id) {
  scored_box d;
  d.box = box_f{x1, y1, x2, y2};
  d.score = score;
  d.class_id = class_id;
  return d;
}

nms_options options_with(float iou_threshold, float score_threshold, std::size_t max_detections) {
  nms_options o;
  o.iou_threshold = iou_threshold;
  o.score_threshold = score_threshold;
  o.max_detections = max_detections;
  return o;
}

// The definition, as slowly as it reads: repeatedly take the highest remaining score (lowest index
// among equals), keep it, drop every remaining box of its class overlapping it by IoU > threshold.
std::vector<std::size_t> reference_nms(const std::vector<scored_box>& detections, const nms_options& o) {
  std::vector<std::size_t> remaining;
  for (std::size_t i = 0; i < detections.size(); ++i)
    if (detections[i].score >= o.score_threshold) remaining.push_back(i);
  std::vector<std::size_t> kept;
  while (!remaining.empty()) {
    std::size_t best = 0;
    for (std::size_t r = 1; r < remaining.size(); ++r) {
      const auto& a = detections[remaining[r]];
      const auto& b = detections[remaining[best]];
      if (a.score > b.score || (a.score == b.score && remaining[r] < remaining[best])) best = r;
    }
    const std::size_t top = remaining[best];
    kept.push_back(top);
    std::vector<std::size_t> next;
    for (auto i : remaining) {
      if (i == top) continue;
      const bool same_class = detections[i].class_id == detections[top].class_id;
      if (same_class && iou(detections[i].box, detections[top].box) > o.iou_threshold) continue;
      next.push_back(i);
    }
    remaining = std::move(next);
  }
  if (kept.size() > o.max_detections) kept.resize(o.max_detections);
  return kept;
}

template <class F>
void require_invalid_argument(F&& call, const std::vector<std::string>& words) {
  try {
    call();
    FAIL("no error");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
    const std::string what = e.what();
    for (const auto& w : words) {
      INFO(what);
      CHECK(what.find(w) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("detection boxes: xyxy converts from and to COCO [x, y, w, h]", "[detection][box]") {
  tailor::data::box coco;
  coco.x = 1.5;
  coco.y = 2;
  coco.w = 3;
  coco.h = 4.25;
  const box_d b = from_coco(coco);
  CHECK(b.x1 == 1.5);
  CHECK(b.y1 == 2);
  CHECK(b.x2 == 4.5);
  CHECK(b.y2 == 6.25);
  const box_f f = from_coco<float>(coco);
  CHECK(f.x2 == 4.5f);
  const tailor::data::box back = to_coco(b);
  CHECK(back.x == 1.5);
  CHECK(back.y == 2);
  CHECK(back.w == 3);
  CHECK(back.h == 4.25);
  CHECK(width(b) == 3);
  CHECK(height(b) == 4.25);
  CHECK(area(b) == 12.75);
}

TEST_CASE("detection boxes: IoU and GIoU of hand-computed pairs", "[detection][iou]") {
  struct worked_case {
    const char* name;
    box_d a, b;
    double iou, giou;
  };
  const std::vector<worked_case> cases = {
      // I = 0, U = 8, C = 5 * 2 = 10: GIoU = 0 - 2/10.
      {"disjoint", make_box(0, 0, 2, 2), make_box(3, 0, 5, 2), 0.0, -0.2},
      // Far apart: the penalty approaches 1. I = 0, U = 2, C = 11 * 11.
      {"far apart", make_box(0, 0, 1, 1), make_box(10, 10, 11, 11), 0.0, -(121.0 - 2.0) / 121.0},
      // I = 4, U = 16, C = 16.
      {"nested", make_box(0, 0, 4, 4), make_box(1, 1, 3, 3), 0.25, 0.25},
      {"identical", make_box(1, 2, 5, 7), make_box(1, 2, 5, 7), 1.0, 1.0},
      // Sharing an edge: I = 0, U = C = 8.
      {"touching along an edge", make_box(0, 0, 2, 2), make_box(2, 0, 4, 2), 0.0, 0.0},
      // Sharing a corner: I = 0, U = 2, C = 4.
      {"touching at a corner", make_box(0, 0, 1, 1), make_box(1, 1, 2, 2), 0.0, -0.5},
      // I = 1, U = 7, C = 9.
      {"partial overlap", make_box(0, 0, 2, 2), make_box(1, 1, 3, 3), 1.0 / 7.0, 1.0 / 7.0 - 2.0 / 9.0},
      // I = 2 * 3 = 6, U = 12 + 12 - 6 = 18, C = 4 * 6 = 24 (a cross).
      {"crossing", make_box(0, 1, 4, 4), make_box(1, 0, 3, 6), 6.0 / 18.0, 6.0 / 18.0 - 6.0 / 24.0},
      // Degenerate (the documented rule): a zero-width box has area 0 and overlaps nothing.
      // U = 4, C = 2 * 3 = 6.
      {"zero width against a box", make_box(1, 1, 1, 3), make_box(0, 0, 2, 2), 0.0, -2.0 / 6.0},
      // Both zero area, enclosure of positive area: U = 0 (IoU 0), penalty (C - 0) / C = 1.
      {"two segments side by side", make_box(0, 0, 0, 1), make_box(2, 0, 2, 1), 0.0, -1.0},
      // Both zero area and the enclosure too (one line): both ratios count as 0.
      {"two segments on one line", make_box(1, 0, 1, 1), make_box(1, 2, 1, 3), 0.0, 0.0},
      {"the same point twice", make_box(3, 3, 3, 3), make_box(3, 3, 3, 3), 0.0, 0.0},
      // Inverted boxes count as empty.
      {"inverted against a box", make_box(2, 0, 0, 2), make_box(0, 0, 2, 2), 0.0, 0.0},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(iou(c.a, c.b) == Approx(c.iou).margin(1e-15));
    CHECK(iou(c.b, c.a) == Approx(c.iou).margin(1e-15));
    CHECK(giou(c.a, c.b) == Approx(c.giou).margin(1e-15));
    CHECK(giou(c.b, c.a) == Approx(c.giou).margin(1e-15));
    const auto loss = giou_loss(c.a, c.b);
    CHECK(loss.loss == Approx(1.0 - c.giou).margin(1e-15));
    CHECK(all_finite(loss));
    CHECK(all_finite(giou_loss(c.b, c.a)));
  }
  // The inverted box's own area is 0 (not negative).
  CHECK(area(make_box(2, 0, 0, 2)) == 0);
  // float gives the same answers to float precision.
  CHECK(iou(box_f{0, 0, 2, 2}, box_f{1, 1, 3, 3}) == Approx(1.0 / 7.0).epsilon(1e-6));
  CHECK(giou(box_f{0, 0, 2, 2}, box_f{3, 0, 5, 2}) == Approx(-0.2).epsilon(1e-6));
}

TEST_CASE("detection boxes: a perfect match has zero GIoU loss and exactly zero gradient", "[detection][giou]") {
  for (const auto& b : {make_box(0, 0, 1, 1), make_box(1.25, 2.5, 7.75, 3.125), make_box(-3, 10, 0.1, 99.9)}) {
    const auto r = giou_loss(b, b);
    CHECK(r.loss == 0);
    CHECK(r.gradient.x1 == 0);
    CHECK(r.gradient.y1 == 0);
    CHECK(r.gradient.x2 == 0);
    CHECK(r.gradient.y2 == 0);
  }
}

TEST_CASE("detection boxes: degenerate predictions get a finite gradient that makes them grow", "[detection][giou]") {
  const box_d target = make_box(0, 0, 4, 4);
  // A zero-width prediction inside the target: growing its width lowers the loss.
  const auto r = giou_loss(make_box(2, 1, 2, 3), target);
  REQUIRE(all_finite(r));
  CHECK(r.gradient.x1 > 0);  // moving x1 left (negative step) lowers the loss
  CHECK(r.gradient.x2 < 0);
  // A point, and a prediction touching the target: finite, and pulled toward overlap.
  const auto point = giou_loss(make_box(1, 1, 1, 1), target);
  CHECK(all_finite(point));
  const auto touching = giou_loss(make_box(4, 0, 6, 4), target);
  CHECK(all_finite(touching));
  CHECK(touching.gradient.x1 > 0);
  // Both boxes degenerate, in every arrangement: finite everywhere.
  CHECK(all_finite(giou_loss(make_box(1, 0, 1, 1), make_box(1, 2, 1, 3))));
  CHECK(all_finite(giou_loss(make_box(0, 0, 0, 1), make_box(2, 0, 2, 1))));
  CHECK(all_finite(giou_loss(make_box(3, 3, 3, 3), make_box(3, 3, 3, 3))));
  CHECK(all_finite(giou_loss(make_box(5, 0, 3, 2), make_box(1, 1, 1, 1))));
}

TEST_CASE("detection boxes: GIoU loss gradient equals central finite differences", "[detection][giou]") {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> corner(0.0, 100.0);
  std::uniform_real_distribution<double> size(1.0, 60.0);
  // Finite differences are only meaningful away from the loss's kinks (edges meeting, extents at
  // zero): pairs with any of those within `margin` of each other are drawn again.
  const double step = 1e-5, margin = 1e-2;
  auto far_from_kinks = [&](const box_d& p, const box_d& t) {
    const std::array<double, 6> gaps = {
        p.x1 - t.x1, p.x2 - t.x2, p.y1 - t.y1, p.y2 - t.y2,
        std::min(p.x2, t.x2) - std::max(p.x1, t.x1), std::min(p.y2, t.y2) - std::max(p.y1, t.y1)};
    return std::all_of(gaps.begin(), gaps.end(), [&](double g) { return std::abs(g) > margin; });
  };
  int disjoint = 0, overlapping = 0, nested = 0;
  double worst = 0;
  const int pairs = 3000;
  for (int n = 0; n < pairs; ++n) {
    box_d p, t;
    do {
      const double px = corner(rng), py = corner(rng), tx = corner(rng), ty = corner(rng);
      p = make_box(px, py, px + size(rng), py + size(rng));
      t = make_box(tx, ty, tx + size(rng), ty + size(rng));
    } while (!far_from_kinks(p, t));
    const double inter = intersection_area(p, t);
    if (inter == 0)
      ++disjoint;
    else if (inter == area(p) || inter == area(t))
      ++nested;
    else
      ++overlapping;

    const auto analytic = giou_loss(p, t);
    REQUIRE(analytic.loss == Approx(1.0 - giou(p, t)).margin(1e-15));
    for (int k = 0; k < 4; ++k) {
      const double x = coordinates(p)[static_cast<std::size_t>(k)];
      const double plus = giou_loss(with_coordinate(p, k, x + step), t).loss;
      const double minus = giou_loss(with_coordinate(p, k, x - step), t).loss;
      const double numeric = (plus - minus) / (2 * step);
      const double exact = gradient_component(analytic.gradient, k);
      // Relative to the larger of the two; a component that nearly cancels (below 1e-4, where the
      // typical one is 1e-2) is compared absolutely, to 1e-10.
      const double error = std::abs(exact - numeric) / std::max({std::abs(exact), std::abs(numeric), 1e-4});
      worst = std::max(worst, error);
      if (error >= 1e-6) {
        INFO("pair " << n << " coordinate " << k << " analytic " << exact << " numeric " << numeric);
        CHECK(error < 1e-6);
      }
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-6);
  // The random pairs cover all three regimes of the loss.
  CHECK(disjoint > pairs / 10);
  CHECK(overlapping > pairs / 10);
  CHECK(nested > pairs / 100);
}

TEST_CASE("nms: agrees with the plain definition on random sets with overlaps and ties", "[detection][nms]") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> count(0, 80);
  std::uniform_int_distribution<int> cluster_pick(0, 4);
  std::uniform_real_distribution<float> position(0.f, 200.f);
  std::uniform_real_distribution<float> jitter(-6.f, 6.f);
  std::uniform_real_distribution<float> extent(5.f, 40.f);
  std::uniform_int_distribution<int> score_level(0, 10);  // few distinct scores: many ties
  std::uniform_int_distribution<int> class_pick(-1, 2);
  std::uniform_int_distribution<int> duplicate(0, 9);
  const std::array<float, 6> iou_thresholds = {0.0f, 0.3f, 0.5f, 0.6f, 0.9f, 1.0f};
  const std::array<float, 3> score_thresholds = {-std::numeric_limits<float>::infinity(), 0.05f, 0.5f};
  const std::array<std::size_t, 4> limits = {0, 5, 100, std::numeric_limits<std::size_t>::max()};

  std::size_t total_kept = 0, total_suppressed = 0;
  for (int set = 0; set < 600; ++set) {
    // Boxes jittered around a few cluster centres, so that most overlap something.
    std::array<box_f, 5> centres;
    for (auto& c : centres) {
      const float x = position(rng), y = position(rng);
      c = box_f{x, y, x + extent(rng), y + extent(rng)};
    }
    std::vector<scored_box> detections;
    const int n = count(rng);
    for (int i = 0; i < n; ++i) {
      if (!detections.empty() && duplicate(rng) == 0) {  // exact duplicates, with their own score and class
        auto copy = detections[static_cast<std::size_t>(i) / 2];
        copy.score = static_cast<float>(score_level(rng)) / 10.f;
        detections.push_back(copy);
        continue;
      }
      const box_f& c = centres[static_cast<std::size_t>(cluster_pick(rng))];
      const float x1 = c.x1 + jitter(rng), y1 = c.y1 + jitter(rng);
      const float x2 = std::max(x1, c.x2 + jitter(rng)), y2 = std::max(y1, c.y2 + jitter(rng));
      detections.push_back(make_detection(x1, y1, x2, y2, static_cast<float>(score_level(rng)) / 10.f, class_pick(rng)));
    }
    const auto o = options_with(iou_thresholds[static_cast<std::size_t>(set) % iou_thresholds.size()],
                                score_thresholds[static_cast<std::size_t>(set / 6) % score_thresholds.size()],
                                limits[static_cast<std::size_t>(set / 18) % limits.size()]);
    const auto expected = reference_nms(detections, o);
    const auto got = non_max_suppression(detections, o);
    INFO("set " << set << " with " << n << " detections, iou_threshold " << o.iou_threshold << ", score_threshold "
                << o.score_threshold << ", max_detections " << o.max_detections);
    REQUIRE(got == expected);
    total_kept += got.size();
    if (o.max_detections >= detections.size()) {
      const auto candidates = std::count_if(detections.begin(), detections.end(),
                                            [&](const scored_box& d) { return d.score >= o.score_threshold; });
      total_suppressed += static_cast<std::size_t>(candidates) - got.size();
    }
  }
  // The sets exercised both keeping and suppressing.
  CHECK(total_kept > 1000);
  CHECK(total_suppressed > 1000);
}

TEST_CASE("nms: order, thresholds and the limit", "[detection][nms]") {
  // Two overlapping boxes of one class (IoU 81/119, about 0.68), a third far away.
  const std::vector<scored_box> detections = {
      make_detection(0, 0, 10, 10, 0.5f, 0),    // 0
      make_detection(1, 1, 11, 11, 0.9f, 0),    // 1: overlaps 0, scores higher
      make_detection(50, 50, 60, 60, 0.7f, 0),  // 2
      make_detection(80, 80, 90, 90, 0.05f, 0), // 3: exactly at the default score threshold
      make_detection(90, 0, 99, 9, 0.01f, 0),   // 4: below it
  };
  SECTION("defaults: suppression by the higher score, sorted by score, the threshold inclusive") {
    CHECK(non_max_suppression(detections) == std::vector<std::size_t>{1, 2, 3});
  }
  SECTION("an IoU below the threshold suppresses nothing") {
    CHECK(non_max_suppression(detections, options_with(0.7f, 0.05f, 100)) == std::vector<std::size_t>{1, 2, 0, 3});
  }
  SECTION("the score threshold drops before suppression") {
    CHECK(non_max_suppression(detections, options_with(0.6f, 0.6f, 100)) == std::vector<std::size_t>{1, 2});
    CHECK(non_max_suppression(detections, options_with(0.6f, 0.95f, 100)).empty());
    CHECK(non_max_suppression(detections, options_with(0.6f, 0.0f, 100)) == std::vector<std::size_t>{1, 2, 3, 4});
  }
  SECTION("max_detections keeps the best scoring survivors") {
    CHECK(non_max_suppression(detections, options_with(0.6f, 0.05f, 2)) == std::vector<std::size_t>{1, 2});
    CHECK(non_max_suppression(detections, options_with(0.6f, 0.05f, 0)).empty());
  }
  SECTION("no detections, no result") {
    CHECK(non_max_suppression(std::vector<scored_box>{}).empty());
  }
}

TEST_CASE("nms: an IoU equal to the threshold does not suppress", "[detection][nms]") {
  // Nested: I = 1, U = 2, IoU exactly 0.5.
  const std::vector<scored_box> detections = {make_detection(0, 0, 2, 1, 0.9f, 3), make_detection(0, 0, 1, 1, 0.8f, 3)};
  CHECK(non_max_suppression(detections, options_with(0.5f, 0.05f, 100)) == std::vector<std::size_t>{0, 1});
  CHECK(non_max_suppression(detections, options_with(0.49f, 0.05f, 100)) == std::vector<std::size_t>{0});
}

TEST_CASE("nms: equal scores go by lower index, and the lower index suppresses", "[detection][nms]") {
  const std::vector<scored_box> detections = {
      make_detection(20, 20, 30, 30, 0.5f, 1),  // 0
      make_detection(0, 0, 10, 10, 0.5f, 1),    // 1
      make_detection(0, 0, 10, 10, 0.5f, 1),    // 2: duplicate of 1, later index: suppressed
      make_detection(40, 40, 50, 50, 0.5f, 1),  // 3
  };
  CHECK(non_max_suppression(detections) == std::vector<std::size_t>{0, 1, 3});
}

TEST_CASE("nms: boxes of different classes never suppress each other", "[detection][nms]") {
  std::vector<scored_box> detections;
  for (int c = 0; c < 5; ++c)  // one identical box in each of five classes, scores 0.9 down to 0.5
    detections.push_back(make_detection(0, 0, 10, 10, 0.9f - 0.1f * static_cast<float>(c), c * 7 - 10));
  detections.push_back(make_detection(0, 0, 10, 10, 0.95f, 100));  // 5: same box, its own class
  detections.push_back(make_detection(0, 0, 10, 10, 0.1f, 100));   // 6: same class as 5: suppressed
  CHECK(non_max_suppression(detections) == std::vector<std::size_t>{5, 0, 1, 2, 3, 4});
  // With every class alone, an IoU threshold of 0 still keeps one box per class.
  CHECK(non_max_suppression(detections, options_with(0.0f, 0.05f, 100)) == std::vector<std::size_t>{5, 0, 1, 2, 3, 4});
}

TEST_CASE("nms: invalid detections are errors naming the detection and the fix", "[detection][nms]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<scored_box> detections = {make_detection(0, 0, 10, 10, 0.9f, 0), make_detection(5, 5, 15, 15, 0.8f, 0),
                                        make_detection(1, 2, 3, 4, 0.7f, 1)};
  SECTION("a NaN score") {
    detections[1].score = nan;
    require_invalid_argument([&] { (void)non_max_suppression(detections); }, {"detection 1", "finite score"});
  }
  SECTION("an infinite score, even below the score threshold") {
    detections[2].score = -inf;
    require_invalid_argument([&] { (void)non_max_suppression(detections); }, {"detection 2", "finite score"});
  }
  SECTION("x2 < x1") {
    detections[2].box = box_f{3, 2, 1, 4};
    require_invalid_argument([&] { (void)non_max_suppression(detections); },
                             {"detection 2", "x2 < x1", "x1 <= x2 and y1 <= y2", "from_coco"});
  }
  SECTION("y2 < y1") {
    detections[0].box = box_f{0, 10, 10, 0};
    require_invalid_argument([&] { (void)non_max_suppression(detections); },
                             {"detection 0", "y2 < y1", "x1 <= x2 and y1 <= y2"});
  }
  SECTION("a non-finite coordinate") {
    detections[1].box.x2 = nan;
    require_invalid_argument([&] { (void)non_max_suppression(detections); }, {"detection 1", "non-finite"});
  }
  SECTION("NaN thresholds") {
    require_invalid_argument([&] { (void)non_max_suppression(detections, options_with(nan, 0.05f, 100)); },
                             {"iou_threshold"});
    require_invalid_argument([&] { (void)non_max_suppression(detections, options_with(0.5f, nan, 100)); },
                             {"score_threshold"});
  }
}
