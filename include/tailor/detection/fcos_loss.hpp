#pragma once
// The FCOS loss of a batch (Tian et al., 2019) and its gradient with respect to the detector's
// outputs:
//   classification: sigmoid focal loss over every point and class, / the number of positives;
//   box:            GIoU loss of the predicted box against the target box at each positive point,
//                   weighted by the target's centerness, / the sum of those weights;
//   centerness:     binary cross-entropy of the centerness logit against the target centerness at
//                   each positive point, / the number of positives.
// The normalisers are taken over the whole batch (at least 1), so an image with many objects
// weighs more than an empty one, as in FCOS.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "box_ops.hpp"
#include "detector_network.hpp"
#include "fcos_targets.hpp"
#include "focal_loss.hpp"

namespace tailor::detection {

struct fcos_loss_options {
  float focal_alpha = 0.25f, focal_gamma = 2.0f;
  float box_weight = 1.0f, centerness_weight = 1.0f;
};

struct fcos_loss_value {
  double total = 0, classification = 0, box = 0, centerness = 0;
  int positives = 0;
};

// targets[n]: image n's point targets, level by level, row-major (assign_targets). The gradient of
// the total loss with respect to each output is written into grad (resized to match).
template <nn::Backend B>
fcos_loss_value fcos_loss(const detector_outputs<B>& out, std::span<const std::vector<point_target>> targets,
                          std::span<const level_geometry> levels, const fcos_loss_options& o, detector_outputs<B>& grad) {
  const std::size_t n_images = out.class_logits[0].shape()[0];
  const int classes = int(out.class_logits[0].shape()[1]);
  if (targets.size() != n_images || levels.size() != 3)
    throw error(failure_code::invalid_argument,
                fmt::format("fcos_loss: {} target lists and {} levels for a batch of {} images; give one list per image "
                            "and 3 levels",
                            targets.size(), levels.size(), n_images));
  std::size_t points_per_image = 0;
  for (int l = 0; l < 3; ++l) {
    const auto& s = out.class_logits[l].shape();
    if (int(s[2]) != levels[l].height || int(s[3]) != levels[l].width)
      throw error(failure_code::invalid_argument,
                  fmt::format("fcos_loss: level {} is {}x{} in the outputs and {}x{} in the targets' geometry", l, s[3], s[2],
                              levels[l].width, levels[l].height));
    points_per_image += s[2] * s[3];
  }
  int positives = 0;
  double centerness_sum = 0;
  for (std::size_t n = 0; n < n_images; ++n) {
    if (targets[n].size() != points_per_image)
      throw error(failure_code::invalid_argument, fmt::format("fcos_loss: image {} has {} point targets; the levels have {} points",
                                                              n, targets[n].size(), points_per_image));
    for (const auto& t : targets[n])
      if (t.class_id >= 0) {
        ++positives;
        centerness_sum += t.centerness;
      }
  }
  const float per_positive = 1.0f / float(std::max(1, positives));
  const float per_centerness = centerness_sum > 0 ? float(1.0 / centerness_sum) : 0.0f;

  fcos_loss_value v;
  v.positives = positives;
  std::vector<float> ctr_logits, ctr_targets, ctr_grads;
  std::vector<float*> ctr_grad_at;
  std::size_t level_begin = 0;
  for (int l = 0; l < 3; ++l) {
    const int stride = levels[l].stride, h = levels[l].height, w = levels[l].width, hw = h * w;
    grad.class_logits[l].resize(out.class_logits[l].shape());
    grad.box_logits[l].resize(out.box_logits[l].shape());
    grad.centerness[l].resize(out.centerness[l].shape());
    std::fill(grad.box_logits[l].begin(), grad.box_logits[l].end(), 0.0f);
    std::fill(grad.centerness[l].begin(), grad.centerness[l].end(), 0.0f);
    for (std::size_t n = 0; n < n_images; ++n) {
      const std::span<const point_target> level_targets(targets[n].data() + level_begin, std::size_t(hw));
      v.classification += focal_loss_for_classes(out.class_logits[l].data() + n * classes * hw, classes, hw, level_targets,
                                                 o.focal_alpha, o.focal_gamma, per_positive,
                                                 grad.class_logits[l].data() + n * classes * hw);
      const float* box = out.box_logits[l].data() + n * 4 * hw;
      float* d_box = grad.box_logits[l].data() + n * 4 * hw;
      for (int p = 0; p < hw; ++p) {
        const point_target& t = level_targets[std::size_t(p)];
        if (t.class_id < 0) continue;
        const float px = (float(p % w) + 0.5f) * float(stride), py = (float(p / w) + 0.5f) * float(stride);
        float d[4];
        for (int k = 0; k < 4; ++k) d[k] = box_distance(box[k * hw + p], stride);
        const xyxy<float> predicted{px - d[0], py - d[1], px + d[2], py + d[3]};
        const xyxy<float> target{px - t.l, py - t.t, px + t.r, py + t.b};
        const auto g = giou_loss(predicted, target);
        const float weight = o.box_weight * t.centerness * per_centerness;
        v.box += double(weight) * g.loss;
        // d box / d distance: x1 = px - l, y1 = py - t, x2 = px + r, y2 = py + b.
        const float d_distance[4] = {-g.gradient.x1, -g.gradient.y1, g.gradient.x2, g.gradient.y2};
        for (int k = 0; k < 4; ++k) {
          const float logit = box[k * hw + p];
          const bool clamped = logit <= -box_logit_limit || logit >= box_logit_limit;
          d_box[k * hw + p] = clamped ? 0.0f : weight * d_distance[k] * d[k];
        }
        ctr_logits.push_back(out.centerness[l].data()[n * hw + p]);
        ctr_targets.push_back(t.centerness);
        ctr_grad_at.push_back(grad.centerness[l].data() + n * hw + p);
      }
    }
    level_begin += std::size_t(hw);
  }
  ctr_grads.resize(ctr_logits.size());
  v.centerness = binary_cross_entropy_with_logits(ctr_logits, ctr_targets, o.centerness_weight * per_positive, ctr_grads);
  for (std::size_t i = 0; i < ctr_grads.size(); ++i) *ctr_grad_at[i] = ctr_grads[i];
  v.total = v.classification + v.box + v.centerness;
  return v;
}

}  // namespace tailor::detection
