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
      : store_(store), labels_(std::move(labels)), classes_(classes), multilabel_(multilabel), o_(o), subset_(std::move(subset)) {
    if (subset_.empty()) {
      subset_.resize(store_.size());
      for (std::uint32_t i = 0; i < subset_.size(); ++i) subset_[i] = i;
    }
    for (auto i : subset_)
      if (i >= store_.size())
        throw error(failure_code::invalid_argument, fmt::format("batch_loader: sample {} of the subset is not in the store "
                                                                "({} images)", i, store_.size()));
    if (o_.batch_size <= 0) o_.batch_size = 1;
    if (o_.workers <= 0) o_.workers = 1;
    if (o_.prefetch <= 0) o_.prefetch = 1;
  }
  batch_loader(const batch_loader&) = delete;
  batch_loader& operator=(const batch_loader&) = delete;

  std::size_t batches_per_epoch() const {
    const std::size_t n = subset_.size(), b = std::size_t(o_.batch_size);
    return (o_.train && o_.drop_last && n >= b) ? n / b : (n + b - 1) / b;
  }

  void start_epoch(std::int64_t epoch) {
    prefetcher_.stop();
    order_ = epoch_order(subset_, o_.train, o_.seed, epoch);
    epoch_ = epoch;
    prefetcher_.start(batches_per_epoch(), [this](std::size_t index) { return build(index); });
  }

  // The next batch of the epoch, or nullopt at its end. Rethrows a worker's failure (a file that
  // cannot be decoded), naming the file.
  std::optional<batch<B>> next() { return prefetcher_.next(); }

 private:
  batch<B> build(std::size_t index) const {
    const std::size_t begin = index * std::size_t(o_.batch_size), end = std::min(order_.size(), begin + std::size_t(o_.batch_size));
    const std::size_t n = end - begin, s = std::size_t(o_.augment.size), plane = 3 * s * s;
    batch<B> b;
    b.images = B::tensor::from_shape({n, 3, s, s});
    b.labels.assign(n, -1);
    if (multilabel_) {
      b.targets = B::tensor::from_shape({n, std::size_t(classes_), 1, 1});
      std::fill(b.targets.begin(), b.targets.end(), typename B::value_type(0));
    }
    std::vector<float> sample(plane);
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t i = order_[begin + k];
      b.samples.push_back(i);
      const data::image* cached = store_.cached(i);
      data::image decoded;
      if (!cached) {
        decoded = store_.get(i);
        cached = &decoded;
      }
      if (o_.train) {
        std::mt19937_64 r(sample_seed(o_.seed, epoch_, i));
        augment_train(*cached, o_.augment, r, sample.data());
      } else {
        prepare_eval(*cached, o_.augment, sample.data());
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
  std::vector<std::uint32_t> subset_;

  std::vector<std::uint32_t> order_;
  std::int64_t epoch_ = 0;
  prefetcher<batch<B>> prefetcher_{o_.workers, o_.prefetch};
};

}  // namespace tailor::pipeline
