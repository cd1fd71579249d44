#pragma once
// Batches for training and evaluating a detector: images letterboxed (and, when training,
// zoomed, shifted, flipped and colour-jittered) to size x size, with their boxes moved the same
// way and the placement that maps predictions back to the original image. As for classification,
// a batch depends only on (seed, epoch, batch index), whatever the number of workers.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../detection/box_ops.hpp"
#include "detection_augment.hpp"
#include "image_store.hpp"
#include "prefetcher.hpp"

namespace tailor::pipeline {

struct detection_loader_options {
  int batch_size = 16;
  bool train = true;       // augment and shuffle (else: letterbox only, dataset order)
  bool drop_last = false;  // train: drop a last partial batch
  int workers = 2;
  int prefetch = 2;
  std::uint64_t seed = 0;
  detection_augment_options augment;
};

template <class B>
struct detection_batch {
  typename B::tensor images;                          // N x 3 x size x size, normalised
  std::vector<std::vector<detection::gt_box>> boxes;  // per image, in the batch's pixels
  std::vector<placement> placements;                  // per image: the store's pixels -> batch pixels
  std::vector<std::array<int, 2>> stored_sizes;      // per image: the size the store decoded it at
  std::vector<std::array<float, 2>> to_original;      // per image: the store's pixels -> original (x, y factors)
  std::vector<std::uint32_t> samples;                 // which samples of the store
};

// A box the network found in batch image k, in the pixels of the original image (clipped to it).
template <class B>
detection::xyxy<float> original_box(const detection_batch<B>& b, std::size_t k, const detection::xyxy<float>& found) {
  const auto& f = b.to_original[k];
  const auto in_store = to_original(b.placements[k], found, b.stored_sizes[k][0], b.stored_sizes[k][1]);
  return {in_store.x1 * f[0], in_store.y1 * f[1], in_store.x2 * f[0], in_store.y2 * f[1]};
}

template <class B>
class detection_loader {
 public:
  // boxes[i]: the boxes of sample i in its original pixels, sizes[i] its original width and height
  // (the store may decode it smaller). subset: the samples served; empty: all.
  detection_loader(const image_store& store, std::vector<std::vector<detection::gt_box>> boxes,
                   std::vector<std::array<int, 2>> sizes, const detection_loader_options& o, std::vector<std::uint32_t> subset = {})
      : store_(store), boxes_(std::move(boxes)), sizes_(std::move(sizes)), o_(o),
        batches_("detection_loader", store.size(), std::move(subset),
                 epoch_options{o.batch_size, o.train, o.drop_last, o.workers, o.prefetch, o.seed},
                 [this](std::span<const std::uint32_t> samples, std::int64_t epoch) { return build(samples, epoch); }) {
    if (boxes_.size() != store_.size() || sizes_.size() != store_.size())
      throw error(failure_code::invalid_argument,
                  fmt::format("detection_loader: {} box lists and {} sizes for {} images; give one of each per image",
                              boxes_.size(), sizes_.size(), store_.size()));
    for (std::size_t i = 0; i < sizes_.size(); ++i)
      if (sizes_[i][0] <= 0 || sizes_[i][1] <= 0)
        throw error(failure_code::invalid_argument, fmt::format("detection_loader: image {} has size {}x{}", i, sizes_[i][0], sizes_[i][1]));
  }
  detection_loader(const detection_loader&) = delete;
  detection_loader& operator=(const detection_loader&) = delete;

  std::size_t batches_per_epoch() const { return batches_.batches_per_epoch(); }
  void start_epoch(std::int64_t epoch) { batches_.start_epoch(epoch); }
  std::optional<detection_batch<B>> next() { return batches_.next(); }

 private:
  detection_batch<B> build(std::span<const std::uint32_t> samples, std::int64_t epoch) const {
    const std::size_t n = samples.size(), s = std::size_t(o_.augment.size), plane = 3 * s * s;
    detection_batch<B> b;
    b.images = B::tensor::from_shape({n, 3, s, s});
    data::image scratch;
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t i = samples[k];
      b.samples.push_back(i);
      const data::image& img = store_.image_at(i, scratch);
      // The boxes in the store's pixels (a decode at a bounded size scales them).
      const float sx = float(img.width) / float(sizes_[i][0]), sy = float(img.height) / float(sizes_[i][1]);
      std::vector<detection::gt_box> stored = boxes_[i];
      for (auto& g : stored) g.box = {g.box.x1 * sx, g.box.y1 * sy, g.box.x2 * sx, g.box.y2 * sy};
      b.to_original.push_back({1 / sx, 1 / sy});
      b.stored_sizes.push_back({img.width, img.height});
      float* dst = b.images.data() + k * plane;
      if (o_.train) {
        std::mt19937_64 r(sample_seed(o_.seed, epoch, i));
        std::vector<detection::gt_box> moved;
        b.placements.push_back(augment_detection_train(img, stored, o_.augment, r, dst, moved));
        b.boxes.push_back(std::move(moved));
      } else {
        b.placements.push_back(prepare_detection_eval(img, o_.augment, dst));
        b.boxes.push_back(transform_boxes(b.placements.back(), stored, o_.augment));
      }
    }
    return b;
  }

  const image_store& store_;
  std::vector<std::vector<detection::gt_box>> boxes_;
  std::vector<std::array<int, 2>> sizes_;
  detection_loader_options o_;
  epoch_batches<detection_batch<B>> batches_;  // last: its workers stop before the rest goes
};

}  // namespace tailor::pipeline
