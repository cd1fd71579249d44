#pragma once
// The CenterNet-style head (centernet.hpp) on the detector network: it reads the finest pyramid
// level's outputs (stride 8): the class logits as the heatmap, the four box logits as centre offset
// and log size. The centerness output gets no gradient and is not decoded. Build the network with
// detector_options::head_levels = 1, so that the coarser levels have no
// head to run; with 3 (as FCOS), their outputs get no gradient and are not decoded.
#include <cstddef>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "centernet.hpp"
#include "detector_network.hpp"

namespace tailor::detection {

inline constexpr int centernet_level = 0;

struct centernet_loss_value {
  double total = 0, heatmap = 0, box = 0;
  int objects = 0;
};

// The loss of a batch (targets[n]: image n's, on the finest level's grid) and its gradient with
// respect to every output (zero where the head does not read).
template <nn::Backend B>
centernet_loss_value centernet_loss(const detector_outputs<B>& out, std::span<const centernet_targets> targets,
                                    const centernet_options& o, detector_outputs<B>& grad) {
  const auto& s = out.class_logits[centernet_level].shape();
  const std::size_t n_images = s[0];
  const int classes = int(s[1]), height = int(s[2]), width = int(s[3]);
  if (targets.size() != n_images)
    throw error(failure_code::invalid_argument,
                fmt::format("centernet_loss: {} target maps for a batch of {} images", targets.size(), n_images));
  int objects = 0;
  for (const auto& t : targets) {
    if (t.classes != classes || t.height != height || t.width != width)
      throw error(failure_code::invalid_argument,
                  fmt::format("centernet_loss: targets of {} classes on {}x{} for outputs of {} classes on {}x{}", t.classes,
                              t.width, t.height, classes, width, height));
    objects += int(t.objects.size());
  }
  const float scale = 1.0f / float(std::max(1, objects));
  for (int l = 0; l < pyramid_level_count; ++l) {
    if (out.class_logits[l].size() == 0) continue;  // a level without a head
    for (auto pair : {std::pair{&out.class_logits[l], &grad.class_logits[l]}, std::pair{&out.box_logits[l], &grad.box_logits[l]},
                       std::pair{&out.centerness[l], &grad.centerness[l]}}) {
      pair.second->resize(pair.first->shape());
      std::fill(pair.second->begin(), pair.second->end(), 0.0f);
    }
  }
  centernet_loss_value v;
  v.objects = objects;
  const std::size_t hw = std::size_t(height) * std::size_t(width), per_image = std::size_t(classes) * hw;
  for (std::size_t n = 0; n < n_images; ++n) {
    v.heatmap += centernet_heatmap_loss(out.class_logits[centernet_level].data() + n * per_image, targets[n].heatmap, o.alpha,
                                        o.beta, scale, grad.class_logits[centernet_level].data() + n * per_image);
    v.box += centernet_box_loss(out.box_logits[centernet_level].data() + n * 4 * hw, targets[n], o.box_weight * scale,
                                o.size_logit_limit, grad.box_logits[centernet_level].data() + n * 4 * hw);
  }
  v.total = v.heatmap + v.box;
  return v;
}

// The detections of a batch in its pixels, as predict_boxes (detector_predict.hpp) gives the FCOS
// head's: task::predict_detections picks this one for centernet_decode_options.
template <class Net>
std::vector<std::vector<scored_box>> predict_boxes(Net& net, typename Net::tensor images, const centernet_decode_options& o) {
  const std::size_t n = images.shape()[0];
  const auto out = net.forward(std::move(images), false);
  const auto& s = out.class_logits[centernet_level].shape();
  const int classes = int(s[1]), height = int(s[2]), width = int(s[3]);
  const std::size_t hw = std::size_t(height) * std::size_t(width);
  std::vector<std::vector<scored_box>> result(n);
  for (std::size_t i = 0; i < n; ++i)
    result[i] = decode_centernet(out.class_logits[centernet_level].data() + i * std::size_t(classes) * hw,
                                 out.box_logits[centernet_level].data() + i * 4 * hw, classes, height, width,
                                 pyramid_strides[centernet_level], o);
  return result;
}

}  // namespace tailor::detection
