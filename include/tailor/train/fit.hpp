#pragma once
// Training a classification network on images for a number of epochs, in one of three
// fine-tuning modes:
//   full          every parameter trains;
//   partial       the backbone's first `frozen_stages` stages keep their (pretrained) weights;
//   linear_probe  the whole backbone is frozen: its pooled features are computed once (evaluation
//                 transform, no augmentation) and cached, and only the head trains on them — the
//                 fast path for few-shot data with a pretrained backbone.
// Reports each epoch (loss, training accuracy, throughput, learning rate) through a callback, and
// stops with training_diverged as the trainer does.
#include <chrono>
#include <filesystem>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../pipeline/batch_loader.hpp"
#include "checkpoint.hpp"
#include "classification_trainer.hpp"

namespace tailor::train {

enum class finetune_mode { full, partial, linear_probe };

struct epoch_report {
  int epoch = 0;
  double loss = 0, train_accuracy = 0, learning_rate = 0, seconds = 0, images_per_second = 0;
};

struct fit_options {
  int epochs = 10;
  finetune_mode mode = finetune_mode::full;
  int frozen_stages = 0;  // partial mode
  classification_train_options train;  // total_steps / warmup_steps are filled in from the epochs
  double warmup_epochs = 1.0;
  pipeline::loader_options loader;
  std::function<void(const epoch_report&)> on_epoch;
  // When set, a checkpoint is written there after every epoch (atomically); with resume = true a
  // run continues from it (and refuses one made with other options).
  std::filesystem::path checkpoint;
  bool resume = false;
  // The samples of the store to train on (a training split); empty: all of them.
  std::vector<std::uint32_t> subset;
  // Asked before every step (and every batch of the linear probe's feature pass); false stops the
  // run there, between two steps (fit_result::stopped): how a budget or a cancel stops training.
  std::function<bool()> keep_going;
  // Asked after every epoch but the last (epochs done, epochs planned); an answer below the plan
  // shortens the run, one above lengthens it, its learning-rate schedule with it (how a budget
  // that runs slower than estimated still gets a finished model, and one that runs faster is
  // spent). Not for the linear probe, whose epochs are cheap.
  std::function<int(int, int)> replan;
};

struct fit_result {
  std::vector<epoch_report> epochs;
  std::int64_t steps = 0;
  bool stopped = false;  // keep_going said no before the last epoch ended
  // After the replans, fewer or more epochs than first planned (epochs.size() says how many ran).
  bool shortened = false, lengthened = false;
};

namespace detail {

// The training split in a checkpoint's configuration: its size and an FNV-1a hash of its indices,
// so that a checkpoint made on another split is not resumed.
inline std::string subset_fingerprint(const std::vector<std::uint32_t>& subset) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (auto i : subset) hash = (hash ^ i) * 0x100000001b3ull;
  return fmt::format("{}:{:016x}", subset.size(), hash);
}

// After an epoch: the network and the trainer's state, as a checkpoint that epoch + 1 resumes from.
template <class Net, class Trainer>
void save_epoch_checkpoint(const std::filesystem::path& file, Net& net, Trainer& trainer, int epoch, const std::string& config) {
  checkpoint_info info;
  info.epoch = epoch;
  info.config = config;
  info.steps = trainer.steps();
  info.first_loss = trainer.first_loss();
  save_checkpoint(file, net, trainer, info);
}

// After an epoch but the last (`done` epochs of `epochs`, `first_plan` at the start): another
// number of epochs than planned shortens or lengthens the run, and the cosine schedule ends at the
// new last step.
template <class Trainer>
void apply_replan(const std::function<int(int, int)>& replan, int done, int& epochs, int first_plan, Trainer& trainer,
                  std::int64_t steps_per_epoch, fit_result& result) {
  if (!replan || done >= epochs) return;
  const int planned = std::max(done, replan(done, epochs));
  if (planned == epochs) return;
  epochs = planned;
  trainer.set_total_steps(steps_per_epoch * planned);
  result.shortened = planned < first_plan;
  result.lengthened = planned > first_plan;
}

}  // namespace detail

// The options a checkpoint must agree with to be resumed (everything that changes the numbers).
inline std::string fit_config_text(const fit_options& o, std::string_view network) {
  const auto& t = o.train;
  const auto& a = o.loader.augment;
  return fmt::format(
      "network={} epochs={} mode={} frozen_stages={} optimizer={} lr={} momentum={} nesterov={} weight_decay={} "
      "label_smoothing={} clip_norm={} warmup_epochs={} batch={} drop_last={} seed={} size={} scale=[{},{}] "
      "ratio=[{},{}] flip={} jitter=[{},{},{}] subset={}",
      network, o.epochs, int(o.mode), o.frozen_stages, int(t.optimizer), t.lr, t.momentum, t.nesterov, t.weight_decay,
      t.label_smoothing, t.clip_norm, o.warmup_epochs, o.loader.batch_size, o.loader.drop_last, o.loader.seed, a.size,
      a.scale_min, a.scale_max, a.ratio_min, a.ratio_max, a.horizontal_flip, a.brightness, a.contrast, a.saturation,
      detail::subset_fingerprint(o.subset));
}

namespace detail {
template <class T>
int argmax_row(const T* row, int c) {
  int best = 0;
  for (int k = 1; k < c; ++k)
    if (row[k] > row[best]) best = k;  // first wins ties, as np.argmax
  return best;
}
// The head of a classification network as a network of its own (the linear probe's trainer).
template <class Net>
struct head_only {
  using backend = typename Net::backend;
  using tensor = typename backend::tensor;
  Net& net;
  int classes() const { return net.classes(); }
  tensor forward(tensor x, bool training) { return net.head().forward(std::move(x), training); }
  void backward(const tensor& g) { net.head().backward(g, false); }
  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    net.head().visit_parameters(prefix, f);
  }
};

}  // namespace detail

template <class Net>
fit_result fit_classifier(Net& net, const pipeline::image_store& store, const std::vector<std::vector<std::int32_t>>& labels,
                          bool multilabel, fit_options o) {
  using B = typename Net::backend;
  using tensor = typename B::tensor;
  const int classes = net.classes();
  fit_result result;
  if (o.mode == finetune_mode::partial) net.backbone().freeze_stages(o.frozen_stages);
  if (o.mode == finetune_mode::linear_probe) net.backbone().freeze_stages(net.backbone().stage_count());

  o.loader.train = o.mode != finetune_mode::linear_probe;
  pipeline::batch_loader<B> loader(store, labels, classes, multilabel, o.loader, o.subset);
  auto stop_here = [&] { return o.keep_going && !o.keep_going(); };
  const auto per_epoch = std::int64_t(loader.batches_per_epoch());
  const int first_plan = o.epochs;
  o.train.total_steps = std::max<std::int64_t>(1, per_epoch * o.epochs);
  o.train.warmup_steps = std::int64_t(o.warmup_epochs * double(per_epoch));
  o.train.multilabel = multilabel;

  // Linear probe: the frozen backbone's features, once, then batches of cached features.
  std::vector<tensor> feature_batches;
  std::vector<pipeline::batch<B>> probe_batches;
  if (o.mode == finetune_mode::linear_probe) {
    loader.start_epoch(0);
    while (auto b = loader.next()) {
      if (stop_here()) {
        result.stopped = true;
        return result;
      }
      feature_batches.push_back(net.backbone().forward(std::move(b->images), false));
      b->images = tensor();
      probe_batches.push_back(std::move(*b));
    }
  }

  detail::head_only<Net> head{net};
  classification_trainer<Net> full_trainer(net, o.train);
  classification_trainer<detail::head_only<Net>> probe_trainer(head, o.train);
  const bool probe = o.mode == finetune_mode::linear_probe;

  std::size_t parameters = 0;
  net.visit_parameters("", [&](const std::string&, auto& p) { parameters += p.value.size(); });
  const std::string config = fit_config_text(o, fmt::format("{} classes={} parameters={}", Net::backbone_name, classes, parameters));
  int first_epoch = 0;
  if (o.resume) {
    std::error_code ec;
    if (o.checkpoint.empty() || !std::filesystem::exists(o.checkpoint, ec))
      throw error(failure_code::invalid_argument,
                  fmt::format("cannot resume: no checkpoint at '{}' (start the run without resume)", o.checkpoint.string()));
    const auto info = probe ? load_checkpoint(o.checkpoint, net, probe_trainer, config)
                            : load_checkpoint(o.checkpoint, net, full_trainer, config);
    first_epoch = int(info.epoch + 1);
  }

  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    epoch_report rep;
    rep.epoch = epoch;
    rep.learning_rate = o.mode == finetune_mode::linear_probe ? probe_trainer.learning_rate() : full_trainer.learning_rate();
    double loss_sum = 0;
    std::size_t seen = 0, correct = 0;
    auto account = [&](double loss, std::size_t n, const tensor& logits, const pipeline::batch<B>& b) {
      loss_sum += loss * double(n);
      seen += n;
      if (!multilabel)
        for (std::size_t i = 0; i < n; ++i)
          correct += detail::argmax_row(logits.data() + i * std::size_t(classes), classes) == b.labels[i];
    };
    if (o.mode == finetune_mode::linear_probe) {
      // Shuffle the cached batches' order per epoch; the batches themselves stay as computed.
      std::vector<std::size_t> order(feature_batches.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::mt19937_64 r(backend::cpu_detail::splitmix64(o.loader.seed + std::uint64_t(epoch)));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r() % i]);
      for (auto k : order) {
        if ((result.stopped = stop_here())) break;
        const auto& b = probe_batches[k];
        const double loss = multilabel ? probe_trainer.step(feature_batches[k], b.targets) : probe_trainer.step(feature_batches[k], b.labels);
        account(loss, b.labels.size(), head.forward(feature_batches[k], false), b);
      }
    } else {
      loader.start_epoch(epoch);
      while (auto b = loader.next()) {
        if ((result.stopped = stop_here())) break;
        const std::size_t n = b->labels.size();
        // Dropout masks from the step number: the same after a resume.
        net.backbone().reseed_dropout(backend::cpu_detail::splitmix64(o.loader.seed ^ std::uint64_t(full_trainer.steps())));
        tensor logits;
        const double loss = multilabel ? full_trainer.step(std::move(b->images), b->targets, &logits)
                                       : full_trainer.step(std::move(b->images), b->labels, &logits);
        account(loss, n, logits, *b);
      }
    }
    if (result.stopped) break;  // a partial epoch is neither reported nor checkpointed
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rep.loss = seen ? loss_sum / double(seen) : 0;
    rep.train_accuracy = seen && !multilabel ? double(correct) / double(seen) : 0;
    rep.images_per_second = rep.seconds > 0 ? double(seen) / rep.seconds : 0;
    result.epochs.push_back(rep);
    if (!o.checkpoint.empty()) {
      if (probe) detail::save_epoch_checkpoint(o.checkpoint, net, probe_trainer, epoch, config);
      else detail::save_epoch_checkpoint(o.checkpoint, net, full_trainer, epoch, config);
    }
    if (o.on_epoch) o.on_epoch(rep);
    if (!probe) detail::apply_replan(o.replan, epoch + 1, o.epochs, first_plan, full_trainer, per_epoch, result);
  }
  result.steps = probe ? probe_trainer.steps() : full_trainer.steps();
  return result;
}

}  // namespace tailor::train
