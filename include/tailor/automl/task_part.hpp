#pragma once
// What the customizer's run asks of a task (classification, detection): the task part. The run
// owns what every task shares — calibration, the budget, the split's size rule, the search, the
// opening, retries, the final retraining; the part owns what differs — the samples, the default
// search space, the network a trial trains, how a trial is scored on its validation images, and
// the metrics reported for the chosen one.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../nn/backbones/mobilenet_v3_timm.hpp"
#include "../nn/safetensors.hpp"
#include "../nn/weights.hpp"
#include "../train/fit.hpp"
#include "search_space.hpp"
#include "validation_split.hpp"

namespace tailor::automl {

// What one step costs per image, measured before anything is charged.
struct step_cost {
  double train = 0, eval = 0;  // busy seconds per image at `size`
  int size = 64;
  double at(double per_image, int s) const { return per_image * double(s) * double(s) / (double(size) * double(size)); }
};

// What the run hands a part for one training (a fold, or all the images).
struct fold_hooks {
  std::function<bool()> keep_going;         // asked before every step and validation batch; charges the time
  std::function<int(int, int)> replan;      // may be empty (k folds)
  std::function<void()> validating;         // called once training is over, before the validation
  std::function<void()> epoch_end;          // after every epoch (may be empty)
  // Called when training stopped before its last epoch: true abandons the fold (nothing is
  // validated), false validates what was trained.
  std::function<bool(const train::fit_result&)> abandon;
  int loader_workers = 2;
  std::size_t validation_batch = 64;  // the part's own (what the budget's reserve was sized for)
  std::uint64_t seed = 0;
  std::optional<std::filesystem::path> pretrained;  // the backbone's .safetensors
};

// What a part gives back for one training.
template <class Predictions>
struct fold_outcome {
  bool stopped = false;    // abandoned: not validated, no weights
  bool cut_short = false;   // fewer epochs (or steps) than asked, to fit the budget
  bool lengthened = false;  // more epochs than asked: the budget had room for them
  int epochs_trained = 0;
  std::optional<Predictions> predictions;  // on the split's validation images (none for all images)
  nn::safetensors_map weights;
};

// The fit options every task shares, from a trial's recipe and the run's hooks.
template <class FitOptions>
void apply_recipe(FitOptions& f, const trial_config& c, int epochs, const validation_split& split, bool all_images,
                  const fold_hooks& h) {
  f.epochs = epochs;
  f.train.optimizer = c.optimizer;
  f.train.lr = c.learning_rate;
  f.train.weight_decay = c.weight_decay;
  f.warmup_epochs = std::min(1.0, 0.1 * epochs);
  f.loader.batch_size = c.batch_size;
  f.loader.drop_last = true;
  f.loader.workers = h.loader_workers;
  f.loader.seed = h.seed;
  f.subset = all_images ? std::vector<std::uint32_t>{} : split.train;
  f.keep_going = h.keep_going;
  f.replan = h.replan;
  if (h.epoch_end) f.on_epoch = [end = h.epoch_end](const auto&) { end(); };
}

// What follows a fit: abandon the fold, or validate with predict() (nullopt: the budget stopped
// the validation) and keep the weights.
template <class Predictions, class Net, class Predict>
fold_outcome<Predictions> finish_fold(const train::fit_result& fitted, Net& net, bool all_images, const fold_hooks& h,
                                      Predict&& predict) {
  fold_outcome<Predictions> out;
  out.epochs_trained = int(fitted.epochs.size());
  if (fitted.stopped && h.abandon(fitted)) {
    out.stopped = true;
    return out;
  }
  out.cut_short = fitted.stopped || fitted.shortened;
  out.lengthened = fitted.lengthened && !out.cut_short;
  if (!all_images) {
    h.validating();
    out.predictions = predict();
    if (!out.predictions) {
      out.stopped = true;
      return out;
    }
  }
  out.weights = nn::to_safetensors(net);
  return out;
}

// A batch of n constant images of size x size: what the probes time (the cost does not depend on
// the pixels).
template <class B>
typename B::tensor random_batch(std::size_t n, int size) {
  using tensor = typename B::tensor;
  tensor x = tensor::from_shape({n, 3, std::size_t(size), std::size_t(size)});
  std::fill(x.begin(), x.end(), typename B::value_type(0.1));
  return x;
}

// A warm-up step, then the faster of two timed steps and one forward, on a batch of n images:
// per-image costs at a small batch overstate a real batch's (the fixed cost of many small
// layers), which once cost a short budget its best backbone.
template <class B, class Step, class Forward>
step_cost time_probe(int size, std::size_t n, Step&& step, Forward&& forward) {
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  step_cost c;
  c.size = size;
  step();
  c.train = 1e300;
  for (int k = 0; k < 2; ++k) {
    const auto t0 = clock::now();
    step();
    c.train = std::min(c.train, since(t0) / double(n));
  }
  const auto t0 = clock::now();
  forward();
  c.eval = since(t0) / double(n);
  return c;
}

// Loads a backbone's pretrained file (torchvision's or timm's names) into a network, leaving out
// the parts that start from scratch (`skip`: the classifier, or a detector's neck and head).
template <class Tag, class Net>
void load_pretrained_backbone(Net& net, const std::filesystem::path& file, const nn::backbone_options& bo,
                              std::vector<std::string> skip) {
  nn::load_options lo;
  if (bo.convention == nn::weights_convention::timm)
    lo = nn::timm_mobilenet_v3_load_options(Tag::name == std::string_view("mobilenet_v3_large") ? nn::mobilenet_v3_size::large
                                                                                               : nn::mobilenet_v3_size::small);
  lo.skip_prefixes = std::move(skip);
  nn::load_weights(net, file, lo);
}

}  // namespace tailor::automl
