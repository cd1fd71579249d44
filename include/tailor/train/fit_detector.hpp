#pragma once
// Training a detector on images for a number of epochs: the detection loader's batches (box-aware
// augmentation), the FCOS loss, the optimizer and schedule; full fine-tuning or the backbone's
// first stages frozen. The same contract as fit_classifier: a report per epoch, keep_going between
// steps (a budget or a cancel), replan after each epoch (a shorter or longer run, its schedule with it),
// checkpoints after each epoch and resume from one.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "../pipeline/detection_loader.hpp"
#include "checkpoint.hpp"
#include "detection_trainer.hpp"
#include "fit.hpp"  // epoch_report, fit_result

namespace tailor::train {

struct detector_fit_options {
  int epochs = 10;
  int frozen_stages = 0;          // the backbone's first stages that keep their (pretrained) weights
  detection_train_options train;  // total_steps / warmup_steps are filled in from the epochs
  double warmup_epochs = 1.0;
  pipeline::detection_loader_options loader;
  std::function<void(const epoch_report&)> on_epoch;
  std::filesystem::path checkpoint;  // written after every epoch when set; resume = true continues from it
  bool resume = false;
  std::vector<std::uint32_t> subset;  // the samples to train on; empty: all
  std::function<bool()> keep_going;   // asked before every step; false stops the run there
  std::function<int(int, int)> replan;  // (epochs done, planned) -> epochs to run, after every epoch but the last
};

// The options a checkpoint must agree with to be resumed.
inline std::string detector_fit_config_text(const detector_fit_options& o, std::string_view network) {
  const auto& t = o.train;
  const auto& a = o.loader.augment;
  return fmt::format(
      "network={} epochs={} frozen_stages={} optimizer={} lr={} momentum={} nesterov={} weight_decay={} clip_norm={} "
      "warmup_epochs={} focal=[{},{}] weights=[{},{}] center_radius={} batch={} drop_last={} seed={} size={} "
      "scale=[{},{}] flip={} jitter=[{},{},{}] min_visible={} subset={}",
      network, o.epochs, o.frozen_stages, int(t.optimizer), t.lr, t.momentum, t.nesterov, t.weight_decay, t.clip_norm,
      o.warmup_epochs, t.loss.focal_alpha, t.loss.focal_gamma, t.loss.box_weight, t.loss.centerness_weight,
      t.targets.center_radius, o.loader.batch_size, o.loader.drop_last, o.loader.seed, a.size, a.scale_min, a.scale_max,
      a.horizontal_flip, a.brightness, a.contrast, a.saturation, a.min_visible,
      detail::subset_fingerprint(o.subset));
}

// Trainer: the head's loss (detection_trainer: FCOS; centernet_trainer: the CenterNet-style head).
template <class Net, template <class> class Trainer = detection_trainer>
fit_result fit_detector(Net& net, const pipeline::image_store& store, const std::vector<std::vector<detection::gt_box>>& boxes,
                        const std::vector<std::array<int, 2>>& sizes, detector_fit_options o) {
  using B = typename Net::backend;
  fit_result result;
  net.backbone().freeze_stages(o.frozen_stages);
  o.loader.train = true;
  pipeline::detection_loader<B> loader(store, boxes, sizes, o.loader, o.subset);
  auto stop_here = [&] { return o.keep_going && !o.keep_going(); };
  const auto per_epoch = std::int64_t(loader.batches_per_epoch());
  const int first_plan = o.epochs;
  o.train.total_steps = std::max<std::int64_t>(1, per_epoch * o.epochs);
  o.train.warmup_steps = std::int64_t(o.warmup_epochs * double(per_epoch));
  Trainer<Net> trainer(net, o.train);

  std::size_t parameters = 0;
  net.visit_parameters("", [&](const std::string&, auto& p) { parameters += p.value.size(); });
  const std::string config =
      // The head's loss too: a checkpoint trained for one head is not resumed with the other.
      detector_fit_config_text(o, fmt::format("detector/{} head={} classes={} parameters={}", Net::backbone_name,
                                              detection::to_string(Trainer<Net>::head), net.classes(), parameters));
  int first_epoch = 0;
  if (o.resume) {
    std::error_code ec;
    if (o.checkpoint.empty() || !std::filesystem::exists(o.checkpoint, ec))
      throw error(failure_code::invalid_argument,
                  fmt::format("cannot resume: no checkpoint at '{}' (start the run without resume)", o.checkpoint.string()));
    first_epoch = int(load_checkpoint(o.checkpoint, net, trainer, config).epoch + 1);
  }

  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    epoch_report rep;
    rep.epoch = epoch;
    rep.learning_rate = trainer.learning_rate();
    double loss_sum = 0;
    std::size_t seen = 0;
    loader.start_epoch(epoch);
    while (auto b = loader.next()) {
      if ((result.stopped = stop_here())) break;
      const std::size_t n = b->boxes.size();
      loss_sum += trainer.step(std::move(b->images), b->boxes).total * double(n);
      seen += n;
    }
    if (result.stopped) break;  // a partial epoch is neither reported nor checkpointed
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rep.loss = seen ? loss_sum / double(seen) : 0;
    rep.images_per_second = rep.seconds > 0 ? double(seen) / rep.seconds : 0;
    result.epochs.push_back(rep);
    if (!o.checkpoint.empty()) detail::save_epoch_checkpoint(o.checkpoint, net, trainer, epoch, config);
    if (o.on_epoch) o.on_epoch(rep);
    detail::apply_replan(o.replan, epoch + 1, o.epochs, first_plan, trainer, per_epoch, result);
  }
  result.steps = trainer.steps();
  return result;
}

}  // namespace tailor::train
