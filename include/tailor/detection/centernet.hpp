#pragma once
// A CenterNet-style head (Zhou et al., "Objects as Points", 2019), built to compare with the FCOS
// head on the same network (docs/detection.md, "FCOS or CenterNet"): one map of stride 8 (the
// pyramid's finest level), a heatmap of object centres per class, and at each centre the box.
//
//   heatmap target: per class, the maximum over that class's boxes of an elliptical Gaussian
//       exp(-(dx^2 / 2 sx^2 + dy^2 / 2 sy^2)) around the cell holding the box centre, with
//       sx = sigma_scale * w / 6 and sy = sigma_scale * h / 6 in cells (TTFNet's shape-aware
//       Gaussian; CenterNet's is round); exactly 1 at the centre cell.
//   heatmap loss: CenterNet's penalty-reduced focal loss
//       y = 1:  -(1 - p)^alpha log p
//       y < 1:  -(1 - y)^beta p^alpha log(1 - p)
//       summed over classes and cells, / the number of objects (at least 1).
//   box: at each object's centre cell (x, y), four outputs: the centre offset (ox, oy) in cells
//       from the cell's middle, and log(w / stride), log(h / stride); the box is
//       centre ((x + 0.5 + ox) s, (y + 0.5 + oy) s), size (s e^lw, s e^lh). Its loss is the GIoU
//       loss (TTFNet's choice, the FCOS head's too), / the number of objects.
//   decoding: a cell is a peak of its class when its score is >= its 8 neighbours' (CenterNet's
//       3x3 max pooling); the best peaks over the threshold are the detections: no NMS.
// A cell that holds the centres of several boxes regresses the smallest (its heatmap peaks stay).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "box_ops.hpp"
#include "focal_loss.hpp"  // detail::logistic
#include "nms.hpp"         // scored_box

namespace tailor::detection {

struct centernet_options {
  float alpha = 2.0f, beta = 4.0f;  // the penalty-reduced focal loss's exponents (CenterNet's)
  float sigma_scale = 0.54f;        // the Gaussian's sigma = sigma_scale * side / 6 (TTFNet's alpha)
  float box_weight = 1.0f;
  float size_logit_limit = 8.0f;    // log-size outputs are clamped to +-this (zero gradient outside)
};

// The box an object's centre cell regresses.
struct centernet_object {
  int cell_x = 0, cell_y = 0;
  xyxy<float> box;  // input pixels
  int class_id = 0;
};

struct centernet_targets {
  int classes = 0, height = 0, width = 0, stride = 0;
  std::vector<float> heatmap;  // classes x height x width
  std::vector<centernet_object> objects;
};

inline centernet_targets make_centernet_targets(std::span<const gt_box> boxes, int classes, int height, int width,
                                                int stride, const centernet_options& o = {}) {
  if (classes < 1 || height < 1 || width < 1 || stride < 1)
    throw error(failure_code::invalid_argument,
                fmt::format("centernet targets: {} classes on a {}x{} map of stride {}; give positive numbers", classes, width,
                            height, stride));
  centernet_targets t;
  t.classes = classes;
  t.height = height;
  t.width = width;
  t.stride = stride;
  t.heatmap.assign(std::size_t(classes) * std::size_t(height) * std::size_t(width), 0.0f);
  std::vector<int> owner(std::size_t(height) * std::size_t(width), -1);  // object index per cell
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const gt_box& g = boxes[i];
    const float w = g.box.x2 - g.box.x1, h = g.box.y2 - g.box.y1;
    if (!(w > 0 && h > 0) || g.class_id < 0 || g.class_id >= classes)
      throw error(failure_code::invalid_argument,
                  fmt::format("centernet targets: box {} ({}, {}, {}, {}) of class {} is empty or its class is not in [0, {})",
                              i, g.box.x1, g.box.y1, g.box.x2, g.box.y2, g.class_id, classes));
    const float cx = (g.box.x1 + g.box.x2) * 0.5f / float(stride), cy = (g.box.y1 + g.box.y2) * 0.5f / float(stride);
    const int x0 = std::clamp(int(std::floor(cx)), 0, width - 1), y0 = std::clamp(int(std::floor(cy)), 0, height - 1);
    const float sx = std::max(0.1f, o.sigma_scale * w / float(stride) / 6.0f);
    const float sy = std::max(0.1f, o.sigma_scale * h / float(stride) / 6.0f);
    const int rx = int(std::ceil(3 * sx)), ry = int(std::ceil(3 * sy));
    float* map = t.heatmap.data() + std::size_t(g.class_id) * std::size_t(height) * std::size_t(width);
    for (int y = std::max(0, y0 - ry); y <= std::min(height - 1, y0 + ry); ++y)
      for (int x = std::max(0, x0 - rx); x <= std::min(width - 1, x0 + rx); ++x) {
        const float dx = float(x - x0), dy = float(y - y0);
        const float v = std::exp(-(dx * dx / (2 * sx * sx) + dy * dy / (2 * sy * sy)));
        float& cell = map[std::size_t(y) * std::size_t(width) + std::size_t(x)];
        cell = std::max(cell, v);
      }
    int& own = owner[std::size_t(y0) * std::size_t(width) + std::size_t(x0)];
    const centernet_object object{x0, y0, g.box, g.class_id};
    if (own < 0) {
      own = int(t.objects.size());
      t.objects.push_back(object);
    } else if (area(g.box) < area(t.objects[std::size_t(own)].box)) {
      t.objects[std::size_t(own)] = object;
    }
  }
  return t;
}

// The heatmap loss of one image (classes x hw logits), scaled by `scale` (1 / objects); its
// gradient is written into grad.
inline double centernet_heatmap_loss(const float* logits, std::span<const float> target, float alpha, float beta, float scale,
                                     float* grad) {
  double loss = 0;
  for (std::size_t i = 0; i < target.size(); ++i) {
    const auto s = detail::logistic(double(logits[i]));
    const double y = target[i];
    double l, d;
    if (y >= 1.0) {
      // -(1-p)^a log p;  d/dz = (1-p)^a (a p log p - (1 - p))
      const double qa = std::pow(s.q, alpha);
      l = qa * s.softplus_neg;
      d = qa * (-alpha * s.p * s.softplus_neg - s.q);
    } else {
      // -(1-y)^b p^a log(1-p);  d/dz = (1-y)^b p^a (p - a (1-p) log(1-p))
      const double wy = std::pow(1.0 - y, beta), pa = std::pow(s.p, alpha);
      l = wy * pa * s.softplus_pos;
      d = wy * pa * (s.p + alpha * s.q * s.softplus_pos);
    }
    loss += l * scale;
    grad[i] = float(d * scale);
  }
  return loss;
}

namespace detail {

struct centernet_box_parts {
  float cx, cy, w, h;
};

inline centernet_box_parts centernet_box_at(const float* box_logits, std::size_t hw, int x, int y, int width, int stride,
                                            float limit) {
  const std::size_t p = std::size_t(y) * std::size_t(width) + std::size_t(x);
  const float s = float(stride);
  return {(float(x) + 0.5f + box_logits[p]) * s, (float(y) + 0.5f + box_logits[hw + p]) * s,
          s * std::exp(std::clamp(box_logits[2 * hw + p], -limit, limit)),
          s * std::exp(std::clamp(box_logits[3 * hw + p], -limit, limit))};
}

inline xyxy<float> to_xyxy(const centernet_box_parts& b) {
  return {b.cx - b.w * 0.5f, b.cy - b.h * 0.5f, b.cx + b.w * 0.5f, b.cy + b.h * 0.5f};
}

}  // namespace detail

// The box loss of one image (box logits 4 x height x width), scaled by `scale`; its gradient is
// written into grad (zero away from the objects' centre cells).
inline double centernet_box_loss(const float* box_logits, const centernet_targets& t, float scale, float limit, float* grad) {
  const std::size_t hw = std::size_t(t.height) * std::size_t(t.width);
  std::fill(grad, grad + 4 * hw, 0.0f);
  double loss = 0;
  const float s = float(t.stride);
  for (const centernet_object& o : t.objects) {
    const auto b = detail::centernet_box_at(box_logits, hw, o.cell_x, o.cell_y, t.width, t.stride, limit);
    const auto g = giou_loss(detail::to_xyxy(b), o.box);
    loss += double(scale) * g.loss;
    const std::size_t p = std::size_t(o.cell_y) * std::size_t(t.width) + std::size_t(o.cell_x);
    auto clamped = [&](std::size_t k) { return box_logits[k * hw + p] <= -limit || box_logits[k * hw + p] >= limit; };
    grad[p] += scale * s * (g.gradient.x1 + g.gradient.x2);
    grad[hw + p] += scale * s * (g.gradient.y1 + g.gradient.y2);
    if (!clamped(2)) grad[2 * hw + p] += scale * b.w * 0.5f * (g.gradient.x2 - g.gradient.x1);
    if (!clamped(3)) grad[3 * hw + p] += scale * b.h * 0.5f * (g.gradient.y2 - g.gradient.y1);
  }
  return loss;
}

struct centernet_decode_options {
  float score_threshold = 0.05f;
  int max_detections = 100;
};

// One image's detections, best first (equal scores: class, then cell), boxes clipped to the input.
inline std::vector<scored_box> decode_centernet(const float* class_logits, const float* box_logits, int classes, int height,
                                                int width, int stride, const centernet_decode_options& o,
                                                float limit = centernet_options{}.size_logit_limit) {
  if (classes < 1 || height < 1 || width < 1 || stride < 1 || o.max_detections < 1 || std::isnan(o.score_threshold))
    throw error(failure_code::invalid_argument,
                fmt::format("decode_centernet: {} classes, a {}x{} map of stride {}, at most {} detections, threshold {}; "
                            "give positive sizes and a number",
                            classes, width, height, stride, o.max_detections, o.score_threshold));
  const std::size_t hw = std::size_t(height) * std::size_t(width);
  std::vector<float> score(std::size_t(classes) * hw);
  for (std::size_t i = 0; i < score.size(); ++i) {
    if (std::isnan(class_logits[i]))
      throw error(failure_code::invalid_argument,
                  "decode_centernet: a NaN heatmap logit; the model's outputs are not finite (did training diverge?)");
    score[i] = float(detail::logistic(double(class_logits[i])).p);
  }
  struct peak {
    float score;
    std::size_t index;
  };
  std::vector<peak> peaks;
  for (int c = 0; c < classes; ++c) {
    const float* m = score.data() + std::size_t(c) * hw;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const float v = m[std::size_t(y) * std::size_t(width) + std::size_t(x)];
        if (v < o.score_threshold) continue;
        bool is_peak = true;
        for (int dy = -1; dy <= 1 && is_peak; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int yy = y + dy, xx = x + dx;
            if ((dx || dy) && yy >= 0 && yy < height && xx >= 0 && xx < width &&
                m[std::size_t(yy) * std::size_t(width) + std::size_t(xx)] > v) {
              is_peak = false;
              break;
            }
          }
        if (is_peak) peaks.push_back({v, std::size_t(c) * hw + std::size_t(y) * std::size_t(width) + std::size_t(x)});
      }
  }
  const auto best_first = [](const peak& a, const peak& b) { return a.score != b.score ? a.score > b.score : a.index < b.index; };
  const std::size_t keep = std::min(peaks.size(), std::size_t(o.max_detections));
  std::partial_sort(peaks.begin(), peaks.begin() + std::ptrdiff_t(keep), peaks.end(), best_first);
  peaks.resize(keep);
  const float extent_x = float(stride * width), extent_y = float(stride * height);
  std::vector<scored_box> out;
  out.reserve(keep);
  for (const peak& k : peaks) {
    const std::size_t p = k.index % hw;
    const auto b = detail::to_xyxy(detail::centernet_box_at(box_logits, hw, int(p % std::size_t(width)),
                                                            int(p / std::size_t(width)), width, stride, limit));
    if (std::isnan(b.x1) || std::isnan(b.y1) || std::isnan(b.x2) || std::isnan(b.y2))
      throw error(failure_code::invalid_argument,
                  "decode_centernet: a NaN box output; the model's outputs are not finite (did training diverge?)");
    scored_box s;
    s.box = {std::clamp(b.x1, 0.0f, extent_x), std::clamp(b.y1, 0.0f, extent_y), std::clamp(b.x2, 0.0f, extent_x),
             std::clamp(b.y2, 0.0f, extent_y)};
    s.score = k.score;
    s.class_id = int(k.index / hw);
    out.push_back(s);
  }
  return out;
}

}  // namespace tailor::detection
