#pragma once
// What a customizer is given (customize_options), what it reports as it goes (progress) and what
// it gives back (customize_result), for every task.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../nn/backbone.hpp"
#include "../nn/safetensors.hpp"
#include "../pipeline/augment.hpp"
#include "../pipeline/detection_augment.hpp"
#include "calibration.hpp"
#include "search.hpp"
#include "search_space.hpp"
#include "trial_record.hpp"

namespace tailor::automl {

// Where a run stands, after every step.
struct progress {
  double budget = 0, charged = 0;
  std::size_t trial = 0, trials_done = 0;
  std::string description;
  int epochs = 0;
  std::int64_t step = 0, steps = 0;  // of the current trial (all folds)
  std::optional<double> best_score;
  std::string phase;  // planning | decoding | trial | retraining
};

struct customize_options {
  double budget_seconds = 300;
  std::uint64_t seed = 0;
  // The space to search; empty backbones: the customizer's list, with sizes and defaults chosen
  // from the data (default_space).
  std::optional<search_space> space;
  search::options search;
  double validation_fraction = 0.2;
  // When the opening is the run (the budget cannot buy the top rung's epochs of the defaults),
  // the hold-out shrinks to this share, or lean_validation_images when that is more (customizer's
  // lean_holdout); set it to validation_fraction to keep the hold-out.
  double lean_validation_fraction = 0.05;
  std::size_t lean_validation_images = 64;
  std::size_t patience = 12;         // trials without a better score before the search stops
  double target_score = 1.0;         // a validation score this high ends the search
  bool retrain_on_all = true;
  // A budget too short for a search around a full run of the defaults trains the defaults first:
  // the top rung's epochs, or as long as the budget allows (see plan_opening); false: the
  // strategy alone decides.
  bool opening = true;
  // No search: the defaults alone, for as many epochs as the budget buys (the fixed recipe AutoML
  // is measured against, and a quick model when the search is not wanted).
  bool defaults_only = false;
  std::map<std::string, std::filesystem::path> pretrained;  // backbone name -> .safetensors (torchvision or timm names)
  std::optional<calibration> machine;  // measured when not given
  // When measured: one more calibration round after the first epoch that ends this many busy
  // seconds after the last round (automl/calibration.hpp; 0: the first measurement only).
  double recalibrate_seconds = 10;
  int loader_workers = 2;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const progress&)> on_progress;
  std::function<void(const trial_record&)> on_trial;
  // A better model was found (trial id, its weights): the Model object saves them as it goes.
  std::function<void(std::size_t, const nn::safetensors_map&)> on_best;
  // Called before every training step; may throw (tests inject system failures with it).
  std::function<void(const trial_record&, int attempt, std::int64_t step)> on_step;
  // Continue an earlier run: its trials are replayed into the search (not run again), its charge
  // and best weights carried over.
  std::vector<trial_record> resume_trials;
  double resume_charged = 0;
  nn::safetensors_map resume_best_weights;
};

enum class run_status { succeeded, cancelled };

struct customize_result {
  run_status status = run_status::succeeded;
  std::string stopping_reason;
  std::vector<trial_record> trials;
  std::optional<std::size_t> best_trial;
  trial_config config;
  std::string backbone;
  nn::backbone_options backbone_options;
  int epochs = 0;             // what the final weights trained
  std::string configuration;  // the chosen configuration and those epochs, in words
  bool retrained_on_all = false;
  nn::safetensors_map weights;  // the final model's tensors, by torchvision's names
  double budget = 0, charged = 0;
  double decode_cost = 0, retrain_cost = 0;  // budget units of the decoding and the final retraining
  calibration machine;
  double planning_seconds = 0;  // calibration and step probes: not charged
  std::string task = "classification";  // classification | detection
  std::vector<std::string> classes;
  bool multilabel = false;
  pipeline::augment_options preprocessing;  // classification: the evaluation transform
  pipeline::test_time test_time = pipeline::test_time::plain;  // classification: what the evaluation averages over
  // Detection: the letterbox at the chosen input size, and the detector's neck and head.
  pipeline::detection_augment_options detection_preprocessing;
  int fpn_channels = 0, head_convs = 0;
  std::string detector_head;       // detection: "centernet" or "fcos" (detection/head_kind.hpp)
  int decode_side = 0;             // the images' longer side when decoded, before the resize to the input size
  std::string score_name;          // accuracy_top1, average_precision (macro) or mAP (COCO @[.50:.95])
  double validation_score = 0, baseline_score = 0;
  nlohmann::ordered_json validation_metrics;  // the task's report (classification or COCO) on the best trial's validation images
  std::size_t train_images = 0, validation_images = 0;
  std::string validation;          // "hold-out 20%" or "3-fold"
  std::string space_description;
};

}  // namespace tailor::automl
