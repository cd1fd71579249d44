#pragma once
// From one image's FCOS head outputs to its detections, as FCOS infers:
//   score = sqrt(sigmoid(class logit) * sigmoid(centerness logit))  (centerness demotes the poor
//           boxes that points near an object's border regress),
//   keep the scores >= the threshold, the top_k_per_level best of each level, decode each kept
//   (point, class) into the box (px - l, py - t, px + r, py + b) clipped to the input, then
//   class-wise non-maximum suppression (nms.hpp).
//
// One threshold: a box is kept when its score is >= both decode_options::score_threshold and
// nms.score_threshold. Both are applied before the top-k, so no top-k place goes to a box NMS would
// drop anyway.
// A negative distance counts as 0 (a box always holds its point, so it never inverts); an infinite
// one reaches the input's border. A NaN output of a kept point, or a NaN score, is an error: a
// diverged model, better reported than hidden.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "box_ops.hpp"
#include "fcos_targets.hpp"
#include "nms.hpp"

namespace tailor::detection {

struct decode_options {
  float score_threshold = 0.05f;  // scores below this are dropped before the top-k
  int top_k_per_level = 1000;     // the most (point, class) candidates each level passes to NMS
  nms_options nms;                // its max_detections caps the result
};

// One image's outputs on one level, NCHW with N = 1: class logits C x H x W, distances l, t, r, b
// in input pixels 4 x H x W, centerness logits 1 x H x W.
struct level_outputs {
  const float* class_logits = nullptr;
  const float* distances = nullptr;
  const float* centerness_logits = nullptr;
};

// The detections of one image, in NMS order (descending score; equal scores by level, then class,
// then point). Throws tailor::error (invalid_argument) for mismatched or null outputs, malformed
// levels, bad options, or a NaN among the outputs it uses.
inline std::vector<scored_box> decode_detections(std::span<const level_outputs> outputs,
                                                 std::span<const level_geometry> levels, int classes,
                                                 const decode_options& o) {
  constexpr const char* who = "decode_detections";
  detail::check_levels(levels, who);
  if (outputs.size() != levels.size())
    throw error(failure_code::invalid_argument,
                fmt::format("{}: outputs for {} levels and {} level geometries; give one of each per level", who,
                            outputs.size(), levels.size()));
  if (classes <= 0)
    throw error(failure_code::invalid_argument, fmt::format("{}: {} classes; give at least one", who, classes));
  if (std::isnan(o.score_threshold) || std::isnan(o.nms.score_threshold))
    throw error(failure_code::invalid_argument,
                fmt::format("{}: a score threshold is NaN; give numbers (FCOS uses 0.05)", who));
  if (o.top_k_per_level <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("{}: top_k_per_level {}; give at least 1 (FCOS uses 1000)", who, o.top_k_per_level));
  for (std::size_t li = 0; li < outputs.size(); ++li)
    if (!outputs[li].class_logits || !outputs[li].distances || !outputs[li].centerness_logits)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: level {} has a null output; give class logits, distances and centerness logits", who,
                              li));

  const float threshold = std::max(o.score_threshold, o.nms.score_threshold);
  auto sigmoid = [](float x) { return 1.0f / (1.0f + std::exp(-x)); };  // exp overflow gives 0, not NaN

  struct candidate {
    float score = 0;
    std::size_t index = 0;  // class * points + point, within the level
  };
  std::vector<scored_box> boxes;
  std::vector<candidate> found;
  std::vector<float> centerness;
  for (std::size_t li = 0; li < levels.size(); ++li) {
    const level_geometry& lv = levels[li];
    const level_outputs& out = outputs[li];
    const std::size_t hw = std::size_t(lv.height) * std::size_t(lv.width);
    auto where = [&](std::size_t p) {
      return fmt::format("level {} point (x {}, y {})", li, p % std::size_t(lv.width), p / std::size_t(lv.width));
    };

    centerness.resize(hw);
    for (std::size_t p = 0; p < hw; ++p) {
      if (std::isnan(out.centerness_logits[p]))
        throw error(failure_code::invalid_argument,
                    fmt::format("{}: {} has a NaN centerness logit; the model's outputs are not finite (did training "
                                "diverge?)",
                                who, where(p)));
      centerness[p] = sigmoid(out.centerness_logits[p]);
    }
    found.clear();
    for (std::size_t c = 0; c < std::size_t(classes); ++c) {
      const float* logits = out.class_logits + c * hw;
      for (std::size_t p = 0; p < hw; ++p) {
        const float score = std::sqrt(sigmoid(logits[p]) * centerness[p]);
        if (std::isnan(score))
          throw error(failure_code::invalid_argument,
                      fmt::format("{}: {} has a NaN logit for class {}; the model's outputs are not finite (did "
                                  "training diverge?)",
                                  who, where(p), c));
        if (score >= threshold) found.push_back({score, c * hw + p});
      }
    }

    // The top k by score (equal scores: lower index), then back in index order, so that NMS, which
    // breaks score ties by input order, breaks them by (level, class, point).
    const auto k = std::size_t(o.top_k_per_level);
    if (found.size() > k) {
      std::nth_element(found.begin(), found.begin() + std::ptrdiff_t(k), found.end(),
                       [](const candidate& a, const candidate& b) {
                         return a.score != b.score ? a.score > b.score : a.index < b.index;
                       });
      found.resize(k);
      std::sort(found.begin(), found.end(), [](const candidate& a, const candidate& b) { return a.index < b.index; });
    }

    const float extent_x = float(lv.stride) * float(lv.width), extent_y = float(lv.stride) * float(lv.height);
    for (const candidate& f : found) {
      const std::size_t p = f.index % hw;
      const float px = cell_center(int(p % std::size_t(lv.width)), lv.stride);
      const float py = cell_center(int(p / std::size_t(lv.width)), lv.stride);
      float d[4];
      for (std::size_t side = 0; side < 4; ++side) {
        d[side] = out.distances[side * hw + p];
        if (std::isnan(d[side]))
          throw error(failure_code::invalid_argument,
                      fmt::format("{}: {} has a NaN distance; the model's outputs are not finite (did training "
                                  "diverge?)",
                                  who, where(p)));
        d[side] = std::max(0.0f, d[side]);
      }
      scored_box b;
      b.box = xyxy<float>{std::clamp(px - d[0], 0.0f, extent_x), std::clamp(py - d[1], 0.0f, extent_y),
                          std::clamp(px + d[2], 0.0f, extent_x), std::clamp(py + d[3], 0.0f, extent_y)};
      b.score = f.score;
      b.class_id = int(f.index / hw);
      boxes.push_back(b);
    }
  }

  const auto kept = non_max_suppression(boxes, o.nms);
  std::vector<scored_box> result;
  result.reserve(kept.size());
  for (const auto i : kept) result.push_back(boxes[i]);
  return result;
}

}  // namespace tailor::detection
