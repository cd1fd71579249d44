#pragma once
// Training targets of an FCOS-style anchor-free detector (Tian et al., ICCV 2019, and the TPAMI 2020
// version's centre sampling): for every point of every pyramid level, which ground-truth box (if any)
// it must detect, the distances from the point to that box's four sides, and its centerness.
//
// A point of cell (x, y) on a level of stride s sits at ((x + 0.5) s, (y + 0.5) s) in input pixels.
// It is a candidate for a ground-truth box when
//   - it lies strictly inside the box,
//   - it lies strictly inside the centre region: the box centre +- center_radius * s, clipped to the
//     box (centre sampling: points near the border see mostly background, so they make poor
//     positives),
//   - max(l, t, r, b) is in the level's [size_min, size_max) (each level learns one range of sizes).
// A point that is a candidate for several boxes takes the one of smallest area (ties: lower index):
// the larger box keeps the other points it has, the smaller one may have no others.
//
// Those rules leave some boxes without any point: a box a few pixels wide between the point
// centres, or a thin box whose centre region holds points of the wrong size range. Every box must
// train the detector, so each such box gets exactly one point (the fallback), chosen in this order:
//   1. a point strictly inside the box, on the level whose range holds the box's size
//      (max(w, h) / 2, the largest distance at its centre), else on the nearest other level (finer
//      first): the one nearest the box centre. Its distances are exact.
//   2. if no level has a point inside the box: the point of the finest level nearest the box
//      centre, with each distance clamped to at least fallback_min_distance. The target box
//      (px - l, py - t, px + r, py + b) is then the ground truth grown just enough to hold the
//      point: still a valid box, the closest one the point can regress (a regressed box always
//      holds its own point).
// A fallback never takes a point from a smaller box (the ambiguity rule), nor a box's last point;
// boxes without a point are served smallest first. Equal distances go to the lower row, then column.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "box_ops.hpp"

namespace tailor::detection {

// One pyramid level: its stride, its grid, and the sizes its points regress: a point regresses
// boxes whose max(l, t, r, b) is in [size_min, size_max).
struct level_geometry {
  int stride = 8, height = 0, width = 0;
  float size_min = 0, size_max = 0;
};

struct point_target {
  int class_id = -1;                 // -1: background
  float l = 0, t = 0, r = 0, b = 0;  // pixels from the point to the box's left, top, right, bottom sides
  float centerness = 0;              // centerness_of(l, t, r, b); 0 for background
  int gt_index = -1;                 // the box it detects, -1 for background
};

struct fcos_target_options {
  float center_radius = 1.5f;  // centre sampling radius, in strides of the level
};

// The least distance a fallback point outside its box regresses (rule 2 above), in pixels.
inline constexpr float fallback_min_distance = 0.5f;

// Where the point of cell `index` (a column or a row) lies along that axis, in input pixels.
constexpr float cell_center(int index, int stride) noexcept {
  return (static_cast<float>(index) + 0.5f) * static_cast<float>(stride);
}

// FCOS's centerness: 1 at the box centre, falling to 0 at its border, so that points near the
// border (poor boxes) can be down-weighted at inference. 0 unless all four distances are positive.
inline float centerness_of(float l, float t, float r, float b) noexcept {
  if (!(l > 0 && t > 0 && r > 0 && b > 0)) return 0.0f;
  const float horizontal = std::min(l, r) / std::max(l, r);
  const float vertical = std::min(t, b) / std::max(t, b);
  return std::sqrt(horizontal * vertical);
}

// The levels of a square input of side input_size at the given strides (increasing), with FCOS's
// size ranges: level i regresses up to 8 * stride_i, from where level i - 1 stops (the first from 0);
// the last level is unbounded. For strides 8, 16, 32: [0, 64), [64, 128), [128, inf).
inline std::vector<level_geometry> pyramid_levels(int input_size, std::span<const int> strides) {
  if (strides.empty())
    throw error(failure_code::invalid_argument, "pyramid_levels: no strides; give the strides of the levels, e.g. 8, 16, 32");
  if (input_size <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("pyramid_levels: input size {}; give a positive side in pixels", input_size));
  std::vector<level_geometry> levels;
  levels.reserve(strides.size());
  float lower = 0;
  for (std::size_t i = 0; i < strides.size(); ++i) {
    const int s = strides[i];
    if (s <= 0 || (i > 0 && s <= strides[i - 1]))
      throw error(failure_code::invalid_argument,
                  fmt::format("pyramid_levels: stride {} is {}; give positive strides, increasing from the finest level", i, s));
    if (input_size % s != 0)
      throw error(failure_code::invalid_argument,
                  fmt::format("pyramid_levels: input size {} is not a multiple of stride {}; give an input side that is a "
                              "multiple of the coarsest stride",
                              input_size, s));
    level_geometry g;
    g.stride = s;
    g.height = g.width = input_size / s;
    g.size_min = lower;
    g.size_max = i + 1 == strides.size() ? std::numeric_limits<float>::infinity() : 8.0f * static_cast<float>(s);
    lower = g.size_max;
    levels.push_back(g);
  }
  return levels;
}

namespace detail {

inline void check_levels(std::span<const level_geometry> levels, const char* who) {
  if (levels.empty())
    throw error(failure_code::invalid_argument,
                fmt::format("{}: no pyramid levels; give at least one (pyramid_levels makes them)", who));
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const level_geometry& g = levels[i];
    if (g.stride <= 0 || g.height <= 0 || g.width <= 0)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: level {} has stride {} and a {}x{} grid; give a positive stride and grid", who, i, g.stride,
                              g.width, g.height));
    if (i > 0 && g.stride <= levels[i - 1].stride)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: level {} has stride {} after stride {}; order the levels from fine to coarse", who, i,
                              g.stride, levels[i - 1].stride));
    if (!(g.size_min >= 0 && g.size_max > g.size_min))
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: level {} has the size range [{}, {}); give 0 <= size_min < size_max", who, i, g.size_min,
                              g.size_max));
  }
}

inline void check_gt_boxes(std::span<const gt_box> gts) {
  for (std::size_t i = 0; i < gts.size(); ++i) {
    const xyxy<float>& b = gts[i].box;
    if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2))
      throw error(failure_code::invalid_argument,
                  fmt::format("assign_targets: box {} (x1 {}, y1 {}, x2 {}, y2 {}) has a non-finite coordinate; give finite "
                              "pixel coordinates",
                              i, b.x1, b.y1, b.x2, b.y2));
    if (!(b.x2 > b.x1 && b.y2 > b.y1))
      throw error(failure_code::invalid_argument,
                  fmt::format("assign_targets: box {} (x1 {}, y1 {}, x2 {}, y2 {}) has no area; give boxes of positive width "
                              "and height (drop degenerate annotations)",
                              i, b.x1, b.y1, b.x2, b.y2));
    if (gts[i].class_id < 0)
      throw error(failure_code::invalid_argument,
                  fmt::format("assign_targets: box {} has class {}; give class ids from 0", i, gts[i].class_id));
  }
}

// The cells [first, last] of a row or column of `cells` whose centres may lie in (lo, hi): a superset,
// each candidate is checked exactly afterwards.
struct cell_range {
  int first = 0, last = -1;
};
inline cell_range cells_between(float lo, float hi, int stride, int cells) noexcept {
  const double s = stride;
  const double a = std::clamp(std::floor(double(lo) / s - 0.5), -1.0, double(cells));
  const double b = std::clamp(std::ceil(double(hi) / s - 0.5), -1.0, double(cells));
  return {std::max(0, static_cast<int>(a)), std::min(cells - 1, static_cast<int>(b))};
}

}  // namespace detail

// The targets of every point of every level (levels fine to coarse), level by level, row-major
// inside a level. Throws tailor::error (invalid_argument) for a non-finite box, a box without area,
// a negative class id (naming the box), no levels or malformed ones.
inline std::vector<point_target> assign_targets(std::span<const gt_box> gts, std::span<const level_geometry> levels,
                                                const fcos_target_options& options = {}) {
  detail::check_levels(levels, "assign_targets");
  detail::check_gt_boxes(gts);
  if (!(options.center_radius > 0) || !std::isfinite(options.center_radius))
    throw error(failure_code::invalid_argument,
                fmt::format("assign_targets: center_radius {}; give a positive radius in strides (FCOS uses 1.5)",
                            options.center_radius));

  std::vector<std::size_t> offsets(levels.size() + 1, 0);
  for (std::size_t i = 0; i < levels.size(); ++i)
    offsets[i + 1] = offsets[i] + std::size_t(levels[i].height) * std::size_t(levels[i].width);
  std::vector<point_target> out(offsets.back());
  std::vector<int> positives(gts.size(), 0);
  std::vector<float> areas(gts.size());
  for (std::size_t g = 0; g < gts.size(); ++g) areas[g] = area(gts[g].box);

  // Gt a wins a point from gt b: smaller area, ties to the lower index.
  auto wins = [&](std::size_t a, std::size_t b) { return areas[a] < areas[b] || (areas[a] == areas[b] && a < b); };
  auto give = [&](std::size_t p, std::size_t g, float l, float t, float r, float b) {
    point_target& pt = out[p];
    if (pt.gt_index >= 0) --positives[std::size_t(pt.gt_index)];
    pt.class_id = gts[g].class_id;
    pt.l = l, pt.t = t, pt.r = r, pt.b = b;
    pt.centerness = centerness_of(l, t, r, b);
    pt.gt_index = static_cast<int>(g);
    ++positives[g];
  };

  // The rules. Boxes go in index order and take a point only from a box they win, which is the
  // smallest-area rule with ties to the lower index.
  for (std::size_t g = 0; g < gts.size(); ++g) {
    const xyxy<float>& box = gts[g].box;
    const float cx = (box.x1 + box.x2) * 0.5f, cy = (box.y1 + box.y2) * 0.5f;
    for (std::size_t li = 0; li < levels.size(); ++li) {
      const level_geometry& lv = levels[li];
      const float reach = options.center_radius * static_cast<float>(lv.stride);
      const float rx1 = std::max(cx - reach, box.x1), rx2 = std::min(cx + reach, box.x2);
      const float ry1 = std::max(cy - reach, box.y1), ry2 = std::min(cy + reach, box.y2);
      const auto xs = detail::cells_between(rx1, rx2, lv.stride, lv.width);
      const auto ys = detail::cells_between(ry1, ry2, lv.stride, lv.height);
      for (int y = ys.first; y <= ys.last; ++y) {
        const float py = cell_center(y, lv.stride);
        if (!(py > ry1 && py < ry2)) continue;
        for (int x = xs.first; x <= xs.last; ++x) {
          const float px = cell_center(x, lv.stride);
          if (!(px > rx1 && px < rx2)) continue;
          const float l = px - box.x1, t = py - box.y1, r = box.x2 - px, b = box.y2 - py;
          if (!(std::min({l, t, r, b}) > 0)) continue;
          const float m = std::max({l, t, r, b});
          if (!(m >= lv.size_min && m < lv.size_max)) continue;
          const std::size_t p = offsets[li] + std::size_t(y) * std::size_t(lv.width) + std::size_t(x);
          if (out[p].gt_index >= 0 && !wins(g, std::size_t(out[p].gt_index))) continue;
          give(p, g, l, t, r, b);
        }
      }
    }
  }

  // The fallback for boxes left without a point, smallest first.
  std::vector<std::size_t> orphans;
  for (std::size_t g = 0; g < gts.size(); ++g)
    if (positives[g] == 0) orphans.push_back(g);
  std::sort(orphans.begin(), orphans.end(), wins);
  for (const std::size_t g : orphans) {
    if (positives[g] > 0) continue;
    const xyxy<float>& box = gts[g].box;
    const float cx = (box.x1 + box.x2) * 0.5f, cy = (box.y1 + box.y2) * 0.5f;
    auto free_for_g = [&](std::size_t p) {
      const int owner = out[p].gt_index;
      return owner < 0 || (positives[std::size_t(owner)] > 1 && wins(g, std::size_t(owner)));
    };
    // The free point nearest the centre among cells xs x ys of level li; false when there is none.
    struct choice {
      std::size_t point = 0;
      float px = 0, py = 0;
      double distance = std::numeric_limits<double>::infinity();
    };
    auto nearest = [&](std::size_t li, detail::cell_range xs, detail::cell_range ys, bool inside_only, choice& best) {
      const level_geometry& lv = levels[li];
      bool found = false;
      for (int y = ys.first; y <= ys.last; ++y) {
        const float py = cell_center(y, lv.stride);
        if (inside_only && !(py > box.y1 && py < box.y2)) continue;
        for (int x = xs.first; x <= xs.last; ++x) {
          const float px = cell_center(x, lv.stride);
          if (inside_only && !(px > box.x1 && px < box.x2)) continue;
          const std::size_t p = offsets[li] + std::size_t(y) * std::size_t(lv.width) + std::size_t(x);
          if (!free_for_g(p)) continue;
          const double dx = double(px) - cx, dy = double(py) - cy, d = dx * dx + dy * dy;
          if (d < best.distance) {  // strict: scanning row-major keeps the lower row, column on ties
            best.point = p, best.px = px, best.py = py, best.distance = d;
            found = true;
          }
        }
      }
      return found;
    };

    // 1. Inside the box: the level for its size, then the others by distance from it, finer first.
    const float size = std::max(box.x2 - box.x1, box.y2 - box.y1) * 0.5f;
    std::size_t home = 0;
    float home_gap = std::numeric_limits<float>::infinity();
    for (std::size_t li = 0; li < levels.size(); ++li) {
      const float gap = size < levels[li].size_min ? levels[li].size_min - size
                        : size >= levels[li].size_max ? size - levels[li].size_max
                                                      : 0.0f;
      if (gap < home_gap) home = li, home_gap = gap;
    }
    std::vector<std::size_t> by_rank(levels.size());
    for (std::size_t li = 0; li < levels.size(); ++li) by_rank[li] = li;
    std::stable_sort(by_rank.begin(), by_rank.end(), [&](std::size_t a, std::size_t b) {
      const auto da = a > home ? a - home : home - a, db = b > home ? b - home : home - b;
      return da < db;  // stable: the finer of two levels at equal distance first
    });
    bool assigned = false;
    for (const std::size_t li : by_rank) {
      const level_geometry& lv = levels[li];
      choice best;
      if (nearest(li, detail::cells_between(box.x1, box.x2, lv.stride, lv.width),
                  detail::cells_between(box.y1, box.y2, lv.stride, lv.height), true, best)) {
        give(best.point, g, best.px - box.x1, best.py - box.y1, box.x2 - best.px, box.y2 - best.py);
        assigned = true;
        break;
      }
    }
    // 2. No point inside: the nearest free point, finest level first, distances clamped.
    for (std::size_t li = 0; li < levels.size() && !assigned; ++li) {
      const level_geometry& lv = levels[li];
      choice best;
      if (nearest(li, {0, lv.width - 1}, {0, lv.height - 1}, false, best)) {
        const float m = fallback_min_distance;
        give(best.point, g, std::max(m, best.px - box.x1), std::max(m, best.py - box.y1), std::max(m, box.x2 - best.px),
             std::max(m, box.y2 - best.py));
        assigned = true;
      }
    }
    // Not assigned only when every point of every level is held by a smaller box or is some box's
    // last point: more boxes than points, which no image at a usable input size has.
  }
  return out;
}

}  // namespace tailor::detection
