#pragma once
// Class-wise ("batched") non-maximum suppression: of the boxes a detector proposes, keep the best
// scoring one of each cluster of same-class boxes that overlap more than a threshold.
//
// The result is what the plain definition gives (take the highest remaining score, drop the
// same-class boxes overlapping it by IoU > iou_threshold, repeat), cut to max_detections, in the
// order taken: descending score, equal scores by lower input index. It is computed in one pass
// over the candidates sorted once: a candidate is compared only with the boxes of its class kept
// so far, which are never more than max_detections, so the cost is O(n log n + n * kept).
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

// One box a detector proposes.
struct scored_box {
  xyxy<float> box;   // pixels, x1 <= x2 and y1 <= y2
  float score = 0;   // any finite number: probability or logit, higher is more confident
  int class_id = 0;  // boxes of different classes never suppress each other
};

struct nms_options {
  float iou_threshold = 0.6f;        // a box overlapping a kept box of its class by IoU > this is dropped
  float score_threshold = 0.05f;     // boxes scoring below this are dropped first (score >= threshold stays)
  std::size_t max_detections = 100;  // the most boxes kept, over all classes together
};

namespace detail {

// Rejects what would make the result meaningless instead of failing silently: NaN compares false,
// so a NaN score or an inverted box would otherwise slip through as a kept box.
inline void check_nms_input(std::span<const scored_box> detections, const nms_options& options) {
  if (std::isnan(options.iou_threshold))
    throw error(failure_code::invalid_argument,
                "non-maximum suppression: iou_threshold is NaN; give a number, usually between 0.3 and 0.7");
  if (std::isnan(options.score_threshold))
    throw error(failure_code::invalid_argument,
                "non-maximum suppression: score_threshold is NaN; give a number (-infinity keeps every score)");
  for (std::size_t i = 0; i < detections.size(); ++i) {
    const scored_box& d = detections[i];
    if (!std::isfinite(d.score))
      throw error(failure_code::invalid_argument,
                  fmt::format("non-maximum suppression: detection {} has score {}; give every detection a finite "
                              "score (drop the detection, or fix the head that produced it)",
                              i, d.score));
    const xyxy<float>& b = d.box;
    if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2))
      throw error(failure_code::invalid_argument,
                  fmt::format("non-maximum suppression: detection {} has box ({}, {}, {}, {}) with a non-finite "
                              "coordinate; give finite pixel coordinates (drop the detection, or fix its decoding)",
                              i, b.x1, b.y1, b.x2, b.y2));
    if (b.x2 < b.x1 || b.y2 < b.y1)
      throw error(failure_code::invalid_argument,
                  fmt::format("non-maximum suppression: detection {} has box (x1 {}, y1 {}, x2 {}, y2 {}) with {}; "
                              "give corners with x1 <= x2 and y1 <= y2 (a COCO [x, y, w, h] box converts with "
                              "from_coco)",
                              i, b.x1, b.y1, b.x2, b.y2, b.x2 < b.x1 ? "x2 < x1" : "y2 < y1"));
  }
}

}  // namespace detail

// Indices into `detections` of the boxes kept, by descending score (equal scores: lower index
// first). Throws tailor::error (invalid_argument) naming the first bad detection: a non-finite
// score or coordinate, or an inverted box.
inline std::vector<std::size_t> non_max_suppression(std::span<const scored_box> detections,
                                                    const nms_options& options = {}) {
  detail::check_nms_input(detections, options);

  std::vector<std::size_t> order;
  order.reserve(detections.size());
  for (std::size_t i = 0; i < detections.size(); ++i)
    if (detections[i].score >= options.score_threshold) order.push_back(i);
  // A strict total order (score, then index), so the result never depends on the sort algorithm.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const float sa = detections[a].score, sb = detections[b].score;
    return sa != sb ? sa > sb : a < b;
  });

  // Class ids are arbitrary ints: number the ones present 0..m-1 to index per-class lists.
  std::vector<int> classes;
  classes.reserve(order.size());
  for (auto i : order) classes.push_back(detections[i].class_id);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());

  // Kept boxes, each class's chained from its latest back through `previous_of_class`; everything
  // is sized up front so the loop below never allocates.
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  struct kept_box {
    xyxy<float> box;
    float area = 0;
    std::size_t previous_of_class = none;
  };
  const std::size_t limit = std::min(options.max_detections, order.size());
  std::vector<kept_box> kept;
  kept.reserve(limit);
  std::vector<std::size_t> latest_of_class(classes.size(), none);
  std::vector<std::size_t> result;
  result.reserve(limit);

  for (auto i : order) {
    if (result.size() == limit) break;  // later candidates score lower: none could enter the result
    const scored_box& d = detections[i];
    const auto cls = static_cast<std::size_t>(std::lower_bound(classes.begin(), classes.end(), d.class_id) -
                                              classes.begin());
    const float candidate_area = area(d.box);
    bool suppressed = false;
    for (auto k = latest_of_class[cls]; k != none && !suppressed; k = kept[k].previous_of_class)
      suppressed = detail::iou_given_areas(kept[k].box, d.box, kept[k].area, candidate_area) > options.iou_threshold;
    if (suppressed) continue;
    kept_box entry;
    entry.box = d.box;
    entry.area = candidate_area;
    entry.previous_of_class = latest_of_class[cls];
    kept.push_back(entry);
    latest_of_class[cls] = kept.size() - 1;
    result.push_back(i);
  }
  return result;
}

}  // namespace tailor::detection
