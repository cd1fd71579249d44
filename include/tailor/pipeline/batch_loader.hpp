#pragma once
// Batches for training and evaluation, prepared ahead by worker threads while the trainer works
// on the current one. What a batch contains depends only on (seed, epoch, batch index): the
// epoch's order is a seeded permutation and every sample's augmentation has its own seed, so a run
// is reproducible whatever the number of workers and however they are scheduled.
//
//   batch_loader<B> loader(store, labels, {.batch_size = 32, .train = true, .augment = {...}});
//   loader.start_epoch(e);
//   while (auto batch = loader.next()) trainer.step(std::move(batch->images), batch->labels);
#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "augment.hpp"
#include "image_store.hpp"
#include "prefetcher.hpp"

namespace tailor::pipeline {

struct loader_options {
  int batch_size = 32;
  bool train = true;          // augment and shuffle (else: eval transform, dataset order)
  bool drop_last = false;     // train: drop a last partial batch (BN dislikes batches of 1)
  int workers = 2;            // threads preparing batches
  int prefetch = 2;           // batches prepared ahead
  std::uint64_t seed = 0;
  augment_options augment;
};

template <class B>
struct batch {
  typename B::tensor images;          // N x 3 x size x size, normalised
  std::vector<std::int32_t> labels;   // multiclass: the class of each sample (-1 when none)
  typename B::tensor targets;         // multilabel: N x C x 1 x 1 of 0/1 (empty when not multilabel)
  std::vector<std::uint32_t> samples; // which samples of the store
};

template <class B>
class batch_loader {
 public:
  // labels[i]: the classes of sample i (one for multiclass); classes: C (for multilabel targets).
  // subset: the samples of the store this loader serves (a training or validation split); empty: all.
  batch_loader(const image_store& store, std::vector<std::vector<std::int32_t>> labels, int classes, bool multilabel,
               const loader_options& o, std::vector<std::uint32_t> subset = {})
      : store_(store), labels_(std::move(labels)), classes_(classes), multilabel_(multilabel), o_(o),
        batches_("batch_loader", store.size(), std::move(subset),
                 epoch_options{o.batch_size, o.train, o.drop_last, o.workers, o.prefetch, o.seed},
                 [this](std::span<const std::uint32_t> samples, std::int64_t epoch) { return build(samples, epoch); }) {}
  batch_loader(const batch_loader&) = delete;
  batch_loader& operator=(const batch_loader&) = delete;

  std::size_t batches_per_epoch() const { return batches_.batches_per_epoch(); }
  void start_epoch(std::int64_t epoch) { batches_.start_epoch(epoch); }
  // The next batch of the epoch, or nullopt at its end. Rethrows a worker's failure (a file that
  // cannot be decoded), naming the file.
  std::optional<batch<B>> next() { return batches_.next(); }

 private:
  batch<B> build(std::span<const std::uint32_t> samples, std::int64_t epoch) const {
    const std::size_t n = samples.size(), s = std::size_t(o_.augment.size), plane = 3 * s * s;
    batch<B> b;
    b.images = B::tensor::from_shape({n, 3, s, s});
    b.labels.assign(n, -1);
    if (multilabel_) {
      b.targets = B::tensor::from_shape({n, std::size_t(classes_), 1, 1});
      std::fill(b.targets.begin(), b.targets.end(), typename B::value_type(0));
    }
    std::vector<float> sample(plane);
    data::image scratch;
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t i = samples[k];
      b.samples.push_back(i);
      const data::image& img = store_.image_at(i, scratch);
      if (o_.train) {
        std::mt19937_64 r(sample_seed(o_.seed, epoch, i));
        augment_train(img, o_.augment, r, sample.data());
      } else {
        prepare_eval(img, o_.augment, sample.data());
      }
      std::copy(sample.begin(), sample.end(), b.images.data() + k * plane);
      const auto& l = labels_[i];
      if (!l.empty()) b.labels[k] = l.front();
      if (multilabel_)
        for (auto c : l) b.targets(k, std::size_t(c), 0, 0) = 1;
    }
    return b;
  }

  const image_store& store_;
  std::vector<std::vector<std::int32_t>> labels_;
  int classes_ = 0;
  bool multilabel_ = false;
  loader_options o_;
  epoch_batches<batch<B>> batches_;  // last: its workers stop before the rest goes
};

}  // namespace tailor::pipeline
