// FCOS training targets, the focal and centerness losses, and decoding: assignment on boxes worked out
// by hand and against a brute-force reading of the rules (written point by point, in double), the
// losses against their formulas in long double and their gradients against central finite
// differences, decoding on hand-made head outputs; the same for the CenterNet-style head.
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
#include <tailor/detection/centernet.hpp>
#include <tailor/detection/decode.hpp>
#include <tailor/detection/fcos_targets.hpp>
#include <tailor/detection/focal_loss.hpp>

namespace {

using namespace tailor::detection;
using Catch::Contains;

constexpr std::array<int, 3> strides{8, 16, 32};

gt_box make_gt(float x1, float y1, float x2, float y2, int class_id = 0) {
  gt_box g;
  g.box = xyxy<float>{x1, y1, x2, y2};
  g.class_id = class_id;
  return g;
}

struct point_ref {
  std::size_t level = 0;
  int x = 0, y = 0;
};

// Where each flat point index lies.
std::vector<point_ref> point_list(const std::vector<level_geometry>& levels) {
  std::vector<point_ref> out;
  for (std::size_t li = 0; li < levels.size(); ++li)
    for (int y = 0; y < levels[li].height; ++y)
      for (int x = 0; x < levels[li].width; ++x) out.push_back({li, x, y});
  return out;
}

std::size_t flat_index(const std::vector<level_geometry>& levels, std::size_t level, int x, int y) {
  std::size_t offset = 0;
  for (std::size_t li = 0; li < level; ++li) offset += std::size_t(levels[li].height * levels[li].width);
  return offset + std::size_t(y * levels[level].width + x);
}

// The rules read literally, in double: for each point, the list of boxes it is a candidate for, and
// the winner among them (smallest area, then lowest index). -1 for none.
std::vector<int> reference_winners(const std::vector<gt_box>& gts, const std::vector<level_geometry>& levels,
                                   double radius = 1.5) {
  std::vector<int> winners;
  for (const auto& pr : point_list(levels)) {
    const level_geometry& lv = levels[pr.level];
    const double px = (pr.x + 0.5) * lv.stride, py = (pr.y + 0.5) * lv.stride;
    int best = -1;
    for (std::size_t g = 0; g < gts.size(); ++g) {
      const auto& b = gts[g].box;
      const double cx = (double(b.x1) + b.x2) / 2, cy = (double(b.y1) + b.y2) / 2;
      const bool in_box = px > b.x1 && px < b.x2 && py > b.y1 && py < b.y2;
      const bool in_centre = std::abs(px - cx) < radius * lv.stride && std::abs(py - cy) < radius * lv.stride;
      const double m = std::max(std::max(px - b.x1, b.x2 - px), std::max(py - b.y1, b.y2 - py));
      const bool in_range = m >= lv.size_min && m < lv.size_max;
      if (!(in_box && in_centre && in_range)) continue;
      const double area_g = (double(b.x2) - b.x1) * (double(b.y2) - b.y1);
      if (best < 0) {
        best = int(g);
        continue;
      }
      const auto& w = gts[std::size_t(best)].box;
      const double area_w = (double(w.x2) - w.x1) * (double(w.y2) - w.y1);
      if (area_g < area_w) best = int(g);
    }
    winners.push_back(best);
  }
  return winners;
}

std::vector<std::size_t> positives_of(const std::vector<point_target>& targets, int gt) {
  std::vector<std::size_t> out;
  for (std::size_t p = 0; p < targets.size(); ++p)
    if (targets[p].gt_index == gt) out.push_back(p);
  return out;
}

void check_exact_distances(const point_target& t, const gt_box& g, const level_geometry& lv, const point_ref& pr) {
  const float px = (float(pr.x) + 0.5f) * float(lv.stride), py = (float(pr.y) + 0.5f) * float(lv.stride);
  CHECK(t.class_id == g.class_id);
  CHECK(t.l == px - g.box.x1);
  CHECK(t.t == py - g.box.y1);
  CHECK(t.r == g.box.x2 - px);
  CHECK(t.b == g.box.y2 - py);
  CHECK(t.centerness == Approx(centerness_of(t.l, t.t, t.r, t.b)));
}

}  // namespace

TEST_CASE("fcos targets: pyramid levels have FCOS's size ranges", "[detection][targets]") {
  const auto levels = pyramid_levels(128, strides);
  REQUIRE(levels.size() == 3);
  CHECK(levels[0].stride == 8);
  CHECK(levels[0].height == 16);
  CHECK(levels[0].width == 16);
  CHECK(levels[1].height == 8);
  CHECK(levels[2].width == 4);
  CHECK(levels[0].size_min == 0);
  CHECK(levels[0].size_max == 64);
  CHECK(levels[1].size_min == 64);
  CHECK(levels[1].size_max == 128);
  CHECK(levels[2].size_min == 128);
  CHECK(std::isinf(levels[2].size_max));

  const std::array<int, 2> decreasing{16, 8};
  REQUIRE_THROWS_WITH(pyramid_levels(100, strides), Contains("not a multiple of stride"));
  REQUIRE_THROWS_WITH(pyramid_levels(128, std::span<const int>{}), Contains("no strides"));
  REQUIRE_THROWS_WITH(pyramid_levels(128, decreasing), Contains("increasing"));
  REQUIRE_THROWS_WITH(pyramid_levels(0, strides), Contains("input size 0"));
}

TEST_CASE("fcos targets: centerness", "[detection][targets]") {
  CHECK(centerness_of(10, 10, 10, 10) == 1.0f);
  CHECK(centerness_of(24, 24, 40, 40) == Approx(0.6));
  CHECK(centerness_of(2, 8, 8, 2) == Approx(0.25));
  CHECK(centerness_of(0, 5, 5, 5) == 0.0f);
  CHECK(centerness_of(-1, 5, 5, 5) == 0.0f);
}

TEST_CASE("fcos targets: a 64x64 box on a 128-px input gets exactly the centre points of level 0",
          "[detection][targets]") {
  const auto levels = pyramid_levels(128, strides);
  const std::vector<gt_box> gts{make_gt(20, 36, 84, 100, 3)};
  const auto targets = assign_targets(gts, levels);
  REQUIRE(targets.size() == 16 * 16 + 8 * 8 + 4 * 4);

  // By hand: centre (52, 68), region (40, 64) x (56, 80) on level 0, whose points at 4 + 8k give
  // columns 5..7 (x 44, 52, 60) and rows 7..9 (y 60, 68, 76); the largest distance there is 40 < 64.
  // Level 1's candidates (x 40..72, y 56..88) reach at most 52 < 64, level 2's at most 60 < 128.
  std::vector<std::size_t> expected;
  for (int y = 7; y <= 9; ++y)
    for (int x = 5; x <= 7; ++x) expected.push_back(flat_index(levels, 0, x, y));
  CHECK(positives_of(targets, 0) == expected);

  const auto winners = reference_winners(gts, levels);
  const auto pts = point_list(levels);
  for (std::size_t p = 0; p < targets.size(); ++p) {
    INFO("point " << p);
    REQUIRE(targets[p].gt_index == winners[p]);
    if (winners[p] < 0) {
      CHECK(targets[p].class_id == -1);
      continue;
    }
    check_exact_distances(targets[p], gts[0], levels[pts[p].level], pts[p]);
  }

  const point_target& corner = targets[flat_index(levels, 0, 5, 7)];  // (44, 60)
  CHECK(corner.l == 24);
  CHECK(corner.t == 24);
  CHECK(corner.r == 40);
  CHECK(corner.b == 40);
  CHECK(corner.centerness == Approx(0.6));
  CHECK(targets[flat_index(levels, 0, 6, 8)].centerness == 1.0f);  // (52, 68): the centre itself
}

TEST_CASE("fcos targets: the centre region's border is excluded", "[detection][targets]") {
  // Box (32, 32, 96, 96): level 1's region (40, 88) has points exactly at 40 and 88, which are out.
  const auto levels = pyramid_levels(128, strides);
  const std::vector<gt_box> gts{make_gt(32, 32, 96, 96)};
  const auto targets = assign_targets(gts, levels);
  std::vector<std::size_t> expected;
  for (int y = 7; y <= 8; ++y)
    for (int x = 7; x <= 8; ++x) expected.push_back(flat_index(levels, 0, x, y));
  CHECK(positives_of(targets, 0) == expected);
}

TEST_CASE("fcos targets: overlapping boxes give the shared points to the smaller", "[detection][targets]") {
  const auto levels = pyramid_levels(128, strides);
  const gt_box big = make_gt(0, 0, 96, 96, 0), small = make_gt(32, 32, 80, 80, 1);
  for (const bool small_first : {false, true}) {
    INFO("small box first: " << small_first);
    const std::vector<gt_box> gts = small_first ? std::vector<gt_box>{small, big} : std::vector<gt_box>{big, small};
    const int i_big = small_first ? 1 : 0, i_small = small_first ? 0 : 1;
    const auto targets = assign_targets(gts, levels);
    // big: level 0 columns/rows 5, 6 (x 44, 52); small: 6, 7 (x 52, 60); (6, 6) is shared.
    const std::vector<std::size_t> expected_big{flat_index(levels, 0, 5, 5), flat_index(levels, 0, 6, 5),
                                                flat_index(levels, 0, 5, 6)};
    const std::vector<std::size_t> expected_small{flat_index(levels, 0, 6, 6), flat_index(levels, 0, 7, 6),
                                                  flat_index(levels, 0, 6, 7), flat_index(levels, 0, 7, 7)};
    CHECK(positives_of(targets, i_big) == expected_big);
    CHECK(positives_of(targets, i_small) == expected_small);
    const point_target& shared = targets[flat_index(levels, 0, 6, 6)];  // (52, 52)
    CHECK(shared.class_id == 1);
    CHECK(shared.l == 20);
    CHECK(shared.t == 20);
    CHECK(shared.r == 28);
    CHECK(shared.b == 28);
    CHECK(reference_winners(gts, levels) == [&] {
      std::vector<int> w;
      for (const auto& t : targets) w.push_back(t.gt_index);
      return w;
    }());
  }
}

TEST_CASE("fcos targets: objects from 3 px to the whole image all get positives", "[detection][targets]") {
  const auto levels = pyramid_levels(256, strides);
  const std::size_t level2_begin = flat_index(levels, 2, 0, 0);

  SECTION("a 3x3 box between point centres: the nearest point of the finest level, distances clamped") {
    const auto targets = assign_targets(std::vector<gt_box>{make_gt(5, 5, 8, 8, 2)}, levels);
    const auto pos = positives_of(targets, 0);
    REQUIRE(pos.size() == 1);
    REQUIRE(pos[0] == flat_index(levels, 0, 0, 0));  // (4, 4), nearest to the centre (6.5, 6.5)
    const point_target& t = targets[pos[0]];
    CHECK(t.class_id == 2);
    CHECK(t.l == fallback_min_distance);
    CHECK(t.t == fallback_min_distance);
    CHECK(t.r == 4);
    CHECK(t.b == 4);
    CHECK(t.centerness == Approx(0.125));
  }
  SECTION("a 3x3 box holding a point takes it by the rules") {
    const auto targets = assign_targets(std::vector<gt_box>{make_gt(10, 10, 13, 13)}, levels);
    const auto pos = positives_of(targets, 0);
    REQUIRE(pos == std::vector<std::size_t>{flat_index(levels, 0, 1, 1)});
    CHECK(targets[pos[0]].l == 2);
    CHECK(targets[pos[0]].r == 1);
  }
  SECTION("the whole image lands on the last level") {
    const std::vector<gt_box> gts{make_gt(0, 0, 256, 256)};
    const auto targets = assign_targets(gts, levels);
    const auto pos = positives_of(targets, 0);
    std::vector<std::size_t> expected;  // centre 128 +- 48: points 112 and 144 of stride 32
    for (int y = 3; y <= 4; ++y)
      for (int x = 3; x <= 4; ++x) expected.push_back(flat_index(levels, 2, x, y));
    CHECK(pos == expected);
    CHECK(std::all_of(pos.begin(), pos.end(), [&](std::size_t p) { return p >= level2_begin; }));
    CHECK(targets[expected[0]].l == 112);
    CHECK(targets[expected[0]].r == 144);
  }
  SECTION("a thin box whose centre points have the wrong size: the nearest inside point of the next level") {
    // (0, 58, 130, 68): size 65 -> level 1, whose rows (56, 72) miss it; level 0's row y = 60 is
    // inside, but its centre points (x 60, 68, 76) are 70, 68, 76 px from a side: not < 64.
    const auto targets = assign_targets(std::vector<gt_box>{make_gt(0, 58, 130, 68)}, levels);
    const auto pos = positives_of(targets, 0);
    REQUIRE(pos == std::vector<std::size_t>{flat_index(levels, 0, 8, 7)});  // (68, 60), nearest (65, 63)
    const point_target& t = targets[pos[0]];
    CHECK(t.l == 68);
    CHECK(t.t == 2);
    CHECK(t.r == 62);
    CHECK(t.b == 8);
    CHECK(t.centerness == Approx(std::sqrt(62.0 / 68.0 * 2.0 / 8.0)));
  }
  SECTION("a thin box whose size level holds points inside it: the nearest of that level") {
    // (0, 50, 250, 62): size 125 -> level 1, whose row y = 56 is inside, but its centre points
    // (x 104, 120, 136) are 146, 130, 136 px from a side: not < 128. Level 0 has inside points too.
    const auto targets = assign_targets(std::vector<gt_box>{make_gt(0, 50, 250, 62)}, levels);
    const auto pos = positives_of(targets, 0);
    REQUIRE(pos == std::vector<std::size_t>{flat_index(levels, 1, 7, 3)});  // (120, 56), nearest (125, 56)
    const point_target& t = targets[pos[0]];
    CHECK(t.l == 120);
    CHECK(t.t == 6);
    CHECK(t.r == 130);
    CHECK(t.b == 6);
  }
  SECTION("a thin box between every level's rows: the nearest point of the finest level") {
    const auto targets = assign_targets(std::vector<gt_box>{make_gt(0, 60, 200, 66)}, levels);
    const auto pos = positives_of(targets, 0);
    REQUIRE(pos == std::vector<std::size_t>{flat_index(levels, 0, 12, 7)});  // (100, 60), nearest (100, 63)
    const point_target& t = targets[pos[0]];
    CHECK(t.l == 100);
    CHECK(t.t == fallback_min_distance);  // the point lies on the top side
    CHECK(t.r == 100);
    CHECK(t.b == 6);
  }
  SECTION("a fallback never takes a smaller box's point, nor a box's last point, but may take another") {
    // The 3x3 box (5, 5, 8, 8) holds no point; the point nearest its centre is (4, 4).
    SECTION("(4, 4) held by a smaller box") {
      const std::vector<gt_box> gts{make_gt(5, 5, 8, 8), make_gt(3, 3, 5, 5)};
      const auto targets = assign_targets(gts, levels);
      CHECK(positives_of(targets, 1) == std::vector<std::size_t>{flat_index(levels, 0, 0, 0)});
      CHECK(positives_of(targets, 0) == std::vector<std::size_t>{flat_index(levels, 0, 1, 0)});  // (12, 4): next, row first
    }
    SECTION("(4, 4) the only point of a larger box") {
      const std::vector<gt_box> gts{make_gt(5, 5, 8, 8), make_gt(2, 2, 6, 6)};
      const auto targets = assign_targets(gts, levels);
      CHECK(positives_of(targets, 1) == std::vector<std::size_t>{flat_index(levels, 0, 0, 0)});
      CHECK(positives_of(targets, 0) == std::vector<std::size_t>{flat_index(levels, 0, 1, 0)});
    }
    SECTION("(4, 4) one of two points of a larger box") {
      const std::vector<gt_box> gts{make_gt(5, 5, 8, 8), make_gt(0, 0, 14, 7)};
      const auto targets = assign_targets(gts, levels);
      CHECK(positives_of(targets, 0) == std::vector<std::size_t>{flat_index(levels, 0, 0, 0)});
      CHECK(positives_of(targets, 1) == std::vector<std::size_t>{flat_index(levels, 0, 1, 0)});
    }
  }
}

TEST_CASE("fcos targets: random boxes agree with the rules read literally; every box gets a positive",
          "[detection][targets]") {
  const auto levels = pyramid_levels(256, strides);
  const auto pts = point_list(levels);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  auto quarter = [](double v) { return float(std::round(v * 4) / 4); };  // exact in float, sums too
  int fallbacks = 0;
  for (int image = 0; image < 40; ++image) {
    std::vector<gt_box> gts;
    const int n = 1 + int(unit(rng) * 10);
    for (int i = 0; i < n; ++i) {
      const double w = std::exp(std::log(2.0) + unit(rng) * std::log(128.0));
      const double h = unit(rng) < 0.3 ? std::exp(std::log(2.0) + unit(rng) * std::log(128.0)) : w;
      const double x = unit(rng) * (256 - w), y = unit(rng) * (256 - h);
      gts.push_back(make_gt(quarter(x), quarter(y), quarter(x + w), quarter(y + h), int(unit(rng) * 5)));
      if (gts.back().box.x2 <= gts.back().box.x1) gts.back().box.x2 += 0.25f;
      if (gts.back().box.y2 <= gts.back().box.y1) gts.back().box.y2 += 0.25f;
      if (i > 0 && unit(rng) < 0.1) gts.push_back(gts[std::size_t(i) - 1]);  // duplicates tie on area
    }
    const auto targets = assign_targets(gts, levels);
    const auto winners = reference_winners(gts, levels);

    std::vector<int> reference_count(gts.size(), 0), count(gts.size(), 0);
    for (auto w : winners)
      if (w >= 0) ++reference_count[std::size_t(w)];
    for (const auto& t : targets)
      if (t.gt_index >= 0) ++count[std::size_t(t.gt_index)];
    for (std::size_t g = 0; g < gts.size(); ++g) {
      INFO("image " << image << " box " << g);
      CHECK(count[g] >= 1);
      if (reference_count[g] == 0) {
        CHECK(count[g] == 1);  // a box the rules miss gets exactly one point
        ++fallbacks;
      }
    }
    auto area_of = [&](int g) { return double(area(gts[std::size_t(g)].box)); };
    for (std::size_t p = 0; p < targets.size(); ++p) {
      const point_target& t = targets[p];
      INFO("image " << image << " point " << p);
      if (t.gt_index >= 0 && reference_count[std::size_t(t.gt_index)] == 0) {
        // A fallback point: never taken from a smaller box, distances valid.
        if (winners[p] >= 0) {
          CHECK(area_of(winners[p]) >= area_of(t.gt_index));
        }
        CHECK(std::min({t.l, t.t, t.r, t.b}) > 0);
        CHECK(t.class_id == gts[std::size_t(t.gt_index)].class_id);
        continue;
      }
      REQUIRE(t.gt_index == winners[p]);
      if (t.gt_index >= 0) check_exact_distances(t, gts[std::size_t(t.gt_index)], levels[pts[p].level], pts[p]);
      else CHECK(t.class_id == -1);
    }
  }
  CHECK(fallbacks > 0);  // the sizes above do reach the fallback
}

TEST_CASE("fcos targets: invalid boxes and levels are errors naming them", "[detection][targets][errors]") {
  const auto levels = pyramid_levels(128, strides);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<gt_box> gts{make_gt(0, 0, 10, 10), make_gt(5, 5, 20, 20)};
  auto call = [&] { (void)assign_targets(gts, levels); };
  SECTION("non-finite") {
    gts[1].box.y2 = nan;
    REQUIRE_THROWS_WITH(call(), Contains("box 1") && Contains("non-finite"));
    gts[1].box.y2 = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(call(), Contains("box 1") && Contains("non-finite"));
  }
  SECTION("zero area") {
    gts[1].box.x2 = gts[1].box.x1;
    REQUIRE_THROWS_WITH(call(), Contains("box 1") && Contains("no area") && Contains("positive width and height"));
  }
  SECTION("inverted") {
    gts[0].box = xyxy<float>{0, 10, 10, 0};
    REQUIRE_THROWS_WITH(call(), Contains("box 0") && Contains("no area"));
  }
  SECTION("negative class") {
    gts[0].class_id = -1;
    REQUIRE_THROWS_WITH(call(), Contains("box 0") && Contains("class -1"));
  }
  SECTION("no levels") {
    REQUIRE_THROWS_WITH(assign_targets(gts, std::span<const level_geometry>{}), Contains("no pyramid levels"));
  }
  SECTION("levels out of order") {
    auto swapped = levels;
    std::swap(swapped[0], swapped[1]);
    REQUIRE_THROWS_WITH(assign_targets(gts, swapped), Contains("fine to coarse"));
  }
  SECTION("no boxes is fine: all background") {
    const auto targets = assign_targets(std::span<const gt_box>{}, levels);
    CHECK(std::all_of(targets.begin(), targets.end(), [](const point_target& t) { return t.class_id == -1; }));
  }
}

namespace {

long double reference_focal(long double x, long double t, long double alpha, long double gamma) {
  const long double p = 1 / (1 + std::exp(-x));
  const long double ce = -(t * std::log(p) + (1 - t) * std::log(1 - p));
  const long double pt = p * t + (1 - p) * (1 - t);
  const long double at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
  return at * ce * std::pow(1 - pt, gamma);
}

double focal_one(float x, float t, float alpha, float gamma, float scale = 1, float* grad = nullptr) {
  float g = 0;
  const double loss = sigmoid_focal_loss(std::span<const float>(&x, 1), std::span<const float>(&t, 1), alpha, gamma, scale,
                                         std::span<float>(&g, 1));
  if (grad) *grad = g;
  return loss;
}

double bce_one(float x, float t, float scale = 1, float* grad = nullptr) {
  float g = 0;
  const double loss =
      binary_cross_entropy_with_logits(std::span<const float>(&x, 1), std::span<const float>(&t, 1), scale, std::span<float>(&g, 1));
  if (grad) *grad = g;
  return loss;
}

// Logits on a 2^-12 grid in [-8, 8], so that x +- 2^-10 are exact floats.
float grid_logit(std::mt19937& rng) {
  std::uniform_int_distribution<int> k(-8 * 4096, 8 * 4096);
  return float(k(rng)) / 4096.0f;
}

constexpr float fd_step = 1.0f / 1024;

}  // namespace

TEST_CASE("focal loss: values against the formula", "[detection][focal]") {
  // x = 0, t = 1: p = 1/2, ce = ln 2, (1 - p_t)^2 = 1/4, alpha_t = 1/4.
  float g = 0;
  CHECK(focal_one(0, 1, 0.25f, 2, 1, &g) == Approx(std::log(2.0) / 16).epsilon(1e-12));
  // d/dx = alpha_t [(p - t)(1 - p_t)^2 + ce * 2 (1 - p_t)(1 - 2t) p (1 - p)] = 1/4 [-1/8 - ln2 / 4]
  CHECK(g == Approx(-0.03125 - 0.0625 * std::log(2.0)).epsilon(1e-6));

  const std::array<std::array<float, 2>, 6> pairs{{{0, 1}, {2, 0}, {-1.5f, 1}, {0.7f, 0.3f}, {-3, 0}, {5, 1}}};
  for (const float alpha : {0.25f, 0.75f, -1.0f})
    for (const float gamma : {0.0f, 0.5f, 1.0f, 2.0f})
      for (const auto& [x, t] : pairs) {
        INFO("x " << x << " t " << t << " alpha " << alpha << " gamma " << gamma);
        CHECK(focal_one(x, t, alpha, gamma, 0.5f) ==
              Approx(double(0.5L * reference_focal(x, t, alpha, gamma))).epsilon(1e-12));
      }
  // Sums over the elements.
  const std::vector<float> x{0.3f, -2, 4}, t{1, 0, 0.5f};
  std::vector<float> grad(3);
  const double sum = sigmoid_focal_loss(x, t, 0.25f, 2, 2, grad);
  CHECK(sum == Approx(double(2 * (reference_focal(0.3f, 1, 0.25, 2) + reference_focal(-2, 0, 0.25, 2) +
                                  reference_focal(4, 0.5f, 0.25, 2))))
                   .epsilon(1e-12));
}

TEST_CASE("focal loss: gradient equals central finite differences", "[detection][focal]") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> target_kind(0, 3);
  std::uniform_real_distribution<float> soft(0, 1);
  const float scale = 0.37f;
  for (const float gamma : {0.0f, 0.5f, 1.0f, 2.0f})
    for (const float alpha : {-1.0f, 0.25f, 0.75f}) {
      std::vector<float> x(60), t(60), grad(60);
      for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = grid_logit(rng);
        const int kind = target_kind(rng);
        t[i] = kind == 0 ? 0.0f : kind == 1 ? 1.0f : soft(rng);
      }
      (void)sigmoid_focal_loss(x, t, alpha, gamma, scale, grad);
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double fd =
            (focal_one(x[i] + fd_step, t[i], alpha, gamma, scale) - focal_one(x[i] - fd_step, t[i], alpha, gamma, scale)) /
            (2.0 * fd_step);
        INFO("x " << x[i] << " t " << t[i] << " alpha " << alpha << " gamma " << gamma);
        CHECK(std::abs(grad[i] - fd) <= 1e-6 + 1e-5 * std::abs(fd));
      }
    }
}

TEST_CASE("focal loss: gamma 0 is (alpha-weighted) binary cross-entropy", "[detection][focal]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> soft(0, 1);
  std::vector<float> x(40), t(40), g_focal(40), g_bce(40);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = grid_logit(rng), t[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : soft(rng);
  const double bce = binary_cross_entropy_with_logits(x, t, 1.5f, g_bce);

  CHECK(sigmoid_focal_loss(x, t, -1, 0, 1.5f, g_focal) == Approx(bce).epsilon(1e-12));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(g_focal[i] == Approx(g_bce[i]).epsilon(1e-6).margin(1e-9));

  // alpha 1/2 weighs both sides by 1/2, soft targets included.
  CHECK(sigmoid_focal_loss(x, t, 0.5f, 0, 1.5f, g_focal) == Approx(0.5 * bce).epsilon(1e-12));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(g_focal[i] == Approx(0.5 * g_bce[i]).epsilon(1e-6).margin(1e-9));
}

TEST_CASE("focal loss: stable at logits of +-100 and beyond, with the right limits", "[detection][focal]") {
  for (const float gamma : {0.0f, 0.5f, 1.0f, 2.0f})
    for (const float big : {100.0f, 1e4f}) {
      INFO("gamma " << gamma << " logit " << big);
      float g = 0;
      const double alpha = 0.25;
      // Confidently right: no loss, no gradient.
      double v = focal_one(big, 1, 0.25f, gamma, 1, &g);
      CHECK(std::isfinite(v));
      CHECK(v == Approx(0).margin(1e-30));
      CHECK(g == Approx(0).margin(1e-30));
      v = focal_one(-big, 0, 0.25f, gamma, 1, &g);
      CHECK(v == Approx(0).margin(1e-30));
      CHECK(g == Approx(0).margin(1e-30));
      // Confidently wrong: ce = |x|, (1 - p_t)^gamma = 1, gradient +-alpha_t.
      v = focal_one(big, 0, 0.25f, gamma, 1, &g);
      CHECK(v == Approx((1 - alpha) * big).epsilon(1e-12));
      CHECK(g == Approx(1 - alpha).epsilon(1e-6));
      v = focal_one(-big, 1, 0.25f, gamma, 1, &g);
      CHECK(v == Approx(alpha * big).epsilon(1e-12));
      CHECK(g == Approx(-alpha).epsilon(1e-6));
      // Soft target: ce = (1 - t) |x|, 1 - p_t = 1 - t.
      v = focal_one(big, 0.3f, 0.25f, gamma, 1, &g);
      const double at = 0.25 * 0.3 + 0.75 * 0.7;
      CHECK(v == Approx(at * (1 - double(0.3f)) * big * std::pow(1 - double(0.3f), double(gamma))).epsilon(1e-6));
      CHECK(std::isfinite(g));
    }
  // An infinite logit meets a hard target at the limit.
  float g = 1;
  CHECK(focal_one(std::numeric_limits<float>::infinity(), 1, 0.25f, 0.5f, 1, &g) == 0);
  CHECK(g == 0);
}

TEST_CASE("focal loss: the class-map form equals the loss on the materialised targets", "[detection][focal]") {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> cls(-1, 3);
  const int classes = 4, points = 37;
  std::vector<float> logits(std::size_t(classes * points)), dense(logits.size()), g1(logits.size()), g2(logits.size());
  std::vector<point_target> targets(static_cast<std::size_t>(points));
  for (auto& v : logits) v = grid_logit(rng);
  for (auto& t : targets) t.class_id = cls(rng);
  for (int c = 0; c < classes; ++c)
    for (int p = 0; p < points; ++p) dense[std::size_t(c * points + p)] = targets[std::size_t(p)].class_id == c ? 1.0f : 0.0f;
  const double a = focal_loss_for_classes(logits.data(), classes, points, targets, 0.25f, 2, 0.1f, g1.data());
  const double b = sigmoid_focal_loss(logits, dense, 0.25f, 2, 0.1f, g2);
  CHECK(a == b);
  CHECK(g1 == g2);

  targets[5].class_id = 4;
  REQUIRE_THROWS_WITH(focal_loss_for_classes(logits.data(), classes, points, targets, 0.25f, 2, 1, g1.data()),
                      Contains("point 5 has class 4"));
  REQUIRE_THROWS_WITH(focal_loss_for_classes(logits.data(), classes, points + 1, targets, 0.25f, 2, 1, g1.data()),
                      Contains("38 points and 37 point targets"));
}

TEST_CASE("binary cross-entropy: values, gradient, weights, stability", "[detection][bce]") {
  float g = 0;
  CHECK(bce_one(0, 0.3f, 1, &g) == Approx(std::log(2.0)).epsilon(1e-12));
  CHECK(g == Approx(0.5 - 0.3).epsilon(1e-6));
  CHECK(bce_one(2, 1, 2) == Approx(2 * std::log1p(std::exp(-2.0))).epsilon(1e-12));
  for (const float x : {-4.5f, -0.25f, 1.0f, 3.0f})
    for (const float t : {0.0f, 0.2f, 0.9f, 1.0f}) {
      const long double p = 1 / (1 + std::exp(-(long double)x));
      const long double ref = -(t * std::log(p) + (1 - (long double)t) * std::log(1 - p));
      CHECK(bce_one(x, t) == Approx(double(ref)).epsilon(1e-12));
    }

  std::mt19937 rng(9);
  std::uniform_real_distribution<float> unit(0, 1);
  std::vector<float> x(50), t(50), w(50), grad(50);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = grid_logit(rng), t[i] = unit(rng), w[i] = i % 7 == 0 ? 0.0f : 2 * unit(rng);
  (void)binary_cross_entropy_with_logits(x, t, w, 0.8f, grad);
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto f = [&](float xi) { return double(w[i]) * bce_one(xi, t[i], 0.8f); };
    const double fd = (f(x[i] + fd_step) - f(x[i] - fd_step)) / (2.0 * fd_step);
    INFO("x " << x[i] << " t " << t[i] << " w " << w[i]);
    CHECK(std::abs(grad[i] - fd) <= 1e-6 + 1e-5 * std::abs(fd));
    if (w[i] == 0) CHECK(grad[i] == 0);
  }

  CHECK(bce_one(100, 1, 1, &g) == Approx(0).margin(1e-30));
  CHECK(g == Approx(0).margin(1e-30));
  CHECK(bce_one(100, 0, 1, &g) == Approx(100).epsilon(1e-12));
  CHECK(g == 1.0f);
  CHECK(bce_one(-100, 1, 1, &g) == Approx(100).epsilon(1e-12));
  CHECK(g == -1.0f);
  CHECK(bce_one(-1e4f, 0.25f, 1, &g) == Approx(0.25 * 1e4).epsilon(1e-12));
  CHECK(g == Approx(-0.25));
}

TEST_CASE("losses: mismatched lengths and bad parameters are errors", "[detection][focal][bce][errors]") {
  std::vector<float> x(3, 0.0f), t(2, 0.0f), g(3), t3{0, 1.5f, 0}, w(2, 1.0f);
  REQUIRE_THROWS_WITH(sigmoid_focal_loss(x, t, 0.25f, 2, 1, g), Contains("3 logits, 2 targets and 3 gradient entries"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t, 1, g), Contains("3 logits, 2 targets"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t3, w, 1, g), Contains("2 weights for 3 logits"));
  REQUIRE_THROWS_WITH(sigmoid_focal_loss(x, t3, 0.25f, 2, 1, g), Contains("target 1 is 1.5"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t3, 1, g), Contains("target 1 is 1.5"));
  const std::vector<float> t_ok(3, 0.0f);
  REQUIRE_THROWS_WITH(sigmoid_focal_loss(x, t_ok, 2, 2, 1, g), Contains("alpha 2"));
  REQUIRE_THROWS_WITH(sigmoid_focal_loss(x, t_ok, 0.25f, -1, 1, g), Contains("gamma -1"));
  const std::vector<float> w_bad{1, -1, 1};
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t_ok, w_bad, 1, g), Contains("weight 1 is -1"));
}

namespace {

// Head outputs of a 64-px input (levels 8x8, 4x4, 2x2), every score far below 0.05 until set.
struct fake_head {
  static constexpr int classes = 3;
  std::vector<level_geometry> levels = pyramid_levels(64, strides);
  std::vector<std::vector<float>> cls, dist, ctr;
  fake_head() {
    for (const auto& lv : levels) {
      const std::size_t hw = std::size_t(lv.height * lv.width);
      cls.emplace_back(classes * hw, -10.0f);  // sqrt(sigmoid(-10) * 1/2) = 0.0048
      dist.emplace_back(4 * hw, 1.0f);
      ctr.emplace_back(hw, 0.0f);
    }
  }
  void set(std::size_t level, int x, int y, int c, float logit, float centerness_logit, std::array<float, 4> ltrb) {
    const std::size_t hw = std::size_t(levels[level].height * levels[level].width);
    const std::size_t p = std::size_t(y * levels[level].width + x);
    cls[level][std::size_t(c) * hw + p] = logit;
    ctr[level][p] = centerness_logit;
    for (std::size_t k = 0; k < 4; ++k) dist[level][k * hw + p] = ltrb[k];
  }
  std::vector<level_outputs> outputs() const {
    std::vector<level_outputs> out;
    for (std::size_t l = 0; l < levels.size(); ++l) {
      level_outputs o;
      o.class_logits = cls[l].data();
      o.distances = dist[l].data();
      o.centerness_logits = ctr[l].data();
      out.push_back(o);
    }
    return out;
  }
  std::vector<scored_box> decode(const decode_options& o) const { return decode_detections(outputs(), levels, classes, o); }
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

void check_box(const scored_box& d, float x1, float y1, float x2, float y2, int class_id) {
  CHECK(d.box.x1 == x1);
  CHECK(d.box.y1 == y1);
  CHECK(d.box.x2 == x2);
  CHECK(d.box.y2 == y2);
  CHECK(d.class_id == class_id);
}

fake_head example_head() {
  fake_head h;
  h.set(0, 3, 2, 1, 3, 2, {10, 6, 14, 20});        // A: point (28, 20) -> (18, 14, 42, 40), class 1
  h.set(1, 1, 1, 1, 1, 0, {6, 10, 18, 16});        // B: point (24, 24) -> the same box, class 1, lower score
  h.set(1, 2, 1, 2, 2, 1, {20, 10, 2, 16});        // C: point (40, 24) -> (20, 14, 42, 40), class 2
  h.set(2, 1, 1, 0, 0.5f, 0, {100, -3, 100, 1000});  // D: point (48, 48), clipped; t < 0 counts as 0
  return h;
}

}  // namespace

TEST_CASE("decode: boxes and scores from hand-made outputs, then class-wise NMS", "[detection][decode]") {
  const fake_head h = example_head();
  const auto dets = h.decode(decode_options{});
  REQUIRE(dets.size() == 3);  // B is suppressed by A (same class, same box)
  check_box(dets[0], 18, 14, 42, 40, 1);
  CHECK(dets[0].score == Approx(std::sqrt(sigmoid(3) * sigmoid(2))).epsilon(1e-6));
  check_box(dets[1], 20, 14, 42, 40, 2);  // overlaps A, another class: kept
  CHECK(dets[1].score == Approx(std::sqrt(sigmoid(2) * sigmoid(1))).epsilon(1e-6));
  check_box(dets[2], 0, 48, 64, 64, 0);
  CHECK(dets[2].score == Approx(std::sqrt(sigmoid(0.5) * 0.5)).epsilon(1e-6));

  SECTION("without suppression the duplicate shows, in score order") {
    decode_options o;
    o.nms.iou_threshold = 1.0f;
    const auto all = h.decode(o);
    REQUIRE(all.size() == 4);
    check_box(all[2], 18, 14, 42, 40, 1);
    CHECK(all[2].score == Approx(std::sqrt(sigmoid(1) * 0.5)).epsilon(1e-6));
    SECTION("top-k per level keeps the best of level 1 only") {
      o.top_k_per_level = 1;
      const auto top = h.decode(o);
      REQUIRE(top.size() == 3);
      check_box(top[1], 20, 14, 42, 40, 2);
      check_box(top[2], 0, 48, 64, 64, 0);
    }
  }
  SECTION("the score threshold: >= keeps, either threshold applies") {
    decode_options o;
    o.score_threshold = dets[2].score;
    CHECK(h.decode(o).size() == 3);
    o.score_threshold = std::nextafter(dets[2].score, 1.0f);
    CHECK(h.decode(o).size() == 2);
    o.score_threshold = 0.0f;
    o.nms.score_threshold = 0.85f;
    const auto high = h.decode(o);
    REQUIRE(high.size() == 1);
    check_box(high[0], 18, 14, 42, 40, 1);
    o.nms.score_threshold = -std::numeric_limits<float>::infinity();
    o.score_threshold = 0.01f;  // the background (0.0048) still out
    CHECK(h.decode(o).size() == 3);
  }
  SECTION("max detections") {
    decode_options o;
    o.nms.max_detections = 2;
    CHECK(h.decode(o).size() == 2);
  }
}

TEST_CASE("decode: a box of assign_targets' distances decodes back to the ground truth", "[detection][decode]") {
  fake_head h;
  const std::vector<gt_box> gts{make_gt(12, 20, 44, 50, 2)};
  const auto targets = assign_targets(gts, h.levels);
  const auto pos = positives_of(targets, 0);
  REQUIRE(!pos.empty());
  const std::size_t p = pos.front();  // on level 0 (size 16 < 64)
  REQUIRE(p < 64);
  const point_target& t = targets[p];
  h.set(0, int(p % 8), int(p / 8), 2, 4, 4, {t.l, t.t, t.r, t.b});
  const auto dets = h.decode(decode_options{});
  REQUIRE(dets.size() == 1);
  check_box(dets[0], 12, 20, 44, 50, 2);
}

TEST_CASE("decode: invalid outputs and options are errors", "[detection][decode][errors]") {
  fake_head h = example_head();
  auto outputs = h.outputs();
  const decode_options defaults;
  auto two_levels = [&] { (void)decode_detections(std::span(outputs).first(2), h.levels, 3, defaults); };
  REQUIRE_THROWS_WITH(two_levels(), Contains("outputs for 2 levels and 3 level geometries"));
  REQUIRE_THROWS_WITH(decode_detections(outputs, h.levels, 0, defaults), Contains("0 classes"));
  decode_options o;
  o.top_k_per_level = 0;
  REQUIRE_THROWS_WITH(decode_detections(outputs, h.levels, 3, o), Contains("top_k_per_level 0"));
  o = decode_options{};
  o.score_threshold = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(decode_detections(outputs, h.levels, 3, o), Contains("NaN"));

  h.cls[1][5] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(h.decode(defaults), Contains("level 1 point (x 1, y 1) has a NaN logit for class 0"));
  h = example_head();
  h.dist[0][2 * 64 + 2 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();  // A's r
  REQUIRE_THROWS_WITH(h.decode(defaults), Contains("level 0 point (x 3, y 2) has a NaN distance"));
  outputs = h.outputs();
  outputs[2].distances = nullptr;
  REQUIRE_THROWS_WITH(decode_detections(outputs, h.levels, 3, defaults), Contains("level 2 has a null output"));
}

// ---- the CenterNet-style head (centernet.hpp) ----

TEST_CASE("centernet targets: a Gaussian peak of 1 at the centre cell, the box regressed there", "[detection][centernet]") {
  // A 32 x 16 box centred at (52, 36) on a 10 x 8 map of stride 8: centre cell (6, 4).
  const std::vector<gt_box> gts{make_gt(36, 28, 68, 44, 1)};
  centernet_options o;
  const auto t = make_centernet_targets(gts, 2, 8, 10, 8, o);
  REQUIRE(t.heatmap.size() == 2u * 8 * 10);
  auto at = [&](int c, int x, int y) { return t.heatmap[std::size_t(c * 80 + y * 10 + x)]; };
  CHECK(at(1, 6, 4) == 1.0f);
  const double sx = 0.54 * 4 / 6, sy = std::max(0.1, 0.54 * 2 / 6);
  CHECK(at(1, 7, 4) == Approx(std::exp(-1 / (2 * sx * sx))).margin(1e-7));
  CHECK(at(1, 6, 5) == Approx(std::exp(-1 / (2 * sy * sy))).margin(1e-7));
  CHECK(at(1, 5, 3) == Approx(std::exp(-1 / (2 * sx * sx) - 1 / (2 * sy * sy))).margin(1e-7));
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 10; ++x) CHECK(at(0, x, y) == 0.0f);  // the other class sees nothing
  REQUIRE(t.objects.size() == 1);
  CHECK(t.objects[0].cell_x == 6);
  CHECK(t.objects[0].cell_y == 4);
  CHECK(t.objects[0].class_id == 1);
}

TEST_CASE("centernet targets: boxes sharing a centre cell keep both peaks; the smaller is regressed", "[detection][centernet]") {
  const std::vector<gt_box> gts{make_gt(0, 0, 40, 40, 0), make_gt(14, 14, 26, 26, 1), make_gt(100, 100, 128, 130, 0)};
  const auto t = make_centernet_targets(gts, 2, 16, 16, 8);
  CHECK(t.heatmap[std::size_t(0 * 256 + 2 * 16 + 2)] == 1.0f);
  CHECK(t.heatmap[std::size_t(1 * 256 + 2 * 16 + 2)] == 1.0f);
  REQUIRE(t.objects.size() == 2);
  CHECK(t.objects[0].class_id == 1);  // the 12 x 12 box took the cell from the 40 x 40 one
  CHECK(t.objects[0].box.x1 == 14.0f);
  CHECK(t.objects[1].cell_x == 14);  // centre (114, 115) / 8
  // A centre on the map's far edge (128 / 8 = 16) belongs to the last cell.
  const auto edge = make_centernet_targets(std::vector<gt_box>{make_gt(120, 120, 136, 136)}, 1, 16, 16, 8);
  CHECK(edge.objects[0].cell_x == 15);
  CHECK(edge.objects[0].cell_y == 15);
  CHECK_THROWS_WITH(make_centernet_targets(std::vector<gt_box>{make_gt(5, 5, 5, 9)}, 1, 4, 4, 8), Contains("box 0"));
  CHECK_THROWS_WITH(make_centernet_targets(std::vector<gt_box>{make_gt(0, 0, 9, 9, 3)}, 2, 4, 4, 8), Contains("class is not in"));
}

TEST_CASE("centernet loss: the heatmap's gradient equals central finite differences", "[detection][centernet]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> logit(-5, 5), soft(0, 0.99f);
  const std::size_t n = 40;
  std::vector<float> x(n), t(n), grad(n), scratch(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = logit(rng);
    t[i] = i % 4 == 0 ? 1.0f : i % 4 == 1 ? 0.0f : soft(rng);
  }
  const float scale = 0.25f;
  const double loss = centernet_heatmap_loss(x.data(), t, 2, 4, scale, grad.data());
  // The formula, term by term, in long double.
  long double expected = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const long double p = 1 / (1 + std::exp(-(long double)x[i]));
    expected += t[i] == 1.0f ? -std::pow(1 - p, 2.0L) * std::log(p) : -std::pow(1 - (long double)t[i], 4.0L) * p * p * std::log(1 - p);
  }
  CHECK(loss == Approx(double(expected * scale)).epsilon(1e-9));
  const float h = 1e-2f;
  for (std::size_t i = 0; i < n; ++i) {
    auto at = [&](float v) {
      std::vector<float> y = x;
      y[i] = v;
      return centernet_heatmap_loss(y.data(), t, 2, 4, scale, scratch.data());
    };
    const double fd = (at(x[i] + h) - at(x[i] - h)) / (2.0 * double(h));
    INFO("x " << x[i] << " t " << t[i]);
    CHECK(std::abs(grad[i] - fd) <= 1e-5 + 1e-3 * std::abs(fd));
  }
}

TEST_CASE("centernet loss: the box's gradient equals central finite differences; a perfect box costs 0", "[detection][centernet]") {
  const std::vector<gt_box> gts{make_gt(10, 12, 42, 30), make_gt(60, 40, 75, 70)};
  const auto t = make_centernet_targets(gts, 1, 12, 12, 8);
  REQUIRE(t.objects.size() == 2);
  const std::size_t hw = 144;
  std::vector<float> box(4 * hw, 0.0f), grad(4 * hw), scratch(4 * hw);
  // Predictions near, not at, the targets (offsets, log sizes).
  const float guesses[2][4] = {{0.2f, -0.3f, 1.2f, 0.7f}, {-0.4f, 0.1f, 0.5f, 1.6f}};
  for (std::size_t k = 0; k < 2; ++k) {
    const std::size_t p = std::size_t(t.objects[k].cell_y * 12 + t.objects[k].cell_x);
    for (std::size_t c = 0; c < 4; ++c) box[c * hw + p] = guesses[k][c];
  }
  (void)centernet_box_loss(box.data(), t, 0.5f, 8.0f, grad.data());
  const float h = 1e-3f;
  for (std::size_t i = 0; i < box.size(); ++i) {
    auto at = [&](float v) {
      std::vector<float> y = box;
      y[i] = v;
      return centernet_box_loss(y.data(), t, 0.5f, 8.0f, scratch.data());
    };
    const double fd = (at(box[i] + h) - at(box[i] - h)) / (2.0 * double(h));
    INFO("output " << i / hw << " at cell " << i % hw);
    CHECK(std::abs(grad[i] - fd) <= 2e-4 + 2e-3 * std::abs(fd));
  }
  // The exact outputs of the first box: no loss, and the decoder gives the box back.
  std::vector<float> exact(4 * hw, 0.0f);
  const auto& o = t.objects[0];
  const std::size_t p = std::size_t(o.cell_y * 12 + o.cell_x);
  exact[p] = 26.0f / 8 - (float(o.cell_x) + 0.5f);
  exact[hw + p] = 21.0f / 8 - (float(o.cell_y) + 0.5f);
  exact[2 * hw + p] = std::log(32.0f / 8);
  exact[3 * hw + p] = std::log(18.0f / 8);
  centernet_targets first = t;
  first.objects.resize(1);
  CHECK(centernet_box_loss(exact.data(), first, 1.0f, 8.0f, grad.data()) == Approx(0.0).margin(1e-6));
  std::vector<float> heat(hw, -9.0f);
  heat[p] = 3.0f;
  const auto found = decode_centernet(heat.data(), exact.data(), 1, 12, 12, 8, {});
  REQUIRE(found.size() == 1);
  CHECK(found[0].box.x1 == Approx(10).margin(1e-4));
  CHECK(found[0].box.y1 == Approx(12).margin(1e-4));
  CHECK(found[0].box.x2 == Approx(42).margin(1e-4));
  CHECK(found[0].box.y2 == Approx(30).margin(1e-4));
}

TEST_CASE("centernet decode: peaks of each class, best first, limited; neighbours of a peak are not peaks",
          "[detection][centernet][decode]") {
  const int w = 6, h = 5;
  const std::size_t hw = std::size_t(w * h);
  std::vector<float> heat(2 * hw, -10.0f), box(4 * hw, 0.0f);
  auto set = [&](int c, int x, int y, float logit) { heat[std::size_t(c) * hw + std::size_t(y * w + x)] = logit; };
  set(0, 1, 1, 2.0f);
  set(0, 2, 1, 1.0f);   // beside a higher cell: not a peak
  set(0, 4, 3, 0.5f);   // a peak of its own
  set(1, 2, 1, 1.5f);   // the same cell as class 0's non-peak: a peak of class 1
  set(1, 5, 4, -4.0f);  // a peak under the threshold (sigmoid 0.018)
  const auto found = decode_centernet(heat.data(), box.data(), 2, h, w, 8, {});
  REQUIRE(found.size() == 3);
  CHECK(found[0].class_id == 0);
  CHECK(found[0].score == Approx(1 / (1 + std::exp(-2.0))));
  CHECK(found[1].class_id == 1);
  CHECK(found[2].class_id == 0);
  // Zero outputs: an 8 x 8 box centred on the cell.
  check_box(found[0], 8, 8, 16, 16, 0);
  centernet_decode_options two;
  two.max_detections = 2;
  CHECK(decode_centernet(heat.data(), box.data(), 2, h, w, 8, two).size() == 2);
  heat[3] = std::nanf("");
  CHECK_THROWS_WITH(decode_centernet(heat.data(), box.data(), 2, h, w, 8, {}), Contains("NaN heatmap"));
}
