#pragma once
// What a trained detector finds in images: per image, boxes in the pixels of the original image
// with their class and score, best first. Images go through the evaluation transform (the whole
// image letterboxed to the input size), the same for validation, evaluation and analyze; the
// boxes come back through the letterbox (and the store's decode scale) to the original pixels.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "../detection/detector_predict.hpp"
#include "../pipeline/detection_loader.hpp"

namespace tailor::task {

// The detections for the samples `subset` of `store` (empty subset: every sample), in that order.
// sizes[i]: sample i's original width and height. keep_going is asked before each batch; when it
// says no, the result is nullopt. The decoding options choose the head's decoding
// (detection::decode_options: FCOS; detection::centernet_decode_options: the CenterNet-style head).
template <class Net, class Decoding = detection::decode_options>
std::optional<std::vector<std::vector<detection::scored_box>>> predict_detections(
    Net& net, const pipeline::image_store& store, const std::vector<std::array<int, 2>>& sizes,
    const std::vector<std::uint32_t>& subset, const pipeline::detection_augment_options& preprocessing,
    const Decoding& decoding, int batch_size = 16, const std::function<bool()>& keep_going = {}) {
  using B = typename Net::backend;
  pipeline::detection_loader_options o;
  o.batch_size = batch_size;
  o.train = false;
  o.augment = preprocessing;
  pipeline::detection_loader<B> loader(store, std::vector<std::vector<detection::gt_box>>(store.size()), sizes, o, subset);
  std::vector<std::vector<detection::scored_box>> out;
  loader.start_epoch(0);
  while (auto b = loader.next()) {
    if (keep_going && !keep_going()) return std::nullopt;
    auto found = predict_boxes(net, std::move(b->images), decoding);  // by the decoding's type
    for (std::size_t k = 0; k < found.size(); ++k) {
      for (auto& f : found[k]) f.box = pipeline::original_box(*b, k, f.box);
      out.push_back(std::move(found[k]));
    }
  }
  net.release_cache();
  return out;
}

}  // namespace tailor::task
