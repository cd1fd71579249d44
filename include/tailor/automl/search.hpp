#pragma once
// The search strategies of AutoML: which recipe to train next, and for how many epochs, given the
// scores of the trials so far. Grid and random search train every recipe for max_epochs; successive
// halving, ASHA and Hyperband train many recipes briefly and only the best longer, so that a budget
// buys more recipes. All of them are driven the same way (the SearchStrategy concept):
//   while (auto request = strategy.next()) strategy.report(run(*request));
// next() returns std::nullopt only when nothing is left to do. Every decision depends only on the
// space, the options and the outcomes reported, so a search is reproducible from its scores.
//
// The epochs ladder shared by the halving strategies (rung_epochs): rung k trains
// min_epochs * eta^k epochs, capped at max_epochs, the top rung. With min_epochs 2, max_epochs 18
// and eta 3: 2, 6, 18.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "search_space.hpp"

namespace tailor::search {

struct options {
  std::uint64_t seed = 0;
  int eta = 3;                 // successive halving / ASHA / Hyperband reduction factor (>= 2)
  std::size_t max_trials = 0;  // cap on new configurations (0: no cap beyond the space's size)
};

struct trial_request {
  std::size_t id = 0;  // 0, 1, 2, ... in the order requested
  automl::trial_config config;
  int epochs = 0;                            // the resource for this trial
  int rung = 0;                              // 0 for a new configuration; k when promoted k times
  std::optional<std::size_t> promoted_from;  // the id of the trial at the rung below, for a promotion
};

struct trial_outcome {
  std::size_t id = 0;
  double score = 0;     // higher is better (validation accuracy or mAP)
  bool failed = false;  // diverged or could not run: never promoted, ranks below every score
};

// The epochs of each rung: min_epochs * eta^k, capped at max_epochs (the last rung).
inline std::vector<int> rung_epochs(const automl::search_space& space, int eta) {
  if (eta < 2)
    throw error(failure_code::invalid_argument,
                fmt::format("search::options.eta is {}: the reduction factor must be 2 or more (3 is usual)", eta));
  std::vector<int> epochs{space.min_epochs};
  while (epochs.back() < space.max_epochs)
    epochs.push_back(int(std::min<std::int64_t>(std::int64_t(epochs.back()) * eta, space.max_epochs)));
  return epochs;
}

namespace detail {

inline std::size_t saturating_multiply(std::size_t a, std::size_t b) {
  return b != 0 && a > std::numeric_limits<std::size_t>::max() / b ? std::numeric_limits<std::size_t>::max() : a * b;
}

inline std::size_t saturating_power(std::size_t base, std::size_t exponent) {
  std::size_t p = 1;
  for (std::size_t i = 0; i < exponent; ++i) p = saturating_multiply(p, base);
  return p;
}

// The order in which new configurations are tried, as indices into the space: the defaults first,
// then either the grid order or a seeded random permutation. The permutation is a Fisher–Yates
// shuffle done lazily (only the moved positions are stored), so a huge space costs memory only for
// what was drawn, and r() % n keeps it the same on every standard library.
class config_order {
 public:
  config_order(std::size_t space_size, std::size_t first, std::size_t max_trials, bool shuffled, std::uint64_t seed)
      : size_(space_size), first_(first), limit_(max_trials == 0 ? space_size : std::min(max_trials, space_size)),
        shuffled_(shuffled), random_(seed) {}

  std::optional<std::size_t> next() {
    if (started_ == limit_) return std::nullopt;
    const std::size_t k = started_++;
    if (!shuffled_) return k == 0 ? first_ : (k - 1 < first_ ? k - 1 : k);
    const std::size_t pick = k == 0 ? first_ : k + std::size_t(random_() % (size_ - k));
    const std::size_t chosen = value_at(pick);
    moved_[pick] = value_at(k);
    moved_.erase(k);  // position k is behind the shuffle now: never read again
    return chosen;
  }
  std::size_t started() const { return started_; }
  std::size_t remaining() const { return limit_ - started_; }

 private:
  std::size_t value_at(std::size_t position) const {
    const auto moved = moved_.find(position);
    return moved == moved_.end() ? position : moved->second;
  }

  std::size_t size_, first_, limit_, started_ = 0;
  bool shuffled_;
  std::mt19937_64 random_;
  std::unordered_map<std::size_t, std::size_t> moved_;
};

// What every strategy shares: the space and options (checked), the order of new configurations,
// and the log of requests and outcomes (with the checks on report()).
class strategy_base {
 public:
  void report(const trial_outcome& outcome) {
    if (outcome.id >= outcomes_.size())
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: no trial has id {} ({} requested so far); report the id of a request next() returned",
                              name_, outcome.id, outcomes_.size()));
    if (outcomes_[outcome.id])
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: trial {} was reported already; report each trial once", name_, outcome.id));
    if (!outcome.failed && !std::isfinite(outcome.score))
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: trial {} has score {}; report a finite score, or failed = true when the trial gave none",
                              name_, outcome.id, outcome.score));
    outcomes_[outcome.id] = outcome;
  }
  // New configurations requested so far (promotions not counted).
  std::size_t configs_started() const { return order_.started(); }
  std::size_t trials_requested() const { return requests_.size(); }

 protected:
  strategy_base(std::string_view name, const automl::search_space& space, const options& o, bool shuffled)
      : space_(validated(space, o)), options_(o), name_(name),
        order_(space_.size(), space_.index_of(space_.defaults), o.max_trials, shuffled, o.seed) {}

  // Decisions are taken on every outcome so far (which makes a search reproducible from its
  // scores), so each request must be reported before the next one is asked for.
  void require_outcomes() const {
    if (!outcomes_.empty() && !outcomes_.back())
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: trial {} has no outcome yet; report() it before asking for the next trial", name_,
                              outcomes_.size() - 1));
  }

  std::optional<automl::trial_config> new_config() {
    const auto index = order_.next();
    if (!index) return std::nullopt;
    return space_.at(*index);
  }
  std::size_t new_configs_left() const { return order_.remaining(); }

  trial_request issue(const automl::trial_config& config, int epochs, int rung, std::optional<std::size_t> promoted_from) {
    requests_.push_back({requests_.size(), config, epochs, rung, promoted_from});
    outcomes_.emplace_back();
    return requests_.back();
  }

  // The best `count` of `ids` (all reported), best first: failed trials left out, ties to the
  // earlier trial.
  std::vector<std::size_t> best(std::vector<std::size_t> ids, std::size_t count) const {
    std::erase_if(ids, [&](std::size_t id) { return outcomes_[id]->failed; });
    std::sort(ids.begin(), ids.end(), [&](std::size_t a, std::size_t b) {
      const double sa = outcomes_[a]->score, sb = outcomes_[b]->score;
      return sa != sb ? sa > sb : a < b;
    });
    ids.resize(std::min(count, ids.size()));
    return ids;
  }

  automl::search_space space_;
  options options_;
  std::vector<trial_request> requests_;

 private:
  std::string_view name_;

  static automl::search_space validated(const automl::search_space& space, const options& o) {
    space.validate();
    rung_epochs(space, o.eta);  // checks eta
    return space;
  }

  config_order order_;
  std::vector<std::optional<trial_outcome>> outcomes_;
};

// Synchronous successive halving in brackets, shared by successive_halving and hyperband. A bracket
// starts some new configurations at one rung of the ladder; when every trial of a rung has its
// outcome, the best 1/eta of them (at least one, never a failed trial) train at the next rung, best
// first, up to the top rung. Then the next bracket, with new configurations, until none are left.
class halving_brackets : public strategy_base {
 protected:
  struct bracket {
    std::size_t configs = 0;
    std::size_t first_rung = 0;
  };

  halving_brackets(std::string_view name, const automl::search_space& space, const options& o)
      : strategy_base(name, space, o, true), rungs_(rung_epochs(space_, o.eta)) {}

  template <class NextBracket>
  std::optional<trial_request> next_in_brackets(NextBracket&& next_bracket) {
    require_outcomes();
    for (;;) {
      if (next_to_run_ < to_run_.size()) {
        const auto promoted_from = to_run_[next_to_run_++];
        const auto config = promoted_from ? requests_[*promoted_from].config : *new_config();
        auto request = issue(config, rungs_[rung_], int(rung_ - first_rung_), promoted_from);
        rung_trials_.push_back(request.id);
        return request;
      }
      // The rung is complete: promote its best, or start the next bracket.
      std::vector<std::size_t> promoted;
      if (rung_ + 1 < rungs_.size())
        promoted = best(rung_trials_, std::max<std::size_t>(1, rung_trials_.size() / std::size_t(options_.eta)));
      rung_trials_.clear();
      to_run_.clear();
      next_to_run_ = 0;
      if (!promoted.empty()) {
        ++rung_;
        to_run_.assign(promoted.begin(), promoted.end());
        continue;
      }
      const bracket b = next_bracket();
      const std::size_t configs = std::min(b.configs, new_configs_left());
      if (configs == 0) return std::nullopt;
      rung_ = first_rung_ = b.first_rung;
      to_run_.assign(configs, std::nullopt);
    }
  }

  std::vector<int> rungs_;

 private:
  std::size_t rung_ = 0, first_rung_ = 0;
  std::vector<std::optional<std::size_t>> to_run_;  // this rung's trials: promoted from (nullopt: a new config)
  std::size_t next_to_run_ = 0;
  std::vector<std::size_t> rung_trials_;  // this rung's trials requested so far
};

}  // namespace detail

// Every configuration in grid order (the defaults first, then the others by index), max_epochs each.
class grid : public detail::strategy_base {
 public:
  static constexpr std::string_view name = "grid";
  grid(const automl::search_space& space, const options& o) : strategy_base(name, space, o, false) {}

  std::optional<trial_request> next() {
    require_outcomes();
    const auto config = new_config();
    if (!config) return std::nullopt;
    return issue(*config, space_.max_epochs, 0, std::nullopt);
  }
};

// The defaults first, then configurations in a seeded random order without repetition, max_epochs
// each, until the space (or max_trials) is exhausted.
class random : public detail::strategy_base {
 public:
  static constexpr std::string_view name = "random";
  random(const automl::search_space& space, const options& o) : strategy_base(name, space, o, true) {}

  std::optional<trial_request> next() {
    require_outcomes();
    const auto config = new_config();
    if (!config) return std::nullopt;
    return issue(*config, space_.max_epochs, 0, std::nullopt);
  }
};

// Synchronous successive halving (Jamieson & Talwalkar 2016). Each cohort is eta^K new
// configurations at rung 0 (K + 1 rungs in the ladder), so that exactly one reaches the top rung:
// with min_epochs 2, max_epochs 18, eta 3, 9 configurations train 2 epochs, the best 3 train 6, the
// best one 18. Then a new cohort. The last cohort is smaller when fewer configurations are left; the
// defaults are in the first.
class successive_halving : public detail::halving_brackets {
 public:
  static constexpr std::string_view name = "successive_halving";
  successive_halving(const automl::search_space& space, const options& o)
      : halving_brackets(name, space, o),
        cohort_(detail::saturating_power(std::size_t(o.eta), rungs_.size() - 1)) {}

  std::optional<trial_request> next() {
    return next_in_brackets([&] { return bracket{cohort_, 0}; });
  }
  std::size_t cohort_size() const { return cohort_; }

 private:
  std::size_t cohort_;
};

// Hyperband (Li et al. 2018): successive halving in brackets s = s_max, ..., 0, then again with new
// configurations until the space is exhausted. s_max is the top rung of the ladder (K, which is
// floor(log_eta(max_epochs / min_epochs)) when max_epochs / min_epochs is a power of eta); bracket s
// starts ceil((K + 1) / (s + 1) * eta^s) new configurations at rung K - s, so every bracket ends at
// max_epochs with about the same epochs spent. With min_epochs 2, max_epochs 18, eta 3: 9 at 2
// epochs (3 go on to 6, 1 to 18), then 5 at 6 epochs (1 goes on to 18), then 3 at 18 epochs.
class hyperband : public detail::halving_brackets {
 public:
  static constexpr std::string_view name = "hyperband";
  hyperband(const automl::search_space& space, const options& o) : halving_brackets(name, space, o) {}

  std::optional<trial_request> next() {
    return next_in_brackets([&] {
      const std::size_t top = rungs_.size() - 1, s = next_bracket_;
      next_bracket_ = s == 0 ? top : s - 1;
      const std::size_t weighted = detail::saturating_multiply(top + 1, detail::saturating_power(std::size_t(options_.eta), s));
      return bracket{weighted / (s + 1) + (weighted % (s + 1) != 0), top - s};
    });
  }

 private:
  std::size_t next_bracket_ = rungs_.size() - 1;
};

// Asynchronous successive halving (Li et al. 2020), used sequentially: next() promotes the best
// configuration, from the highest rung where one is in the top floor(n_k / eta) of the n_k trials
// reported at rung k, is not failed and is not yet promoted; otherwise it starts a new configuration
// at rung 0 (the defaults first). It ends when no configuration is left and none can be promoted.
class asha : public detail::strategy_base {
 public:
  static constexpr std::string_view name = "asha";
  asha(const automl::search_space& space, const options& o)
      : strategy_base(name, space, o, true), rungs_(rung_epochs(space_, o.eta)), rung_trials_(rungs_.size()) {}

  std::optional<trial_request> next() {
    require_outcomes();
    for (std::size_t k = rungs_.size() - 1; k-- > 0;)
      for (std::size_t id : best(rung_trials_[k], rung_trials_[k].size() / std::size_t(options_.eta)))
        if (!promoted_[id]) {
          promoted_[id] = true;
          return start(requests_[id].config, k + 1, id);
        }
    const auto config = new_config();
    if (!config) return std::nullopt;
    return start(*config, 0, std::nullopt);
  }

 private:
  trial_request start(const automl::trial_config& config, std::size_t rung, std::optional<std::size_t> promoted_from) {
    auto request = issue(config, rungs_[rung], int(rung), promoted_from);
    rung_trials_[rung].push_back(request.id);
    promoted_.push_back(false);
    return request;
  }

  std::vector<int> rungs_;
  std::vector<std::vector<std::size_t>> rung_trials_;  // trial ids by rung
  std::vector<bool> promoted_;                         // by trial id
};

template <class S>
concept SearchStrategy = std::constructible_from<S, const automl::search_space&, const options&> &&
    requires(S s, const trial_outcome& o) {
      { S::name } -> std::convertible_to<std::string_view>;
      { s.next() } -> std::same_as<std::optional<trial_request>>;
      s.report(o);
    };

template <class S>
constexpr void check_search_strategy() {
  static_assert(SearchStrategy<S>,
                "tailor: a search strategy needs a constructor (const automl::search_space&, const search::options&), a "
                "static name, next() -> std::optional<search::trial_request> and report(const search::trial_outcome&) "
                "(see tailor::search::asha)");
}

static_assert(SearchStrategy<grid> && SearchStrategy<random> && SearchStrategy<successive_halving> &&
              SearchStrategy<asha> && SearchStrategy<hyperband>);

}  // namespace tailor::search
