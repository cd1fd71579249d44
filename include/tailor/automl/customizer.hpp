#pragma once
// The customizer: hand it a classification or detection dataset and a budget, get back the best
// model the budget can buy. Policies are types, chosen at compile time; hyper-parameters are
// run-time values. What differs between the tasks (samples, network, score, metrics) is the task
// policy's automl_part (automl/classification_task.hpp, automl/detection_task.hpp).
//
//   using my_customizer = tailor::customizer<tailor::task::classification,
//       tailor::backbones<tailor::nn::resnet<18>, tailor::nn::mobilenet_v3_small, tailor::nn::small_cnn>,
//       tailor::search::asha, tailor::budget::compute_time, tailor::backend::cpu>;
//   tailor::automl::customize_options o;
//   o.budget_seconds = 300;
//   auto result = my_customizer().train(samples, o);   // pipeline::classification_samples
//   // detection: customizer<task::detection, backbones<nn::mobilenet_v3_small, nn::resnet<18>>, ...>
//   // trains on pipeline::detection_samples and selects by COCO mAP@[.50:.95].
//
// What a run does, in order:
//   plan     calibrate this machine (automl/calibration.hpp), time one small step of each backbone,
//            estimate the cheapest useful run and fail with budget_not_enough when the budget is
//            below it — before anything is charged;
//   decode   the images once into memory (charged);
//   search   trials proposed by the search strategy, each trained on a stratified split and scored
//            on its validation part (accuracy, macro AP for multilabel, COCO mAP for detection); every step's busy time
//            is charged, and a step starts only if it and the validation after it still fit;
//            every ~10 busy seconds, at an epoch's end, one more calibration round refines the
//            factor what follows is charged at (the mean of every round so far);
//   stop     when the strategy has nothing left, the score reaches its ceiling, the best score
//            has not improved for `patience` trials, the budget cannot buy another trial, or on
//            cancel — with the reason in the result;
//   finish   retrain the best configuration on all the images when the budget allows, else keep
//            the best trial's weights.
// A trial that fails for a system reason (any exception but training_diverged) is retried once
// and never charged. When every trial diverged, or none beat the trivial baseline (the majority
// tag; for detection, finding nothing), the run fails with training_diverged and advice.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "../backend/cpu.hpp"
#include "../core/error.hpp"
#include "../nn/weights.hpp"
#include "../pipeline/image_store.hpp"
#include "../train/fit.hpp"
#include "budget.hpp"
#include "calibration.hpp"
#include "fold_meter.hpp"
#include "classification_task.hpp"
#include "customize_result.hpp"
#include "detection_task.hpp"
#include "search.hpp"
#include "search_space.hpp"
#include "task_part.hpp"
#include "trial_record.hpp"
#include "validation_split.hpp"

namespace tailor {

// The backbones a customizer may choose from, as a compile-time list of tags.
template <class... Tags>
struct backbones {
  static_assert(sizeof...(Tags) > 0, "tailor: backbones<...> needs at least one backbone tag (e.g. tailor::nn::small_cnn)");
  static_assert((task::BackboneTag<Tags> && ...),
                "tailor: every entry of backbones<...> must be a backbone tag with name, head_name and make<Backend>() "
                "(tailor::nn::resnet<18>, nn::mobilenet_v3_small, nn::small_cnn, ...)");
};

namespace task {
// The task policies: a name, and the part of an AutoML run that is the task's own
// (automl/task_part.hpp) for a backend.
struct classification {
  static constexpr std::string_view name = "classification";
  template <class B>
  using automl_part = automl::classification_part<B>;
};
struct detection {
  static constexpr std::string_view name = "detection";
  template <class B>
  using automl_part = automl::detection_part<B>;
};
}  // namespace task

template <class T>
concept Task = requires {
  { T::name } -> std::convertible_to<std::string_view>;
  typename T::template automl_part<backend::cpu>;
};

template <class TaskT, class Backbones, class Search, class Budget, class B = backend::cpu>
class customizer;

template <class TaskT, class... Tags, class Search, class Budget, class B>
class customizer<TaskT, backbones<Tags...>, Search, Budget, B> {
  static_assert(Task<TaskT>, "tailor: the task must be a task policy with a static name and an automl_part "
                            "(tailor::task::classification, tailor::task::detection)");
  static_assert(budget::BudgetPolicy<Budget>,
                "tailor: the budget must be a budget policy: constructible from (seconds, calibration factor), with "
                "charge, refund, restore, can_afford, left and a static name (tailor::budget::compute_time)");
  static_assert(nn::Backend<B>, "tailor: the last argument must be a backend (tailor::backend::cpu)");
  static_assert((search::check_search_strategy<Search>(), true));

 public:
  using backend = B;
  static constexpr std::size_t backbone_count = sizeof...(Tags);
  static constexpr std::string_view task_name = TaskT::name;
  static constexpr std::string_view search_name = Search::name;
  static constexpr std::string_view budget_name = Budget::name;

  static std::vector<std::string> backbone_names() { return {std::string(Tags::name)...}; }

  using part_type = typename TaskT::template automl_part<B>;
  using samples_type = typename part_type::samples_type;  // pipeline::classification_samples or detection_samples

  automl::customize_result train(const samples_type& samples, const automl::customize_options& o) const {
    run r(samples, o);
    return r.go();
  }

 private:
  using clock = std::chrono::steady_clock;
  static double since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

  // Calls f(std::type_identity<Tag>{}) for the index-th backbone tag.
  template <class F>
  static void with_backbone(std::size_t index, F&& f) {
    std::size_t i = 0;
    ((i++ == index ? (f(std::type_identity<Tags>{}), true) : false) || ...);
  }

  using step_cost = automl::step_cost;
  using predictions = typename part_type::predictions;

  class run {
   public:
    run(const samples_type& samples, const automl::customize_options& o) : part_(samples), o_(o) {}

    automl::customize_result go() {
      const auto planning_start = clock::now();
      check_input();
      result_.task = std::string(TaskT::name);
      result_.classes = part_.class_names();
      result_.score_name = part_.score_name();
      progress_.phase = "planning";
      report_progress();
      if (o_.machine) {
        result_.machine = *o_.machine;
      } else {
        calibrator_.emplace();
        result_.machine = calibrator_->measure(automl::calibration_first_rounds);
      }
      budget_.emplace(o_.budget_seconds, result_.machine.factor);
      budget_->restore(o_.resume_charged);
      result_.budget = o_.budget_seconds;

      // The images' typical size decides the input sizes worth trying.
      std::vector<int> sides;
      const std::size_t sample_count = std::min<std::size_t>(files().size(), 64);
      for (std::size_t i = 0; i < sample_count; ++i) {
        const auto info = data::read_image_info(files()[i * files().size() / sample_count]);
        sides.push_back(std::min(info.width(), info.height()));
      }
      std::nth_element(sides.begin(), sides.begin() + std::ptrdiff_t(sides.size() / 2), sides.end());
      const int typical = sides[sides.size() / 2];
      const std::size_t train_estimate = std::size_t(double(files().size()) * (1.0 - o_.validation_fraction));
      space_ = o_.space ? *o_.space
                        : part_.default_space(customizer::backbone_names(), typical, !o_.pretrained.empty(), train_estimate);
      if (space_.backbones.empty()) space_.backbones = customizer::backbone_names();
      for (const auto& b : space_.backbones)
        if (!index_of_backbone(b))
          throw error(failure_code::invalid_argument,
                      fmt::format("the search space names the backbone '{}', which this customizer was not built with ({})",
                                  b, fmt::join(customizer::backbone_names(), ", ")));
      for (const auto& [name, file] : o_.pretrained) {
        if (!index_of_backbone(name))
          throw error(failure_code::invalid_argument,
                      fmt::format("pretrained weights are given for '{}', which is not among the backbones ({})", name,
                                  fmt::join(customizer::backbone_names(), ", ")));
        conventions_[name] = nn::detect_weights_convention(nn::read_safetensors(file));
      }
      space_.validate();
      if (o_.defaults_only) space_ = space_.only(space_.defaults);
      result_.space_description = fmt::format("{} configurations: backbones {}, sizes {}, epochs {}..{}", space_.size(),
                                              fmt::join(space_.backbones, "/"), fmt::join(space_.input_sizes, "/"),
                                              space_.min_epochs, space_.max_epochs);
      const int max_size = *std::max_element(space_.input_sizes.begin(), space_.input_sizes.end());

      // The split: one stratified hold-out, or, when a tag has too few images for one (under 10),
      // a few-shot set: the defaults train on every image (below), or 3 folds without an opening.
      const std::size_t smallest = automl::smallest_class(part_.strata());
      const bool too_few = smallest < automl::few_shot_images && files().size() <= 2000;
      few_shot_ = too_few && o_.opening;
      if (!too_few) {
        folds_.push_back(automl::stratified_holdout(part_.strata(), o_.validation_fraction, o_.seed));
        result_.validation = fmt::format("hold-out {:.0f}%", 100 * o_.validation_fraction);
      } else if (few_shot_) {
        folds_.push_back(automl::every_image(files().size()));
        result_.validation = fmt::format(
            "none: {} of a tag are too few to validate with (fewer than {}); the model trained on every image and its "
            "score is its fit to them",
            smallest == 1 ? "1 image" : fmt::format("{} images", smallest), automl::few_shot_images);
      } else {
        folds_ = automl::stratified_folds(part_.strata(), 3, o_.seed);
        result_.validation = "3-fold";
      }
      result_.train_images = folds_.front().train.size();
      result_.validation_images = folds_.front().validation.size();
      if (folds_.front().validation.empty() || folds_.front().train.empty())
        throw error(failure_code::dataset_corrupt,
                    fmt::format("{} images are too few to train and validate a model: add images (at least two per tag)",
                                files().size()));

      // Probes: one small step of each backbone, and the decode time of a few images.
      const double decode_per_image = [&] {
        const auto t = clock::now();
        const std::size_t n = std::min<std::size_t>(files().size(), 8);
        for (std::size_t i = 0; i < n; ++i) (void)pipeline::image_store::decode(files()[i], part_type::decode_side(max_size));
        return since(t) / double(n);
      }();
      for (std::size_t b = 0; b < space_.backbones.size(); ++b) costs_.push_back(probe(*index_of_backbone(space_.backbones[b])));
      correction_.assign(costs_.size(), 1.0);
      result_.planning_seconds = since(planning_start);

      // The cheapest useful run: the cheapest backbone at the smallest size for the fewest epochs.
      const double decode_estimate = decode_per_image * double(files().size());
      double cheapest = 1e300;
      for (std::size_t b = 0; b < space_.backbones.size(); ++b) {
        automl::trial_config c = space_.defaults;
        c.backbone = b;
        c.input_size = *std::min_element(space_.input_sizes.begin(), space_.input_sizes.end());
        c.mode = space_.modes.front();
        const double e = estimate(c, space_.min_epochs, false);
        if (e < cheapest) cheapest = e, cheapest_ = c;
      }
      const double minimum = budget_->units(decode_estimate + cheapest) + o_.resume_charged;
      if (minimum > budget_->total()) {
        const double suggested = std::max(minimum * 4, minimum + 120);
        throw error(failure_code::budget_not_enough,
                    fmt::format("a budget of {} cannot buy the cheapest useful run for these {} images ({} at {} px for {} "
                                "epochs, about {} of compute on this machine); give at least {}, and {} or more for a "
                                "search that can find a good model",
                                budget::format_duration(budget_->total()), files().size(),
                                space_.backbones[cheapest_.backbone], cheapest_.input_size, space_.min_epochs,
                                budget::format_duration(minimum), budget::format_duration(std::ceil(minimum)),
                                budget::format_duration(nice_round(suggested))));
      }

      // Decode once, charged.
      progress_.phase = "decoding";
      report_progress();
      pipeline::image_store_options so;
      so.max_side = part_type::decode_side(max_size);
      result_.decode_side = so.max_side;
      store_.emplace(files(), so);
      const auto preload_start = clock::now();
      store_->preload();
      const double charged_before_decode = budget_->charged();
      budget_->charge(since(preload_start));
      result_.decode_cost = budget_->charged() - charged_before_decode;

      opening_ = plan_opening();
      if (opening_ && folds_.size() == 1 && !few_shot_) lean_holdout();
      baseline_ = part_.baseline(folds_);
      result_.baseline_score = baseline_;
      search();
      finish();
      result_.charged = budget_->charged();
      return std::move(result_);
    }

   private:
    // ---- planning -------------------------------------------------------------------------------
    void check_input() const {
      part_.check();
      if (!(o_.validation_fraction > 0 && o_.validation_fraction < 1))
        throw error(failure_code::invalid_argument,
                    fmt::format("validation_fraction must be in (0, 1), got {}", o_.validation_fraction));
      if (!(o_.lean_validation_fraction > 0 && o_.lean_validation_fraction < 1))
        throw error(failure_code::invalid_argument,
                    fmt::format("lean_validation_fraction must be in (0, 1), got {}", o_.lean_validation_fraction));
    }

    const std::vector<std::filesystem::path>& files() const { return part_.files(); }

    static std::optional<std::size_t> index_of_backbone(std::string_view name) {
      const auto names = customizer::backbone_names();
      const auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) return std::nullopt;
      return std::size_t(it - names.begin());
    }

    static double nice_round(double seconds) {
      for (double step : {10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0})
        if (seconds <= step * 10) return std::ceil(seconds / step) * step;
      return std::ceil(seconds / 3600.0) * 3600.0;
    }

    // The options a backbone is built with: the naming convention of its pretrained file; from
    // scratch, timm's recipe (for MobileNetV3 its norms' momentum 0.1, where torchvision's 0.01
    // leaves the running statistics far from the data after a short training).
    nn::backbone_options backbone_options_for(std::string_view name) const {
      nn::backbone_options bo;
      const auto it = conventions_.find(std::string(name));
      bo.convention = it != conventions_.end() ? it->second : nn::weights_convention::timm;
      return bo;
    }

    // One small step of a backbone's network for this task (automl/task_part.hpp's time_probe).
    step_cost probe(std::size_t tag_index) const {
      step_cost c;
      with_backbone(tag_index, [&](auto tag) {
        using Tag = typename decltype(tag)::type;
        c = part_.template probe<Tag>(space_.defaults, backbone_options_for(Tag::name), o_.seed);
      });
      return c;
    }

    // Busy seconds a trial should take on this machine (all folds), or a final run on all images.
    double estimate(const automl::trial_config& c, int epochs, bool all_images) const {
      const auto& cost = costs_[c.backbone];
      const double train_img = cost.at(cost.train, c.input_size), eval_img = cost.at(cost.eval, c.input_size);
      const double n_train = double(all_images ? files().size() : folds_.front().train.size());
      const double n_val = all_images ? 0.0 : double(folds_.front().validation.size());
      // The probe times the network on a ready batch; in training the loader's augmentation
      // shares the cores, which made real epochs 1.1-1.2 x the probe's (MobileNetV3 at 96 px on
      // sign_digits and the demo's shapes, 2 cores): the task part says how much.
      constexpr double loader_share = part_type::loader_share;
      double per_fold = 0;
      switch (c.mode) {
        case train::finetune_mode::linear_probe: per_fold = n_train * eval_img * 1.2; break;
        case train::finetune_mode::partial: per_fold = 0.8 * epochs * n_train * train_img * loader_share; break;
        case train::finetune_mode::full: per_fold = epochs * n_train * train_img * loader_share; break;
      }
      per_fold += n_val * eval_img + 0.2;  // + building the network, starting the loader
      return per_fold * double(all_images ? 1 : folds_.size()) * correction_[c.backbone];
    }

    // ---- the search ------------------------------------------------------------------------------
    // The opening (short budgets): when the budget cannot buy a search around a full-length run of
    // the defaults (three top-rung runs' worth), a search would spend it on short trials that say
    // little, and a short run of the defaults is worse than a long one. So the defaults train, and
    // the opening is the run: nothing a search could buy after it would beat it. (It used to train
    // the top rung and leave the rest to the search when the budget bought that much: at 10m on
    // sign_digits two rung-0 trials then cost 2m35s and bought nothing, on 3,000 clothing photos 3
    // of 10 minutes went to trials scoring half the opening's 0.705 and none was left to retrain
    // on all the images, and on hymenoptera small_cnn trials could not beat it.) It is planned
    // with 95% of the budget, up to three top rungs (what the budget of a search would buy), and
    // its replan (train_fold) lengthens it when the epochs cost less than estimated. A space of one
    // configuration always opens (there is nothing to search). A resumed run keeps the opening its
    // first run chose. An opening planned for long_run_epochs or more trains at the long-run
    // learning rate.
    struct opening_plan {
      automl::trial_config config;
      int epochs = 0;
    };
    // A caller's space of one recipe says how long it trains: its max_epochs (bench/recipe_sweep).
    int longest_opening() const { return space_.size() > 1 || o_.defaults_only ? 3 * space_.max_epochs : space_.max_epochs; }
    std::optional<opening_plan> plan_opening() const {
      if (!o_.resume_trials.empty()) {
        const auto& first = o_.resume_trials.front();
        if (!first.opening) return std::nullopt;
        return opening_plan{first.config, first.epochs};
      }
      if (!o_.opening) return std::nullopt;
      const double left_seconds = budget_->left() / budget_->units(1.0);
      // The defaults, down to half of rung 0's epochs (at 1m on sign_digits 5 epochs at 96 px beat
      // 64 px planned for 9: a smaller image saves less than its pixel count says); below that,
      // the defaults at the largest smaller input size that affords rung 0's epochs.
      std::vector<int> sizes;
      for (int s : space_.input_sizes)
        if (s <= space_.defaults.input_size) sizes.push_back(s);
      std::sort(sizes.rbegin(), sizes.rend());
      // The epochs of c that a share of what is left buys after its set-up and validation; none
      // when its cost does not grow with epochs (a linear probe).
      const auto affordable = [&](const automl::trial_config& c, double share) -> std::optional<double> {
        const double fixed = estimate(c, 0, false);
        const double per_epoch = estimate(c, 1, false) - fixed;
        if (!(per_epoch > 0)) return std::nullopt;
        return std::floor((share * left_seconds - fixed) / per_epoch);
      };
      for (int size : sizes) {
        automl::trial_config c = space_.defaults;
        c.input_size = size;
        const auto most = affordable(c, 0.95);
        if (!most) return std::nullopt;
        const int fewest = size == space_.defaults.input_size ? std::max(2, (space_.min_epochs + 1) / 2) : space_.min_epochs;
        if (*most < fewest) continue;
        if (space_.size() > 1 && !few_shot_ && *affordable(c, 0.9) >= 3.0 * space_.max_epochs) return std::nullopt;  // room for a search
        const int epochs = std::min(int(*most), longest_opening());
        c.learning_rate = space_.defaults_for(epochs).learning_rate;  // a long run may train at a higher rate
        return opening_plan{c, epochs};
      }
      // Not even the defaults' backbone at its smallest size: the cheapest useful run, which the
      // budget passed the minimum for, trains as long as it can. A search could only skip trials
      // it cannot afford, and end without a model.
      const auto most = affordable(cheapest_, 0.95);
      if (!most || *most < 1) return std::nullopt;
      return opening_plan{cheapest_, std::min(longest_opening(), int(*most))};
    }

    // When the opening is the run, its validation chooses nothing: it reports the model's metrics
    // and tells a model that learned from one that did not (the baseline). A smaller hold-out does
    // that, and every image it gives back trains the model (on sign_digits at the same compute,
    // 5% held out for 24 epochs against 20% for 28: test accuracy 0.984 and 0.982 against 0.974
    // and 0.985 with seeds 0 and 1, docs/quality.md). The hold-out keeps lean_validation_images
    // at least (its metrics stay worth reading) and never grows past validation_fraction; with
    // more training images the opening is planned again.
    void lean_holdout() {
      const double n = double(files().size());
      const double fraction = std::min(o_.validation_fraction,
                                       std::max(o_.lean_validation_fraction, double(o_.lean_validation_images) / n));
      if (fraction >= o_.validation_fraction) return;
      folds_.front() = automl::stratified_holdout(part_.strata(), fraction, o_.seed);
      result_.validation = fmt::format("hold-out {:.0f}% (the opening is the run)", 100 * fraction);
      result_.train_images = folds_.front().train.size();
      result_.validation_images = folds_.front().validation.size();
      if (o_.resume_trials.empty()) opening_ = plan_opening();
    }

    automl::trial_record make_record(std::size_t id, const automl::trial_config& config, int epochs) const {
      automl::trial_record rec;
      rec.id = id;
      rec.config = config;
      rec.epochs = epochs;
      rec.backbone = space_.backbones[config.backbone];
      rec.description = fmt::format("{} {} epochs", automl::describe(config, space_), epochs);
      return rec;
    }

    // Runs a trial, or replays it from the run being resumed, unless the budget cannot buy it.
    void run_or_replay(automl::trial_record& rec) {
      if (rec.id < o_.resume_trials.size()) {
        const auto& old = o_.resume_trials[rec.id];
        if (!(old.config == rec.config) || old.epochs != rec.epochs || old.opening != rec.opening)
          throw error(failure_code::invalid_argument,
                      fmt::format("cannot resume: trial {} was '{}' and the search now proposes '{}' (the options or "
                                  "the tailor version changed); train a new model instead",
                                  rec.id, old.description, rec.description));
        rec = old;
        if (rec.outcome == "completed" && (!best_ || rec.score > result_.trials[*best_].score)) best_weights_ = o_.resume_best_weights;
        return;
      }
      const double needed = estimate(rec.config, rec.epochs, false);
      if (!budget_->can_afford(needed)) {
        rec.outcome = "skipped";
        rec.message = fmt::format("needs about {}, {} left", budget::format_duration(budget_->units(needed)),
                                  budget::format_duration(budget_->left()));
        return;
      }
      run_trial(rec);
    }

    // Books a finished trial; says why the search must stop, if it must.
    std::optional<std::string> book(const automl::trial_record& rec) {
      result_.trials.push_back(rec);
      if (rec.id >= o_.resume_trials.size() && o_.on_trial) o_.on_trial(rec);
      if (rec.outcome == "cancelled") return "cancelled";
      if (rec.outcome == "stopped") return "the budget is spent";
      skipped_in_a_row_ = rec.outcome == "skipped" ? skipped_in_a_row_ + 1 : 0;
      if (skipped_in_a_row_ >= 3 || budget_->left() <= 0) return "the budget left cannot buy another trial";
      diverged_ += rec.outcome == "diverged";
      if (rec.outcome != "completed") return std::nullopt;
      ++completed_;
      if (!best_ || rec.score > result_.trials[*best_].score) {
        best_ = result_.trials.size() - 1;
        since_improvement_ = 0;
        if (o_.on_best && rec.id >= o_.resume_trials.size()) o_.on_best(rec.id, best_weights_);
      } else {
        ++since_improvement_;
      }
      if (result_.trials[*best_].score >= o_.target_score)
        return fmt::format("the validation score reached its ceiling ({:.4g})", result_.trials[*best_].score);
      if (since_improvement_ >= o_.patience) return fmt::format("the best score has not improved in {} trials", o_.patience);
      return std::nullopt;
    }

    void search() {
      search::options so = o_.search;
      so.seed ^= o_.seed;
      Search strategy(space_, so);
      std::optional<std::string> reason;
      std::optional<automl::trial_record> opening;
      if (const auto& plan = opening_) {
        opening = make_record(0, plan->config, plan->epochs);
        opening->opening = true;
        run_or_replay(*opening);
        reason = book(*opening);
        // No search: the opening trained the one recipe for all the budget allows, and a longer
        // run of it (what the strategy asks for next) cannot be bought.
        if (!reason && o_.defaults_only) reason = "the defaults alone (--defaults-only), trained as long as the budget allows";
        // (its fit to the images it trained on says nothing of a ceiling: the few-shot reason stands)
        if (few_shot_ && opening->outcome == "completed")
          reason = fmt::format("a few-shot set (fewer than {} images of a tag): no validation could choose between "
                               "recipes, so the defaults trained on every image as long as the budget allows",
                               automl::few_shot_images);
        // What is left (a few percent) buys no trial that could beat it.
        if (!reason && opening->outcome == "completed")
          reason = "the opening was the run: a budget below three top-rung runs of the defaults buys no search that "
                   "could beat one long run of them";
      }
      automl::trial_config opening_asked;  // the recipe the strategy names the opening by: the defaults' own rate
      if (opening) {
        opening_asked = opening->config;
        opening_asked.learning_rate = space_.defaults.learning_rate;
      }
      std::vector<std::size_t> record_of;  // the strategy's request id -> its trial's id (the opening's, if it answered)
      while (!reason) {
        if (cancelled()) {
          reason = "cancelled";
          break;
        }
        auto request = strategy.next();
        if (!request) {
          reason = "the search space is exhausted";
          break;
        }
        search::trial_outcome outcome;
        outcome.id = request->id;
        // The defaults at no more epochs than the opening trained them (at its size, at whatever
        // rate its length chose): the opening answers.
        if (opening && request->config == opening_asked && request->epochs <= opening->epochs) {
          outcome.score = opening->score;
          outcome.failed = opening->outcome != "completed";
          strategy.report(outcome);
          record_of.push_back(opening->id);
          continue;
        }
        auto rec = make_record(result_.trials.size(), request->config, request->epochs);
        rec.rung = request->rung;
        if (request->promoted_from) rec.promoted_from = record_of.at(*request->promoted_from);
        record_of.push_back(rec.id);
        run_or_replay(rec);
        outcome.score = rec.score;
        outcome.failed = rec.outcome != "completed";
        strategy.report(outcome);
        reason = book(rec);
      }
      result_.stopping_reason = *reason;
      if (reason == "cancelled") result_.status = automl::run_status::cancelled;
      if (!best_ && result_.status != automl::run_status::cancelled) {
        if (diverged_ > 0 && completed_ == 0)
          throw error(failure_code::training_diverged,
                      fmt::format("every trial diverged ({} of {}): check that the tags are right and the images are "
                                  "what you expect, add images, or search lower learning rates",
                                  diverged_, result_.trials.size()));
        throw error(failure_code::budget_not_enough,
                    fmt::format("no trial could finish within the budget of {} ({}); give a larger budget",
                                budget::format_duration(budget_->total()), *reason));
      }
      // Beating the baseline means by more than chance: one standard error of a score of that
      // level on this many validation images (on 20 images and a baseline of 0.8, 0.09).
      const double n = double(folds_.front().validation.size() * folds_.size());
      const double margin = std::sqrt(baseline_ * (1 - baseline_) / std::max(1.0, n));
      const bool budget_bound = reason->find("budget") != std::string::npos;
      if (best_ && result_.trials[*best_].score <= baseline_ + margin && result_.status != automl::run_status::cancelled &&
          budget_bound)
        throw error(failure_code::budget_not_enough,
                    fmt::format("no trial beat the trivial baseline before the budget of {} ran out ({}: {} {:.4g}; the "
                                "best trial: {:.4g} after {} epochs): the models were still learning — give a larger "
                                "budget (at least {})",
                                budget::format_duration(budget_->total()), part_type::baseline_name, result_.score_name, baseline_,
                                result_.trials[*best_].score, result_.trials[*best_].epochs,
                                budget::format_duration(nice_round(budget_->total() * 3))));
      if (best_ && result_.trials[*best_].score <= baseline_ + margin && result_.status != automl::run_status::cancelled)
        throw error(failure_code::training_diverged,
                    fmt::format("no trial beat the trivial baseline ({}: {} {:.4g}, give or take {:.2g} on {} validation "
                                "images; the best trial: {:.4g}): the tags may not match the images — check the labels, "
                                "add images, or give images of better quality",
                                part_type::baseline_name, result_.score_name, baseline_, margin, n,
                                result_.trials[*best_].score));
    }

    bool cancelled() const { return o_.cancel && o_.cancel->load(); }

    // Runs a trial (every fold), retrying once after a system failure, never charging one.
    void run_trial(automl::trial_record& rec) {
      for (int attempt = 1; attempt <= 2; ++attempt) {
        rec.attempts = attempt;
        const double charged_before = budget_->charged();
        const auto start = clock::now();
        try {
          const auto trained = run_folds(rec, attempt);
          rec.seconds = since(start);
          rec.cost = budget_->charged() - charged_before;
          // What this backbone really cost against the probe's estimate: later estimates follow it.
          const double estimated = trained ? estimate(rec.config, *trained, false) : 0.0;
          if (rec.outcome == "completed" && estimated > 0) correction_[rec.config.backbone] *= rec.seconds / estimated;
          return;
        } catch (const error& e) {
          rec.seconds = since(start);
          rec.cost = budget_->charged() - charged_before;
          if (e.code() == failure_code::training_diverged) {
            rec.outcome = "diverged";
            rec.message = e.what();
            return;
          }
          budget_->refund(rec.cost);
          rec.cost = 0;
          rec.outcome = "failed";
          rec.message = e.what();
        } catch (const std::exception& e) {
          rec.seconds = since(start);
          budget_->refund(budget_->charged() - charged_before);
          rec.cost = 0;
          rec.outcome = "failed";
          rec.message = e.what();
        }
      }
    }

    // The steps of an epoch on `images` training images, as the progress counts them.
    static std::int64_t batches_per_epoch(std::size_t images, const automl::trial_config& c) {
      return std::int64_t((images + std::size_t(c.batch_size) - 1) / std::size_t(c.batch_size));
    }

    // Trains every fold; says how many epochs each trained, unless a fold was cut to fit the
    // budget (its cost then says nothing about the estimate).
    std::optional<int> run_folds(automl::trial_record& rec, int attempt) {
      std::optional<int> trained = rec.epochs;
      double score_sum = 0;
      std::optional<nn::safetensors_map> first_weights;
      std::optional<predictions> first_predictions;
      const std::int64_t per_fold = rec.epochs * batches_per_epoch(folds_.front().train.size(), rec.config);
      progress_.phase = "trial";
      progress_.trial = rec.id;
      progress_.description = rec.description;
      progress_.epochs = rec.epochs;
      progress_.steps = per_fold * std::int64_t(folds_.size());
      progress_.step = 0;
      for (std::size_t f = 0; f < folds_.size(); ++f) {
        fold_result fr = train_fold(rec, attempt, folds_[f], f, false);
        rec.epochs_trained = f == 0 ? fr.epochs_trained : std::min(rec.epochs_trained, fr.epochs_trained);
        if (fr.stopped) {
          rec.outcome = cancelled() ? "cancelled" : "stopped";
          rec.message = cancelled() ? "cancelled by the user" : "stopped at a step boundary: the budget would not cover the next step";
          return std::nullopt;
        }
        score_sum += fr.score;
        if (fr.cut_short) {
          trained.reset();
          rec.message = fmt::format("cut to {} of {} epochs to fit the budget (the steps cost more than estimated)",
                                    fr.epochs_trained, rec.epochs);
        } else if (fr.lengthened) {
          trained = fr.epochs_trained;
          rec.message = fmt::format("lengthened to {} of {} epochs planned (the steps cost less than estimated)",
                                    fr.epochs_trained, rec.epochs);
        }
        if (f == 0) {
          first_weights = std::move(fr.weights);
          first_predictions = std::move(fr.predictions);
        }
      }
      rec.score = score_sum / double(folds_.size());
      rec.outcome = "completed";
      if (!best_ || rec.score > result_.trials[*best_].score) {
        best_weights_ = std::move(*first_weights);
        best_predictions_ = std::move(first_predictions);
        best_fold_ = 0;
      }
      return trained;
    }

    // One more calibration round (an epoch just ended, and the loader is idle) when enough busy
    // time passed since the last: the factor becomes the mean over the run so far, and what is
    // charged from now on uses it. Returns the round's seconds (planning, not charged).
    double recalibrate() {
      if (!calibrator_ || !(o_.recalibrate_seconds > 0) || busy_since_calibration_ < o_.recalibrate_seconds) return 0;
      const auto start = clock::now();
      (void)calibrator_->round();
      busy_since_calibration_ = 0;
      result_.machine = calibrator_->current();
      if constexpr (requires(Budget& b) { b.recalibrate(1.0); }) budget_->recalibrate(result_.machine.factor);
      const double seconds = since(start);
      result_.planning_seconds += seconds;
      return seconds;
    }

    struct fold_result : automl::fold_outcome<predictions> {
      double score = 0;
    };

    // Trains one configuration on one split (or on all images), charging every step.
    fold_result train_fold(const automl::trial_record& rec, int attempt, const automl::validation_split& split, std::size_t fold,
                           bool all_images) {
      fold_result out;
      const auto& c = rec.config;
      const auto& cost = costs_[c.backbone];
      // Steps that run slower than the probe said make the validation slower too: the meter's
      // reserve grows with the measured slowdown.
      automl::fold_meter<Budget> meter(*budget_, cost.at(cost.train, c.input_size) * c.batch_size,
                                       cost.at(cost.eval, c.input_size), all_images ? 0 : split.validation.size(),
                                       part_type::validation_batch);
      auto last = clock::now();
      std::int64_t step = 0;
      // The busy seconds since the last ask (the meter charges them).
      const auto busy_since_last = [&] {
        const double dt = since(last);
        last = clock::now();
        busy_since_calibration_ += dt;
        return dt;
      };
      // Charges the busy time since the last call; says whether the next step (and the
      // validation after the last one) still fits. While validating: whether the next batch does.
      auto keep_going = [&]() -> bool {
        const double dt = busy_since_last();
        const bool fits = meter.validating() ? meter.batch(dt) : meter.step(dt);
        if (o_.on_step) o_.on_step(rec, attempt, step);
        ++step;
        ++progress_.step;
        progress_.charged = budget_->charged();
        report_progress();
        return !cancelled() && fits;
      };
      const std::uint64_t seed = ::tailor::backend::cpu_detail::splitmix64(o_.seed ^ (0x9E3779B97F4A7C15ull * (rec.id + 1)) ^ (fold << 48));
      automl::fold_hooks h;
      h.keep_going = keep_going;
      h.validating = [&] { meter.start_validation(busy_since_last()); };
      double calibrating = 0;  // this fold's calibration rounds: planning, neither charged nor a step's time
      h.epoch_end = [&] {
        const double seconds = recalibrate();
        calibrating += seconds;
        last += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
      };
      // Stopped by the budget on one split: the reserve still pays for validating what was
      // trained, which is kept (a cancel, k folds and the final run on all images stop).
      h.abandon = [&](const train::fit_result&) { return cancelled() || all_images || folds_.size() > 1; };
      h.loader_workers = o_.loader_workers;
      h.validation_batch = part_type::validation_batch;
      h.seed = seed;
      // One split (or all the images): when the epochs left no longer fit what the budget has
      // left at the rate measured so far, the run is shortened to what fits (k folds would
      // need the budget of the folds still to come, and are not).
      const auto fold_start = clock::now();
      double first_epoch_end = 0;
      // The opening alone may lengthen (see plan_opening), up to three top rungs, from its second
      // epoch on (the first carries the start-up), keeping 3% of what is left in hand so that the
      // next replans do not cut what this one added.
      const int longest = rec.opening && !all_images ? longest_opening() : 0;
      const std::int64_t batches = batches_per_epoch(all_images ? files().size() : split.train.size(), c);
      if (folds_.size() == 1 || all_images)
        h.replan = [&](int done, int planned) {
          // The first epoch carries the start-up (loader threads, first decodes, cold caches):
          // from the second on, the rate is that of the epochs after it. After the first alone,
          // half its time is the estimate, so that a start-up cannot cut a run that fits (were
          // the epochs truly that slow, the second replan cuts, and the budget is checked at
          // every step regardless). At 1m on sign_digits the first epoch's rate cut 6 to 4.
          const double elapsed = since(fold_start) - calibrating;
          if (done == 1) first_epoch_end = elapsed;
          const double per_epoch = done >= 2 ? (elapsed - first_epoch_end) / double(done - 1) : 0.5 * elapsed;
          const double left = meter.left_for_training();
          int epochs = planned;
          if (double(planned - done) * per_epoch > left) epochs = done + int(std::max(0.0, std::floor(left / per_epoch)));
          else if (done >= 2 && planned < longest)
            epochs = std::min(longest, std::max(planned, done + int(std::floor(0.97 * left / per_epoch))));
          progress_.epochs = epochs;
          progress_.steps = epochs * batches;
          return epochs;
        };
      with_backbone(*index_of_backbone(space_.backbones[c.backbone]), [&](auto tag) {
        using Tag = typename decltype(tag)::type;
        if (auto it = o_.pretrained.find(std::string(Tag::name)); it != o_.pretrained.end()) h.pretrained = it->second;
        static_cast<automl::fold_outcome<predictions>&>(out) =
            part_.template train<Tag>(c, rec.epochs, backbone_options_for(Tag::name), *store_, split, all_images, h);
      });
      if (out.stopped) return out;
      if (out.predictions) out.score = part_.score(*out.predictions, split.validation);
      (void)keep_going();  // charge the validation's last batch
      return out;
    }

    template <class Tag>
    static nn::mobilenet_v3_size timm_size() {
      return Tag::name == std::string_view("mobilenet_v3_large") ? nn::mobilenet_v3_size::large : nn::mobilenet_v3_size::small;
    }

    // ---- the final model -----------------------------------------------------------------------------
    void finish() {
      if (!best_) return;  // cancelled before any trial completed: nothing to keep
      const auto& best = result_.trials[*best_];
      result_.best_trial = best.id;
      result_.config = best.config;
      result_.backbone = best.backbone;
      result_.backbone_options = backbone_options_for(best.backbone);
      final_epochs(best.epochs_trained > 0 ? best.epochs_trained : best.epochs);
      result_.validation_score = best.score;
      part_.describe(result_, best.config);
      if (best_predictions_) result_.validation_metrics = part_.report(*best_predictions_, folds_[best_fold_].validation);
      result_.weights = best_weights_;
      if (few_shot_) {  // the opening trained on every image: nothing to retrain
        result_.retrained_on_all = true;
        return;
      }
      if (result_.status == automl::run_status::cancelled || !o_.retrain_on_all) return;
      if (best.opening) return;  // the opening was the run: it spent the budget on a lean hold-out
      const double needed = estimate(best.config, best.epochs, true);
      if (!budget_->can_afford(1.25 * needed)) {
        result_.stopping_reason += "; kept the best trial's weights (retraining on all the images would exceed the budget)";
        return;
      }
      progress_.phase = "retraining";
      progress_.description = best.description;
      automl::trial_record final_run = best;
      final_run.id = result_.trials.size() + 1000;  // its own seed
      const double charged_before = budget_->charged();
      const auto fr = train_fold(final_run, 1, folds_.front(), 0, true);
      result_.retrain_cost = budget_->charged() - charged_before;
      if (fr.stopped) {
        result_.stopping_reason += cancelled() ? "; retraining on all the images was cancelled, kept the best trial's weights"
                                               : "; retraining on all the images ran out of budget, kept the best trial's weights";
        return;
      }
      result_.weights = fr.weights;
      final_epochs(fr.epochs_trained);
      result_.retrained_on_all = true;
    }

    // What the final weights trained, and the chosen configuration with them, in words.
    void final_epochs(int epochs) {
      result_.epochs = epochs;
      result_.configuration = fmt::format("{} {} epochs", automl::describe(result_.config, space_), epochs);
    }

    void report_progress() {
      if (!o_.on_progress) return;
      progress_.budget = budget_ ? budget_->total() : o_.budget_seconds;
      progress_.charged = budget_ ? budget_->charged() : 0;
      progress_.trials_done = result_.trials.size();
      if (best_) progress_.best_score = result_.trials[*best_].score;
      o_.on_progress(progress_);
    }

    part_type part_;
    const automl::customize_options& o_;
    automl::customize_result result_;
    automl::search_space space_;
    std::optional<Budget> budget_;
    std::optional<pipeline::image_store> store_;
    std::vector<automl::validation_split> folds_;
    std::vector<step_cost> costs_;     // per entry of space_.backbones
    std::vector<double> correction_;   // measured / estimated cost of each backbone's last completed trial
    std::map<std::string, nn::weights_convention> conventions_;  // of the pretrained files
    std::optional<std::size_t> best_;  // index into result_.trials
    nn::safetensors_map best_weights_;
    std::optional<predictions> best_predictions_;
    std::size_t best_fold_ = 0;
    double baseline_ = 0;
    std::optional<opening_plan> opening_;  // planned after decoding (plan_opening)
    automl::trial_config cheapest_;        // the cheapest useful run: what the minimum budget buys
    bool few_shot_ = false;                // a tag has fewer than few_shot_images: one run on every image
    std::optional<automl::calibrator<B>> calibrator_;  // when the machine is measured, not given
    double busy_since_calibration_ = 0;
    std::size_t since_improvement_ = 0, skipped_in_a_row_ = 0, diverged_ = 0, completed_ = 0;
    automl::progress progress_;
  };
};

}  // namespace tailor
