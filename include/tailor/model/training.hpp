#pragma once
// Training and evaluating Model objects in the workspace: the customizer run, kept on disk as it
// goes so that a crash, a kill or a cancel leaves a consistent Model.
//
//   using my_customizer = tailor::customizer<...>;
//   tailor::model_train_spec spec;
//   spec.name = "fruit-model"; spec.dataset = "fruit"; spec.budget_seconds = 600;
//   auto m = tailor::train_model<my_customizer>(ws, spec);          // status succeeded | cancelled
//   auto metrics = tailor::evaluate_model(ws, "fruit-model", "fruit-test", "test");
//
// After every trial model.json is rewritten (the trials table, the compute charged), and every
// better model's weights go to best.safetensors; a killed run is resumed with spec.resume: the
// recorded trials are replayed into the search, their cost carried over, and the search goes on.
// A failure is recorded as failed{code, message} before it is rethrown.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../automl/customizer.hpp"
#include "../eval/classification.hpp"
#include "../nn/safetensors.hpp"
#include "../pipeline/classification_samples.hpp"
#include "../task/classification_scoring.hpp"
#include "../eval/detection_report.hpp"
#include "classifier.hpp"
#include "dataset.hpp"
#include "detector.hpp"
#include "model.hpp"

namespace tailor {

struct model_train_spec {
  std::string name, dataset;
  double budget_seconds = 300;
  std::uint64_t seed = 0;
  std::optional<std::string> eval_dataset;                   // evaluated (as "eval") when training succeeds
  std::map<std::string, std::filesystem::path> pretrained;  // backbone -> .safetensors
  bool resume = false;                                       // continue a killed or cancelled run
  const std::atomic<bool>* cancel = nullptr;                 // set it (e.g. on Ctrl-C) to stop at a safe point
  std::function<void(const automl::progress&)> on_progress;
  std::function<void(const automl::trial_record&)> on_trial;
  // Tuning and tests: the space, the search's options, a known machine speed, patience, a step hook.
  std::optional<automl::search_space> space;
  search::options search;
  std::optional<automl::calibration> machine;
  std::size_t patience = 12;
  double target_score = 1.0;
  bool retrain_on_all = true;
  double validation_fraction = 0.2;  // of the training images held out to score trials
  bool defaults_only = false;  // no search: the default recipe as long as the budget allows
  std::function<void(const automl::trial_record&, int, std::int64_t)> on_step;
};

namespace detail {

// The samples of a stored Dataset for a task: classification samples from a classification
// dataset, detection samples from a detection dataset (anything else is refused with the fix).
template <class Samples>
Samples dataset_samples(const workspace& ws, std::string_view name) {
  const auto d = get_dataset(ws, name);
  constexpr bool detection = std::is_same_v<Samples, pipeline::detection_samples>;
  if ((d.kind == data::dataset_kind::detection) != detection)
    throw error(failure_code::invalid_argument,
                detection ? fmt::format("the dataset '{}' is a classification dataset; a detector trains on boxes: create "
                                        "the dataset from a COCO file with bbox annotations (--kind detection)",
                                        name)
                          : fmt::format("the dataset '{}' is a detection dataset; this model trains classifiers (a "
                                        "detection dataset's boxes cannot train one): create a classification dataset",
                                        name));
  if constexpr (detection) return pipeline::make_detection_samples(open_dataset(d), d.images_root);
  else return pipeline::make_classification_samples(open_dataset(d), d.images_root);
}

inline bool is_multilabel(const pipeline::classification_samples& s) { return s.multilabel; }
inline bool is_multilabel(const pipeline::detection_samples&) { return false; }

// A detection model's COCO metrics on a detection Dataset: its detections (class names mapped to
// the dataset's category ids) against the dataset's boxes, reported as `tailor eval` does.
inline nlohmann::ordered_json evaluate_detector(const workspace& ws, std::string_view model_name, std::string_view dataset_name) {
  auto d = detector::load(ws, model_name);
  const auto stored = get_dataset(ws, dataset_name);
  if (stored.kind != data::dataset_kind::detection)
    throw error(failure_code::invalid_argument,
                fmt::format("the dataset '{}' has no boxes; evaluate the detector '{}' on a detection dataset", dataset_name,
                            model_name));
  const auto coco = open_dataset(stored);
  const auto samples = pipeline::make_detection_samples(coco, stored.images_root);
  const auto& classes = d.info().classes;
  std::vector<std::int64_t> category_of(classes.size(), 0);
  std::vector<std::string> unknown;
  for (std::size_t k = 0; k < samples.class_names.size(); ++k) {
    const auto it = std::find(classes.begin(), classes.end(), samples.class_names[k]);
    if (it == classes.end()) unknown.push_back(samples.class_names[k]);
    else category_of[std::size_t(it - classes.begin())] = samples.class_ids[k];
  }
  if (!unknown.empty())
    throw error(failure_code::invalid_argument,
                fmt::format("the dataset '{}' has tags the model '{}' was not trained on: {}; evaluate on a dataset with "
                            "the model's tags ({})",
                            dataset_name, model_name, fmt::join(unknown, ", "), fmt::join(classes, ", ")));
  pipeline::image_store_options so;
  so.max_side = d.info().decode_side;
  pipeline::image_store store(samples.files, so);
  store.preload();
  const auto found = d.detections(store, samples.sizes);
  std::vector<eval::detection> results;
  for (std::size_t i = 0; i < found.size(); ++i)
    for (const auto& b : found[i]) {
      if (category_of[std::size_t(b.class_id)] == 0) continue;  // a tag this dataset does not have
      const auto c = detection::to_coco(b.box);
      results.push_back({samples.image_ids[i], category_of[std::size_t(b.class_id)], c.x, c.y, c.w, c.h, double(b.score)});
    }
  eval::detection_report_options o;
  o.ious = {0.3, 0.5, 0.75};
  return eval::detection_report_json(coco, results, o);
}

// Sets `flag` when the cancel file appears or `outer` is set, polling a few times a second.
class cancel_watch {
 public:
  cancel_watch(std::filesystem::path file, const std::atomic<bool>* outer, std::atomic<bool>& flag)
      : thread_([file = std::move(file), outer, &flag](std::stop_token stop) {
          while (!stop.stop_requested()) {
            std::error_code ec;
            if ((outer && outer->load()) || std::filesystem::exists(file, ec)) flag = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }) {}

 private:
  std::jthread thread_;
};

}  // namespace detail

// Evaluates a model on a Dataset (its tags must be the model's), stores the metrics under
// `evaluation_name` (replacing one of that name) and returns them: the keys of `tailor eval`.
inline nlohmann::ordered_json evaluate_model(const workspace& ws, std::string_view model_name, std::string_view dataset_name,
                                             std::string_view evaluation_name) {
  check_name(evaluation_name, "evaluation");
  const auto store_metrics = [&](nlohmann::ordered_json metrics) {
    auto m = get_model(ws, model_name);
    std::erase_if(m.evaluations, [&](const model_evaluation& e) { return e.name == evaluation_name; });
    m.evaluations.push_back({std::string(evaluation_name), std::string(dataset_name), detail::utc_now(), metrics});
    save_model(ws, m);
    return metrics;
  };
  if (get_model(ws, model_name).task == "detection") return store_metrics(detail::evaluate_detector(ws, model_name, dataset_name));
  auto c = classifier::load(ws, model_name);
  const auto samples = detail::dataset_samples<pipeline::classification_samples>(ws, dataset_name);
  const auto& classes = c.info().classes;
  std::vector<std::int32_t> index_of(samples.class_names.size(), -1);
  std::vector<std::string> unknown;
  for (std::size_t k = 0; k < samples.class_names.size(); ++k) {
    const auto it = std::find(classes.begin(), classes.end(), samples.class_names[k]);
    if (it == classes.end()) unknown.push_back(samples.class_names[k]);
    else index_of[k] = std::int32_t(it - classes.begin());
  }
  if (!unknown.empty())
    throw error(failure_code::invalid_argument,
                fmt::format("the dataset '{}' has tags the model '{}' was not trained on: {}; evaluate on a dataset with "
                            "the model's tags ({})",
                            dataset_name, model_name, fmt::join(unknown, ", "), fmt::join(classes, ", ")));
  if (samples.multilabel != c.info().multilabel)
    throw error(failure_code::invalid_argument,
                fmt::format("the dataset '{}' is {} and the model '{}' is {}", dataset_name,
                            samples.multilabel ? "multilabel" : "multiclass", model_name,
                            c.info().multilabel ? "multilabel" : "multiclass"));
  pipeline::image_store_options so;
  so.max_side = c.info().decode_side;
  pipeline::image_store store(samples.files, so);
  store.preload();
  const auto p = c.probabilities(store);
  eval::classification_metrics_options mo;
  mo.class_names = classes;
  const auto acc = task::score_predictions(p, samples.labels, {}, samples.multilabel, mo, index_of);
  return store_metrics(acc.report());
}

template <class Customizer>
model_object train_model(const workspace& ws, const model_train_spec& spec) {
  model_object m;
  if (spec.resume) {
    m = get_model(ws, spec.name);
    if (m.status == model_status::succeeded)
      throw error(failure_code::invalid_argument,
                  fmt::format("the model '{}' has finished training; train a new model to search again", spec.name));
    if (m.dataset != spec.dataset)
      throw error(failure_code::invalid_argument,
                  fmt::format("the model '{}' was trained on dataset '{}', not '{}'", spec.name, m.dataset, spec.dataset));
  } else {
    m = create_model(ws, spec.name, spec.dataset);
  }
  const auto dir = model_dir(ws, spec.name);
  std::error_code ec;
  std::filesystem::remove(dir / "cancel", ec);
  const auto samples = detail::dataset_samples<typename Customizer::samples_type>(ws, spec.dataset);

  std::vector<automl::trial_record> earlier;
  nn::safetensors_map earlier_best;
  const double earlier_cost = spec.resume ? m.cost_seconds : 0.0;
  if (spec.resume) {
    earlier = m.trials;
    if (std::filesystem::is_regular_file(dir / "best.safetensors", ec))
      earlier_best = nn::read_safetensors(dir / "best.safetensors").tensors;
  } else {
    m.trials.clear();
  }
  m.status = model_status::training;
  m.failure.reset();
  m.failure_message.clear();
  m.budget_seconds = spec.budget_seconds;
  m.seed = spec.seed;
  m.search_strategy = std::string(Customizer::search_name);
  m.budget_policy = std::string(Customizer::budget_name);
  m.pretrained.clear();
  for (const auto& [b, f] : spec.pretrained) m.pretrained[b] = std::filesystem::absolute(f).string();
  m.task = std::string(Customizer::task_name);
  m.classes = samples.class_names;
  m.multilabel = detail::is_multilabel(samples);
  save_model(ws, m);

  std::atomic<bool> cancel{false};
  double charged = earlier_cost;
  automl::customize_options o;
  o.budget_seconds = spec.budget_seconds;
  o.seed = spec.seed;
  o.space = spec.space;
  o.search = spec.search;
  o.machine = spec.machine;
  o.patience = spec.patience;
  o.target_score = spec.target_score;
  o.retrain_on_all = spec.retrain_on_all;
  o.validation_fraction = spec.validation_fraction;
  o.defaults_only = spec.defaults_only;
  o.pretrained = spec.pretrained;
  o.cancel = &cancel;
  o.on_step = spec.on_step;
  o.resume_trials = std::move(earlier);
  o.resume_charged = earlier_cost;
  o.resume_best_weights = std::move(earlier_best);
  o.on_progress = [&](const automl::progress& p) {
    charged = p.charged;
    if (spec.on_progress) spec.on_progress(p);
  };
  o.on_trial = [&](const automl::trial_record& r) {
    m.trials.push_back(r);
    m.cost_seconds = charged;
    save_model(ws, m);
    if (spec.on_trial) spec.on_trial(r);
  };
  o.on_best = [&](std::size_t id, const nn::safetensors_map& weights) {
    nn::write_safetensors(dir / "best.safetensors", weights, {{"format", "pt"}, {"trial", std::to_string(id)}});
    m.best_trial = id;
    save_model(ws, m);
  };

  automl::customize_result r;
  try {
    detail::cancel_watch watch(dir / "cancel", spec.cancel, cancel);
    r = Customizer().train(samples, o);
  } catch (const error& e) {
    m = get_model(ws, spec.name);  // the trials recorded so far
    m.status = model_status::failed;
    m.failure = e.code();
    m.failure_message = e.what();
    m.cost_seconds = charged;
    save_model(ws, m);
    throw;
  } catch (const std::exception& e) {
    m = get_model(ws, spec.name);
    m.status = model_status::failed;
    m.failure = failure_code::unknown;
    m.failure_message = fmt::format("unexpected: {}", e.what());
    m.cost_seconds = charged;
    save_model(ws, m);
    throw error(failure_code::unknown, m.failure_message);
  }
  std::filesystem::remove(dir / "cancel", ec);

  m = get_model(ws, spec.name);
  m.cost_seconds = r.charged;
  m.planning_seconds = r.planning_seconds;
  m.machine = r.machine;
  m.stopping_reason = r.stopping_reason;
  m.space = r.space_description;
  m.trials = r.trials;
  m.best_trial = r.best_trial;
  m.validation = r.validation;
  m.train_images = r.train_images;
  m.validation_images = r.validation_images;
  m.score_name = r.score_name;
  m.baseline_score = r.baseline_score;
  if (r.best_trial) {
    m.backbone = r.backbone;
    m.convention = r.backbone_options.convention;
    m.width = r.backbone_options.width;
    m.epochs = r.epochs;
    m.configuration = r.configuration;
    m.retrained_on_all = r.retrained_on_all;
    const bool detection = r.task == "detection";
    m.input_size = detection ? r.detection_preprocessing.size : r.preprocessing.size;
    m.test_time = detection ? pipeline::test_time::plain : r.test_time;
    m.decode_side = r.decode_side;
    m.mean = detection ? r.detection_preprocessing.mean : r.preprocessing.mean;
    m.std = detection ? r.detection_preprocessing.std : r.preprocessing.std;
    m.fpn_channels = r.fpn_channels;
    m.head_convs = r.head_convs;
    m.detector_head = r.detector_head;
    m.validation_score = r.validation_score;
    m.validation_metrics = r.validation_metrics;
    nn::write_safetensors(dir / "weights.safetensors", r.weights,
                          {{"format", "pt"}, {"model", m.name}, {"backbone", m.backbone}, {"tailor_version", std::string(version)}});
  }
  std::filesystem::remove(dir / "best.safetensors", ec);
  m.status = r.status == automl::run_status::cancelled ? model_status::cancelled : model_status::succeeded;
  save_model(ws, m);
  if (spec.eval_dataset && m.status == model_status::succeeded) {
    (void)evaluate_model(ws, m.name, *spec.eval_dataset, "eval");
    m = get_model(ws, spec.name);
  }
  return m;
}

}  // namespace tailor
