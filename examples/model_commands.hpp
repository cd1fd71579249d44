// The `tailor model ...` and `tailor analyze` commands: training under a budget with a live
// progress line, showing, listing, deleting, cancelling and evaluating Model objects, and
// analyzing images with one.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <tailor/automl/budget.hpp>
#include <tailor/automl/customizer.hpp>
#include <tailor/model/classifier.hpp>
#include <tailor/model/model.hpp>
#include <tailor/model/training.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

#include "detection_commands.hpp"

namespace tailor_cli {

// What the program trains with: the three backbones of the issue, ASHA, calibrated compute time.
using program_customizer =
    tailor::customizer<tailor::task::classification,
                       tailor::backbones<tailor::nn::resnet<18>, tailor::nn::mobilenet_v3_small, tailor::nn::small_cnn>,
                       tailor::search::asha, tailor::budget::compute_time, tailor::backend::cpu>;

struct model_args {
  std::string name, dataset, eval_dataset, budget = "5m", evaluation_name = "eval";
  std::uint64_t seed = 0;
  std::vector<std::string> pretrained;  // BACKBONE=FILE
  bool resume = false, force = false, defaults_only = false;
  double calibration_factor = 0;  // > 0: the machine's factor is given, not measured
  std::vector<std::string> images;
  int top = 5;
  double min_confidence = 0.25;  // detection: objects below it are not shown
  std::string draw;              // detection: where to draw the boxes
};

inline std::atomic<bool> interrupted{false};
inline void on_interrupt(int) {
  interrupted = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the program at once
}

inline std::string score_text(double s) { return fmt::format("{:.4f}", s); }

// [#########...........] 1m12s of 5m | trial 3 mobilenet_v3_small 96px ... | step 40/120 | best 0.9650
inline void print_progress_line(const tailor::automl::progress& p) {
  constexpr int width = 24;
  const double used = p.budget > 0 ? std::min(1.0, p.charged / p.budget) : 0;
  const int filled = int(used * width + 0.5);
  std::string what;
  if (p.phase == "trial")
    what = fmt::format("trial {}: {} | step {}/{}", p.trial, p.description, std::min(p.step, p.steps), p.steps);
  else if (p.phase == "retraining")
    what = fmt::format("retraining on all images: {} | step {}", p.description, p.step);
  else
    what = p.phase;
  std::string line = fmt::format("[{}{}] {} of {} | {}{}", std::string(std::size_t(filled), '#'),
                                 std::string(std::size_t(width - filled), '.'), tailor::budget::format_duration(p.charged),
                                 tailor::budget::format_duration(p.budget), what,
                                 p.best_score ? fmt::format(" | best {}", score_text(*p.best_score)) : std::string());
  if (line.size() > 150) line = line.substr(0, 147) + "...";
  fmt::print(stderr, "\r{:<150}", line);
}

// After a trial's line: its outcome unless completed, whether it was the opening, and why.
inline std::string trial_note(const tailor::automl::trial_record& r) {
  std::string note = r.outcome == "completed" ? "" : r.outcome;
  if (r.opening) note += note.empty() ? "opening" : ", opening";
  if (!r.message.empty()) note += fmt::format(" ({})", r.message.substr(0, 100));
  return note;
}

inline void print_trials(const tailor::model_object& m) {
  if (m.trials.empty()) return;
  fmt::print("  {:>3}  {:<66} {:>6} {:>9} {:>8}  {}\n", "#", "configuration", "epochs", "cost", "score", "outcome");
  for (const auto& t : m.trials) {
    const bool best = m.best_trial && *m.best_trial == t.id;
    fmt::print("  {:>3}  {:<66} {:>6} {:>9} {:>8}  {}{}{}\n", t.id, t.description.substr(0, t.description.rfind(' ', t.description.rfind(' ') - 1)),
               t.epochs_trained > 0 ? t.epochs_trained : t.epochs, tailor::budget::format_duration(t.cost),
               t.outcome == "completed" ? score_text(t.score) : std::string("-"), t.outcome,
               std::string(t.opening ? " (opening)" : "") + (best ? " (best)" : ""),
               t.message.empty() ? std::string() : fmt::format(": {}", t.message.substr(0, 120)));
  }
}

inline void print_model(const tailor::model_object& m) {
  fmt::print("model {} ({})\n", m.name, m.task);
  fmt::print("  dataset:        {}\n", m.dataset);
  fmt::print("  status:         {}{}\n", tailor::to_string(m.status),
             m.failure ? fmt::format(" ({}: {})", tailor::to_string(*m.failure), m.failure_message) : std::string());
  if (m.status == tailor::model_status::not_started) return;
  fmt::print("  budget:         {} of calibrated compute ({}, {} search), {} charged (cost_seconds {:.1f})\n",
             tailor::budget::format_duration(m.budget_seconds), m.budget_policy, m.search_strategy,
             tailor::budget::format_duration(m.cost_seconds), m.cost_seconds);
  fmt::print("  machine:        calibration factor {:.3f} ({:.3f} s for the reference workload{}, {:.3f} s on the reference "
             "machine, {} threads)\n",
             m.machine.factor, m.machine.measured_seconds,
             m.machine.rounds > 0 ? fmt::format(", mean of {} rounds", m.machine.rounds) : std::string(", given"),
             m.machine.reference_seconds, m.machine.threads);
  if (!m.space.empty()) fmt::print("  search space:   {}\n", m.space);
  if (!m.stopping_reason.empty()) fmt::print("  stopped:        {}\n", m.stopping_reason);
  if (!m.backbone.empty()) {
    fmt::print("  chosen:         {}\n", m.configuration);
    fmt::print("  weights:        {}{}\n", m.retrained_on_all ? "trained on all the images" : "the best trial's",
               m.convention == tailor::nn::weights_convention::timm ? " (timm's MobileNetV3 recipe)" : "");
    fmt::print("  validation:     {} {} on {} images ({}; {} baseline {})\n", m.score_name, score_text(m.validation_score),
               m.validation_images, m.validation,
               m.task == "detection" ? "find-nothing" : "always-the-most-frequent-tag", score_text(m.baseline_score));
  }
  fmt::print("  tags:           {}\n", fmt::join(m.classes, ", "));
  for (const auto& e : m.evaluations) {
    fmt::print("  evaluation '{}' on dataset '{}' ({}):\n", e.name, e.dataset, e.created);
    for (const auto& [k, v] : e.metrics.items())
      if (v.is_number()) fmt::print("    {:<28} {:.4f}\n", k, v.get<double>());
  }
  fmt::print("  trials:         {}\n", m.trials.size());
  print_trials(m);
}

inline std::map<std::string, std::filesystem::path> parse_pretrained(const std::vector<std::string>& items) {
  std::map<std::string, std::filesystem::path> out;
  const auto names = program_customizer::backbone_names();
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw tailor::error(tailor::failure_code::invalid_argument,
                          fmt::format("--pretrained '{}': write BACKBONE=FILE.safetensors, BACKBONE one of {}", item,
                                      fmt::join(names, ", ")));
    const std::string backbone = item.substr(0, eq);
    if (std::find(names.begin(), names.end(), backbone) == names.end())
      throw tailor::error(tailor::failure_code::invalid_argument,
                          fmt::format("--pretrained '{}': '{}' is not one of the backbones ({})", item, backbone,
                                      fmt::join(names, ", ")));
    out[backbone] = item.substr(eq + 1);
  }
  return out;
}

inline int run_model_train(const model_args& a, bool json, const std::string& workspace) {
  tailor::workspace ws(workspace);
  tailor::model_train_spec spec;
  spec.name = a.name;
  spec.dataset = a.dataset;
  spec.budget_seconds = tailor::budget::parse_duration(a.budget);
  spec.seed = a.seed;
  spec.resume = a.resume;
  spec.defaults_only = a.defaults_only;
  if (a.calibration_factor > 0) spec.machine = tailor::automl::given_calibration(a.calibration_factor);
  spec.pretrained = parse_pretrained(a.pretrained);
  if (!a.eval_dataset.empty()) spec.eval_dataset = a.eval_dataset;
  spec.cancel = &interrupted;
  std::signal(SIGINT, on_interrupt);
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  bool line_open = false;
  const bool terminal = ::isatty(::fileno(stderr)) != 0;  // a progress line only where it can be redrawn
  if (!json) {
    if (terminal) spec.on_progress = [&](const tailor::automl::progress& p) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::milliseconds(200)) return;
      last = now;
      print_progress_line(p);
      line_open = true;
    };
    spec.on_trial = [&](const tailor::automl::trial_record& r) {
      if (line_open) fmt::print(stderr, "\r{:<150}\r", "");
      line_open = false;
      fmt::print("trial {:>3}  {:<72} {}  cost {:>6}  {}\n", r.id, r.description,
                 r.outcome == "completed" ? score_text(r.score) : std::string("  -   "),
                 tailor::budget::format_duration(r.cost),
                 trial_note(r));
      std::fflush(stdout);
    };
    fmt::print("training model '{}' on dataset '{}' with a budget of {} (Ctrl-C stops at the next safe point and keeps the "
               "best model so far)\n",
               a.name, a.dataset, tailor::budget::format_duration(spec.budget_seconds));
  }
  tailor::model_object m;
  try {
    const bool detection = tailor::get_dataset(ws, a.dataset).kind == tailor::data::dataset_kind::detection;
    m = detection ? train_detector_model(ws, spec) : tailor::train_model<program_customizer>(ws, spec);
  } catch (...) {
    if (line_open) fmt::print(stderr, "\n");
    std::signal(SIGINT, SIG_DFL);
    throw;
  }
  std::signal(SIGINT, SIG_DFL);
  if (line_open) fmt::print(stderr, "\r{:<150}\r", "");
  if (json) {
    fmt::print("{}\n", tailor::to_json(m).dump(2));
    return 0;
  }
  fmt::print("\n");
  print_model(m);
  return 0;
}

inline int run_model_evaluate(const model_args& a, bool json, const std::string& workspace) {
  tailor::workspace ws(workspace);
  const auto metrics = tailor::evaluate_model(ws, a.name, a.dataset, a.evaluation_name);
  if (json) {
    fmt::print("{}\n", metrics.dump(2));
    return 0;
  }
  fmt::print("model '{}' on dataset '{}' (stored as evaluation '{}'):\n", a.name, a.dataset, a.evaluation_name);
  for (const auto& [k, v] : metrics.items())
    if (v.is_number()) fmt::print("  {:<28} {:.4f}\n", k, v.get<double>());
  return 0;
}

inline int run_analyze(const model_args& a, bool json, const std::string& workspace) {
  tailor::workspace ws(workspace);
  if (tailor::get_model(ws, a.name).task == "detection")
    return analyze_objects(ws, a.name, a.images, json, a.min_confidence, a.draw);
  if (!a.draw.empty())
    throw tailor::error(tailor::failure_code::invalid_argument,
                        fmt::format("--draw draws a detector's boxes; the model '{}' is a classifier", a.name));
  auto c = tailor::classifier::load(ws, a.name);
  auto out = nlohmann::ordered_json::array();
  for (const auto& image : a.images) {
    const auto result = c.analyze(std::filesystem::path(image));
    if (json) {
      auto j = tailor::to_azure_json(result);
      j["image"] = image;
      j["modelName"] = a.name;
      out.push_back(std::move(j));
      continue;
    }
    fmt::print("{}\n", image);
    for (std::size_t i = 0; i < result.tags.size() && int(i) < a.top; ++i)
      fmt::print("  {:<24} {:.4f}\n", result.tags[i].name, result.tags[i].confidence);
  }
  if (json) fmt::print("{}\n", out.dump(2));
  return 0;
}

// Adds `model ...` and `analyze` to the program; returns a function that runs the chosen one (or
// an empty function when none of them was chosen).
struct model_commands {
  model_args args;
  CLI::App *train = nullptr, *show = nullptr, *list = nullptr, *remove = nullptr, *cancel = nullptr, *evaluate = nullptr,
           *analyze = nullptr;

  void add_to(CLI::App& app) {
    auto* model = app.add_subcommand("model", "Train, show, list, delete, cancel and evaluate Model objects");
    model->require_subcommand(1);
    train = model->add_subcommand("train", "Train a model on a Dataset under a compute budget (AutoML: backbone and "
                                           "hyper-parameters chosen by the search)");
    train->add_option("name", args.name, "Model name")->required();
    train->add_option("--dataset", args.dataset, "The Dataset to train on")->required();
    train->add_option("--budget", args.budget, "Calibrated compute budget: 90s, 10m, 2h, 1h30m")->capture_default_str();
    train->add_option("--eval-dataset", args.eval_dataset, "A Dataset to evaluate the trained model on (stored as 'eval')");
    train->add_option("--seed", args.seed, "Random seed of the search and the training")->capture_default_str();
    train->add_option("--pretrained", args.pretrained,
                      "BACKBONE=FILE.safetensors: ImageNet weights for a backbone (torchvision or timm names; "
                      "docs/weights.md); may repeat");
    train->add_flag("--resume", args.resume, "Continue a training that was killed or cancelled");
    train->add_flag("--defaults-only", args.defaults_only,
                    "No search: train the default recipe alone, for as many epochs as the budget buys");
    train->add_option("--calibration-factor", args.calibration_factor,
                      "Charge at this calibration factor instead of measuring the machine: another model's factor "
                      "('model show'), so that two trainings get the same compute")
        ->check(CLI::Range(0.01, 100.0));
    show = model->add_subcommand("show", "Show a Model: status, cost, trials, chosen configuration, metrics");
    show->add_option("name", args.name, "Model name")->required();
    list = model->add_subcommand("list", "List the Models of the workspace");
    remove = model->add_subcommand("delete", "Delete a Model and its weights");
    remove->add_option("name", args.name, "Model name")->required();
    remove->add_flag("--force", args.force, "Delete even when it says it is training (after a kill)");
    cancel = model->add_subcommand("cancel", "Ask a training to stop at its next safe point (keeps the best model so far)");
    cancel->add_option("name", args.name, "Model name")->required();
    evaluate = model->add_subcommand("evaluate", "Evaluate a Model on a Dataset and store the metrics under a name");
    evaluate->add_option("name", args.name, "Model name")->required();
    evaluate->add_option("--dataset", args.dataset, "The Dataset to evaluate on")->required();
    evaluate->add_option("--name", args.evaluation_name, "Name to store the evaluation under")->capture_default_str();
    analyze = app.add_subcommand("analyze", "Tag images (classifier) or find the objects in them (detector) with a trained "
                                            "Model, highest confidence first");
    analyze->add_option("--model", args.name, "Model name")->required();
    analyze->add_option("images", args.images, "Image files (JPEG, PNG)")->required();
    analyze->add_option("--top", args.top, "How many tags to print per image (classifier, text output)")->capture_default_str();
    analyze->add_option("--min-confidence", args.min_confidence, "Objects below this confidence are left out (detector)")
        ->capture_default_str();
    analyze->add_option("--draw", args.draw,
                        "Detector: write a copy of the image with the boxes drawn (OUT.jpg or .png; for several images "
                        "a folder)");
  }

  // Runs the chosen command; nullopt when none of these was chosen.
  std::optional<int> run(bool json, const std::string& workspace) {
    if (*train) return run_model_train(args, json, workspace);
    if (*evaluate) return run_model_evaluate(args, json, workspace);
    if (*analyze) return run_analyze(args, json, workspace);
    if (*show || *list || *remove || *cancel) {
      tailor::workspace ws(workspace);
      if (*show) {
        const auto m = tailor::get_model(ws, args.name);
        if (json) fmt::print("{}\n", tailor::to_json(m).dump(2));
        else print_model(m);
      } else if (*list) {
        const auto all = tailor::list_models(ws);
        if (json) {
          auto j = nlohmann::ordered_json::array();
          for (const auto& m : all) j.push_back(tailor::to_json(m));
          fmt::print("{}\n", j.dump(2));
        } else if (all.empty()) {
          fmt::print("no models in {}\n", ws.root().string());
        } else {
          fmt::print("{:<24} {:<20} {:<11} {:<20} {:>9} {:>8}  {}\n", "name", "dataset", "status", "backbone", "cost", "score",
                     "updated");
          for (const auto& m : all)
            fmt::print("{:<24} {:<20} {:<11} {:<20} {:>9} {:>8}  {}\n", m.name, m.dataset, tailor::to_string(m.status),
                       m.backbone.empty() ? "-" : m.backbone, tailor::budget::format_duration(m.cost_seconds),
                       m.backbone.empty() ? "-" : score_text(m.validation_score), m.updated);
        }
      } else if (*remove) {
        tailor::delete_model(ws, args.name, args.force);
        if (json) fmt::print("{}\n", nlohmann::json{{"deleted", args.name}}.dump(2));
        else fmt::print("deleted model '{}'\n", args.name);
      } else {
        tailor::request_cancel(ws, args.name);
        if (json) fmt::print("{}\n", nlohmann::json{{"cancelling", args.name}}.dump(2));
        else fmt::print("asked model '{}' to stop at its next safe point\n", args.name);
      }
      return 0;
    }
    return std::nullopt;
  }
};

}  // namespace tailor_cli
