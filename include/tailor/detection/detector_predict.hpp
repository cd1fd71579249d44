#pragma once
// A detector's answer for a batch: forward in inference mode, then per image the FCOS decoding
// (score = sqrt(class probability x centerness), best per level, class-wise NMS) in the batch's
// pixels.
#include <cstddef>
#include <vector>

#include "decode.hpp"
#include "detector_network.hpp"
#include "fcos_targets.hpp"

namespace tailor::detection {

template <class Net>
std::vector<std::vector<scored_box>> predict_boxes(Net& net, typename Net::tensor images, const decode_options& o) {
  const std::size_t n = images.shape()[0];
  const int size = int(images.shape()[2]);
  const std::vector<level_geometry> levels = pyramid_levels(size, pyramid_strides);
  const auto out = net.forward(std::move(images), false);
  const int classes = net.classes();
  std::vector<std::vector<scored_box>> result(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<level_outputs> per_level;
    std::vector<std::vector<float>> level_distances(3);
    for (int l = 0; l < 3; ++l) {
      const std::size_t hw = std::size_t(levels[l].height) * std::size_t(levels[l].width);
      const float* logits = out.box_logits[l].data() + i * 4 * hw;
      level_distances[l].resize(4 * hw);
      for (std::size_t k = 0; k < 4 * hw; ++k) level_distances[l][k] = box_distance(logits[k], levels[l].stride);
      per_level.push_back(level_outputs{out.class_logits[l].data() + i * std::size_t(classes) * hw, level_distances[l].data(),
                                        out.centerness[l].data() + i * hw});
    }
    result[i] = decode_detections(per_level, levels, classes, o);
  }
  return result;
}

}  // namespace tailor::detection
