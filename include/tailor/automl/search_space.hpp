#pragma once
// The space of training recipes AutoML searches: a list of choices per hyperparameter (backbone,
// input size, optimizer, learning rate, ...) and the epochs a trial may train. A recipe is one
// choice per list (trial_config); the space numbers every recipe (at / index_of: the grid order,
// backbone varying slowest), so that the search strategies can enumerate or shuffle the space
// without repeating a recipe, and a recipe can be written down as one number.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../train/classification_trainer.hpp"
#include "../train/fit.hpp"

namespace tailor::automl {

constexpr std::string_view finetune_mode_name(train::finetune_mode mode) noexcept {
  switch (mode) {
    case train::finetune_mode::full: return "full";
    case train::finetune_mode::partial: return "partial";
    case train::finetune_mode::linear_probe: return "linear_probe";
  }
  return "unknown";
}

constexpr std::string_view optimizer_name(train::optimizer_kind optimizer) noexcept {
  switch (optimizer) {
    case train::optimizer_kind::sgd: return "sgd";
    case train::optimizer_kind::adamw: return "adamw";
  }
  return "unknown";
}

// One training recipe: one choice from each list of a search_space.
struct trial_config {
  std::size_t backbone = 0;  // index into search_space::backbones
  int input_size = 128;
  double learning_rate = 1e-3;
  double weight_decay = 0.05;
  int batch_size = 32;
  double augmentation = 0.5;  // augmentation strength in [0, 1]
  train::finetune_mode mode = train::finetune_mode::full;
  double label_smoothing = 0.1;
  train::optimizer_kind optimizer = train::optimizer_kind::adamw;
  bool operator==(const trial_config&) const = default;
};

namespace detail {
inline std::string choice_text(const std::string& name) { return fmt::format("\"{}\"", name); }
inline std::string choice_text(int value) { return fmt::format("{}", value); }
inline std::string choice_text(double value) { return fmt::format("{}", value); }
inline std::string choice_text(train::finetune_mode mode) { return std::string(finetune_mode_name(mode)); }
inline std::string choice_text(train::optimizer_kind optimizer) { return std::string(optimizer_name(optimizer)); }

// Every choice of a list must meet `acceptable` (else the message says `requirement`).
template <class T, class Acceptable>
void check_each_choice(const std::vector<T>& choices, std::string_view list, Acceptable acceptable,
                       std::string_view requirement) {
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (!acceptable(choices[i]))
      throw error(failure_code::invalid_argument, fmt::format("search_space.{}[{}] is {}: {}; change or remove it", list, i,
                                                              choice_text(choices[i]), requirement));
}

// A list must offer at least one choice, each once (a repeated choice would make two indices
// name the same recipe, and a strategy would train it twice).
template <class T>
void check_choice_list(const std::vector<T>& choices, std::string_view list) {
  if (choices.empty())
    throw error(failure_code::invalid_argument, fmt::format("search_space.{} is empty: give at least one choice", list));
  for (std::size_t i = 1; i < choices.size(); ++i)
    if (std::find(choices.begin(), choices.begin() + std::ptrdiff_t(i), choices[i]) != choices.begin() + std::ptrdiff_t(i))
      throw error(failure_code::invalid_argument, fmt::format("search_space.{} lists {} twice: list each choice once", list,
                                                              choice_text(choices[i])));
}
inline void check_backbone_index(std::size_t index, std::size_t backbones) {
  if (index >= backbones)
    throw error(failure_code::invalid_argument,
                fmt::format("trial_config.backbone is {} but the search space has {} backbone(s): the recipe is outside "
                            "the space",
                            index, backbones));
}
}  // namespace detail

struct search_space {
  std::vector<std::string> backbones;  // names (the customizer fills them from its compile-time list)
  std::vector<int> input_sizes{96, 128};
  std::vector<double> learning_rates{3e-4, 1e-3, 3e-3};
  std::vector<double> weight_decays{0.01, 0.05};
  std::vector<int> batch_sizes{32};
  std::vector<double> augmentations{0.3, 0.5};
  std::vector<train::finetune_mode> modes{train::finetune_mode::full};
  std::vector<double> label_smoothings{0.0, 0.1};
  std::vector<train::optimizer_kind> optimizers{train::optimizer_kind::adamw};
  int min_epochs = 2, max_epochs = 18;  // the resource successive halving / ASHA / Hyperband allot
  trial_config defaults;                // the recipe tried first (must be in the space; validate() checks)
  // A run of the defaults for long_run_epochs or more (the opening) trains at
  // long_run_learning_rate instead: a rate that wins over many epochs can fail to learn in a few
  // (docs/quality.md). 0: the defaults' own rate at any length. It need not be in the space.
  double long_run_learning_rate = 0;
  int long_run_epochs = 0;

  // The defaults as a run of `epochs` trains them.
  trial_config defaults_for(int epochs) const {
    trial_config c = defaults;
    if (long_run_learning_rate > 0 && epochs >= long_run_epochs) c.learning_rate = long_run_learning_rate;
    return c;
  }

  // Throws invalid_argument naming the first field that is wrong and how to fix it.
  void validate() const {
    detail::check_choice_list(backbones, "backbones");
    detail::check_each_choice(backbones, "backbones", [](const std::string& b) { return !b.empty(); },
                              "a backbone needs a name");
    detail::check_each_choice(input_sizes, "input_sizes", [](int v) { return v >= 16; }, "an input size is at least 16 pixels");
    detail::check_each_choice(learning_rates, "learning_rates", [](double v) { return std::isfinite(v) && v > 0; },
                              "a learning rate is a finite number above 0");
    detail::check_each_choice(weight_decays, "weight_decays", [](double v) { return std::isfinite(v) && v >= 0; },
                              "a weight decay is a finite number, 0 or more");
    detail::check_each_choice(batch_sizes, "batch_sizes", [](int v) { return v >= 1; }, "a batch holds at least 1 image");
    detail::check_each_choice(augmentations, "augmentations", [](double v) { return v >= 0 && v <= 1; },
                              "an augmentation strength is in [0, 1]");
    detail::check_each_choice(label_smoothings, "label_smoothings", [](double v) { return v >= 0 && v < 1; },
                              "a label smoothing is in [0, 1)");
    if (min_epochs < 1)
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space.min_epochs is {}: a trial trains at least 1 epoch; set it to 1 or more", min_epochs));
    if (max_epochs < min_epochs)
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space.max_epochs is {}, below search_space.min_epochs ({}): set max_epochs to "
                              "min_epochs or more",
                              max_epochs, min_epochs));
    if (!(std::isfinite(long_run_learning_rate) && long_run_learning_rate >= 0))
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space.long_run_learning_rate is {}: give a finite rate above 0, or 0 to train "
                              "the defaults at their own rate at any length",
                              long_run_learning_rate));
    if (long_run_learning_rate > 0 && long_run_epochs < 1)
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space.long_run_epochs is {}: with a long_run_learning_rate, say from how many "
                              "epochs on it applies (1 or more)",
                              long_run_epochs));
    if (defaults.backbone >= backbones.size())
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space.defaults.backbone is {} but search_space.backbones has {} name(s): use an "
                              "index below {}",
                              defaults.backbone, backbones.size(), backbones.size()));
    for_each_dimension(defaults, [](const auto& choices, const auto& value, std::string_view list, std::string_view field) {
      detail::check_choice_list(choices, list);
      if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        std::string offered;
        for (const auto& c : choices) offered += (offered.empty() ? "" : ", ") + detail::choice_text(c);
        throw error(failure_code::invalid_argument,
                    fmt::format("search_space.defaults.{} is {}, which is not among search_space.{} ({}): add it to the "
                                "list or set the default to one of them",
                                field, detail::choice_text(value), list, offered));
      }
    });
  }

  // The number of distinct recipes: the product of the list sizes.
  std::size_t size() const {
    std::size_t n = backbones.size();
    for_each_dimension(defaults, [&](const auto& choices, const auto&, std::string_view, std::string_view) {
      if (!choices.empty() && n > std::numeric_limits<std::size_t>::max() / choices.size())
        throw error(failure_code::invalid_argument,
                    "the search space holds more than 2^64 recipes: offer fewer choices per hyperparameter");
      n *= choices.size();
    });
    return n;
  }

  // The recipe numbered `index` in [0, size()): a mixed-radix number whose digits are the choices
  // in the order of trial_config's fields, the backbone the most significant.
  trial_config at(std::size_t index) const {
    const std::size_t n = size();
    if (index >= n)
      throw error(failure_code::invalid_argument,
                  fmt::format("search_space::at({}): the space has {} recipes; use an index below {}", index, n, n));
    trial_config c;
    std::size_t stride = n / backbones.size();
    c.backbone = index / stride;
    index %= stride;
    for_each_dimension(c, [&](const auto& choices, auto& value, std::string_view, std::string_view) {
      stride /= choices.size();
      value = choices[index / stride];
      index %= stride;
    });
    return c;
  }

  // The inverse of at(); throws invalid_argument when a value of `c` is not among the choices.
  std::size_t index_of(const trial_config& c) const {
    detail::check_backbone_index(c.backbone, backbones.size());
    std::size_t index = c.backbone;
    for_each_dimension(c, [&](const auto& choices, const auto& value, std::string_view list, std::string_view field) {
      const auto found = std::find(choices.begin(), choices.end(), value);
      if (found == choices.end())
        throw error(failure_code::invalid_argument,
                    fmt::format("trial_config.{} = {} is not among search_space.{}: the recipe is outside the space", field,
                                detail::choice_text(value), list));
      index = index * choices.size() + std::size_t(found - choices.begin());
    });
    return index;
  }

  // The space of the one recipe `c` (which must be in this space; the epochs stay): how
  // --defaults-only trains the defaults alone.
  search_space only(const trial_config& c) const {
    (void)index_of(c);  // throws when c is outside the space
    search_space s = *this;
    s.backbones = {backbones[c.backbone]};
    s.input_sizes = {c.input_size};
    s.learning_rates = {c.learning_rate};
    s.weight_decays = {c.weight_decay};
    s.batch_sizes = {c.batch_size};
    s.augmentations = {c.augmentation};
    s.modes = {c.mode};
    s.label_smoothings = {c.label_smoothing};
    s.optimizers = {c.optimizer};
    s.defaults = c;
    s.defaults.backbone = 0;
    return s;
  }

  // Each field drawn uniformly among its choices (r() % count, in the order of trial_config's
  // fields: the same recipes on every standard library).
  trial_config sample(std::mt19937_64& r) const {
    trial_config c;
    c.backbone = std::size_t(r() % backbones.size());
    for_each_dimension(c, [&](const auto& choices, auto& value, std::string_view, std::string_view) {
      value = choices[std::size_t(r() % choices.size())];
    });
    return c;
  }

 private:
  // f(choices, the config's value, list name, field name) for every dimension but the backbone,
  // in the order of trial_config's fields.
  template <class Config, class F>
  void for_each_dimension(Config& c, F&& f) const {
    f(input_sizes, c.input_size, "input_sizes", "input_size");
    f(learning_rates, c.learning_rate, "learning_rates", "learning_rate");
    f(weight_decays, c.weight_decay, "weight_decays", "weight_decay");
    f(batch_sizes, c.batch_size, "batch_sizes", "batch_size");
    f(augmentations, c.augmentation, "augmentations", "augmentation");
    f(modes, c.mode, "modes", "mode");
    f(label_smoothings, c.label_smoothing, "label_smoothings", "label_smoothing");
    f(optimizers, c.optimizer, "optimizers", "optimizer");
  }
};

// One line for people: "resnet18 128px adamw lr=0.001 wd=0.05 batch=32 aug=0.5 full smoothing=0.1".
inline std::string describe(const trial_config& c, const search_space& space) {
  detail::check_backbone_index(c.backbone, space.backbones.size());
  return fmt::format("{} {}px {} lr={} wd={} batch={} aug={} {} smoothing={}", space.backbones[c.backbone], c.input_size,
                     optimizer_name(c.optimizer), c.learning_rate, c.weight_decay, c.batch_size, c.augmentation,
                     finetune_mode_name(c.mode), c.label_smoothing);
}

}  // namespace tailor::automl
