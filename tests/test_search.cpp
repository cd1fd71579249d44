// The search space of AutoML (numbering, validation, description, sampling) and the search
// strategies (grid, random, successive halving, ASHA, Hyperband): what a customizer driving them
// relies on (the defaults first, no repeated trial, an end, determinism, max_trials, the reporting
// rules) and hand-checked promotion sequences for the halving strategies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <tailor/automl/search.hpp>

namespace {

namespace automl = tailor::automl;
namespace search = tailor::search;
namespace train = tailor::train;
using Catch::Matchers::Contains;

// 2 backbones x 2 sizes x 3 learning rates x 2 weight decays x 2 augmentations x 2 smoothings = 96.
automl::search_space two_backbones() {
  automl::search_space s;
  s.backbones = {"resnet18", "mobilenet_v3_small"};
  return s;
}

// 3 learning rates x 2 weight decays x 2 smoothings = 12.
automl::search_space twelve_recipes() {
  automl::search_space s;
  s.backbones = {"resnet18"};
  s.input_sizes = {128};
  s.augmentations = {0.5};
  return s;
}

search::options seeded(std::uint64_t seed, std::size_t max_trials = 0) {
  search::options o;
  o.seed = seed;
  o.max_trials = max_trials;
  return o;
}

search::trial_outcome scored(std::size_t id, double score) {
  search::trial_outcome o;
  o.id = id;
  o.score = score;
  return o;
}

search::trial_outcome failed(std::size_t id, double score = 0) {
  auto o = scored(id, score);
  o.failed = true;
  return o;
}

// A synthetic objective: every recipe of a space of up to 101 has its own quality (its index
// permuted), the score grows with the epochs and keeps the recipes' order at equal epochs; with
// failures, one recipe in 11 diverges.
double quality(const automl::search_space& s, const automl::trial_config& c) {
  return double(s.index_of(c) * 7919 % 101) / 101.0;
}
bool diverges(const automl::search_space& s, const automl::trial_config& c) { return s.index_of(c) % 11 == 5; }
search::trial_outcome objective(const automl::search_space& s, const search::trial_request& r, bool with_failures) {
  auto o = scored(r.id, quality(s, r.config) * r.epochs / (r.epochs + 4.0));
  o.failed = with_failures && diverges(s, r.config);
  return o;
}

template <class S>
std::vector<search::trial_request> run_to_end(S& strategy, const automl::search_space& s, bool with_failures) {
  std::vector<search::trial_request> requests;
  while (auto r = strategy.next()) {
    requests.push_back(*r);
    strategy.report(objective(s, *r, with_failures));
    if (requests.size() > 10000) FAIL("the strategy does not end");
  }
  return requests;
}

using request_key = std::tuple<std::size_t, std::size_t, int, int, std::optional<std::size_t>>;
std::vector<request_key> keys(const automl::search_space& s, const std::vector<search::trial_request>& requests) {
  std::vector<request_key> k;
  for (const auto& r : requests) k.emplace_back(r.id, s.index_of(r.config), r.epochs, r.rung, r.promoted_from);
  return k;
}

template <class F>
std::string invalid_argument_message(F&& f) {
  try {
    f();
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
    return e.what();
  }
  FAIL("no tailor::error was thrown");
  return {};
}

template <class S>
constexpr bool trains_every_config_fully = std::is_same_v<S, search::grid> || std::is_same_v<S, search::random>;

}  // namespace

TEST_CASE("search_space numbers every recipe once: at and index_of are inverse, backbone slowest", "[automl][search]") {
  const auto s = two_backbones();
  REQUIRE(s.size() == 96);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = s.at(i);
    CHECK(s.index_of(c) == i);
    CHECK(c.backbone == i / 48);
  }
  CHECK(s.at(0) ==
        automl::trial_config{0, 96, 3e-4, 0.01, 32, 0.3, train::finetune_mode::full, 0.0, train::optimizer_kind::adamw});
  CHECK(s.at(1).label_smoothing == 0.1);  // the last field varies fastest (optimizers has one choice)
  CHECK_THROWS_AS(s.at(96), tailor::error);
  auto outside = s.defaults;
  outside.learning_rate = 0.1;
  CHECK_THAT(invalid_argument_message([&] { s.index_of(outside); }), Contains("learning_rate"));
}

TEST_CASE("search_space::only is the space of one recipe: size 1, that recipe, the epochs kept", "[automl][search]") {
  const auto s = two_backbones();
  const auto c = s.at(77);
  const auto one = s.only(c);
  CHECK_NOTHROW(one.validate());
  REQUIRE(one.size() == 1);
  CHECK(one.backbones == std::vector<std::string>{s.backbones[c.backbone]});
  auto expected = c;
  expected.backbone = 0;
  CHECK(one.at(0) == expected);
  CHECK(one.defaults == expected);
  CHECK(one.min_epochs == s.min_epochs);
  CHECK(one.max_epochs == s.max_epochs);
  auto outside = c;
  outside.input_size = 17;
  CHECK_THAT(invalid_argument_message([&] { (void)s.only(outside); }), Contains("input_size"));
}

TEST_CASE("search_space with its default lists and one backbone is valid and holds its defaults", "[automl][search]") {
  automl::search_space s;
  s.backbones = {"resnet18"};
  CHECK_NOTHROW(s.validate());
  CHECK_NOTHROW(s.index_of(s.defaults));
}

TEST_CASE("search_space::validate names the field that is wrong", "[automl][search]") {
  struct bad_case {
    std::string field;
    std::function<void(automl::search_space&)> change;
  };
  const std::vector<bad_case> cases{
      {"search_space.backbones is empty", [](auto& s) { s.backbones.clear(); }},
      {"search_space.backbones lists \"resnet18\" twice", [](auto& s) { s.backbones.push_back("resnet18"); }},
      {"search_space.backbones[2]", [](auto& s) { s.backbones.push_back(""); }},
      {"search_space.input_sizes[0]", [](auto& s) { s.input_sizes = {8, 128}; }},
      {"search_space.learning_rates[1]", [](auto& s) { s.learning_rates = {1e-3, 0.0}; }},
      {"search_space.learning_rates[0]", [](auto& s) { s.learning_rates = {std::nan(""), 1e-3}; }},
      {"search_space.weight_decays[0]", [](auto& s) { s.weight_decays = {-0.1, 0.05}; }},
      {"search_space.batch_sizes[0]", [](auto& s) { s.batch_sizes = {0}; }},
      {"search_space.augmentations[1]", [](auto& s) { s.augmentations = {0.5, 1.5}; }},
      {"search_space.label_smoothings[1]", [](auto& s) { s.label_smoothings = {0.1, 1.0}; }},
      {"search_space.modes is empty", [](auto& s) { s.modes.clear(); }},
      {"search_space.optimizers lists adamw twice",
       [](auto& s) { s.optimizers = {train::optimizer_kind::adamw, train::optimizer_kind::adamw}; }},
      {"search_space.min_epochs", [](auto& s) { s.min_epochs = 0; }},
      {"search_space.max_epochs", [](auto& s) { s.max_epochs = 1; }},
      {"search_space.defaults.backbone", [](auto& s) { s.defaults.backbone = 2; }},
      {"search_space.defaults.learning_rate", [](auto& s) { s.defaults.learning_rate = 0.01; }},
      {"search_space.defaults.mode", [](auto& s) { s.defaults.mode = train::finetune_mode::partial; }},
      {"search_space.defaults.optimizer", [](auto& s) { s.defaults.optimizer = train::optimizer_kind::sgd; }},
      {"search_space.long_run_learning_rate", [](auto& s) { s.long_run_learning_rate = -1e-3; }},
      {"search_space.long_run_learning_rate", [](auto& s) { s.long_run_learning_rate = std::nan(""); }},
      {"search_space.long_run_epochs", [](auto& s) { s.long_run_learning_rate = 5e-3; }},
  };
  for (const auto& c : cases) {
    INFO(c.field);
    auto s = two_backbones();
    c.change(s);
    CHECK_THAT(invalid_argument_message([&] { s.validate(); }), Contains(c.field));
  }
  CHECK_NOTHROW(two_backbones().validate());
}

TEST_CASE("the defaults take the long-run learning rate from long_run_epochs on", "[automl][search]") {
  auto s = two_backbones();
  CHECK(s.defaults_for(1000) == s.defaults);  // none set: the defaults' own rate at any length
  s.long_run_learning_rate = 5e-3;
  s.long_run_epochs = 8;
  CHECK_NOTHROW(s.validate());  // the long-run rate need not be among the space's rates
  CHECK(s.defaults_for(7) == s.defaults);
  auto long_run = s.defaults;
  long_run.learning_rate = 5e-3;
  CHECK(s.defaults_for(8) == long_run);
  CHECK(s.defaults_for(40) == long_run);
  // --defaults-only keeps the rule: its one recipe is the defaults, at whatever rate the run's length gives.
  CHECK(s.only(s.defaults).defaults_for(8).learning_rate == 5e-3);
}

TEST_CASE("describe writes a recipe on one line", "[automl][search]") {
  auto s = two_backbones();
  CHECK(automl::describe(s.defaults, s) == "resnet18 128px adamw lr=0.001 wd=0.05 batch=32 aug=0.5 full smoothing=0.1");
  automl::trial_config c;
  c.backbone = 1;
  c.input_size = 96;
  c.optimizer = train::optimizer_kind::sgd;
  c.learning_rate = 3e-4;
  c.mode = train::finetune_mode::linear_probe;
  c.label_smoothing = 0;
  CHECK(automl::describe(c, s) == "mobilenet_v3_small 96px sgd lr=0.0003 wd=0.05 batch=32 aug=0.5 linear_probe smoothing=0");
  c.backbone = 2;
  CHECK_THROWS_AS(automl::describe(c, s), tailor::error);
}

TEST_CASE("search_space::sample draws recipes of the space, every choice, the same for the same seed", "[automl][search]") {
  const auto s = two_backbones();
  std::mt19937_64 r1(5), r2(5);
  std::set<double> learning_rates;
  std::set<std::size_t> recipes;
  for (int i = 0; i < 500; ++i) {
    const auto c = s.sample(r1);
    CHECK(c == s.sample(r2));
    recipes.insert(s.index_of(c));
    learning_rates.insert(c.learning_rate);
  }
  CHECK(learning_rates.size() == 3);
  CHECK(recipes.size() > 80);
}

TEST_CASE("rung_epochs: min_epochs times eta^k, capped at max_epochs", "[automl][search]") {
  auto s = two_backbones();
  CHECK(search::rung_epochs(s, 3) == std::vector<int>{2, 6, 18});
  s.max_epochs = 10;
  CHECK(search::rung_epochs(s, 3) == std::vector<int>{2, 6, 10});
  s.min_epochs = 1;
  s.max_epochs = 16;
  CHECK(search::rung_epochs(s, 2) == std::vector<int>{1, 2, 4, 8, 16});
  s.min_epochs = s.max_epochs = 5;
  CHECK(search::rung_epochs(s, 3) == std::vector<int>{5});
  CHECK_THAT(invalid_argument_message([&] { search::rung_epochs(s, 1); }), Contains("eta"));
}

TEMPLATE_TEST_CASE("a search strategy starts with the defaults", "[automl][search]", search::grid, search::random,
                   search::successive_halving, search::asha, search::hyperband) {
  search::check_search_strategy<TestType>();
  auto s = two_backbones();
  s.defaults.backbone = 1;
  s.defaults.learning_rate = 3e-3;
  s.defaults.label_smoothing = 0.0;
  TestType strategy(s, seeded(11));
  const auto first = strategy.next();
  REQUIRE(first);
  CHECK(first->id == 0);
  CHECK(first->config == s.defaults);
  CHECK(first->rung == 0);
  CHECK(!first->promoted_from);
  CHECK(first->epochs == (trains_every_config_fully<TestType> ? 18 : 2));
  CHECK(strategy.configs_started() == 1);
}

TEMPLATE_TEST_CASE("a search strategy tries every recipe once, never repeats a trial, promotes no failure, and ends",
                   "[automl][search]", search::grid, search::random, search::successive_halving, search::asha,
                   search::hyperband) {
  const auto s = two_backbones();
  TestType strategy(s, seeded(3));
  const auto requests = run_to_end(strategy, s, true);
  std::set<std::pair<std::size_t, int>> trials;
  std::set<std::size_t> new_recipes;
  const auto ladder = search::rung_epochs(s, 3);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    INFO("trial " << i);
    CHECK(r.id == i);
    CHECK(trials.insert({s.index_of(r.config), r.epochs}).second);
    CHECK(std::find(ladder.begin(), ladder.end(), r.epochs) != ladder.end());
    if (!r.promoted_from) {
      CHECK(r.rung == 0);
      CHECK(new_recipes.insert(s.index_of(r.config)).second);
    } else {
      REQUIRE(*r.promoted_from < i);
      const auto& from = requests[*r.promoted_from];
      CHECK(!diverges(s, from.config));
      CHECK(from.config == r.config);
      CHECK(r.rung == from.rung + 1);
      CHECK(r.epochs > from.epochs);
    }
  }
  CHECK(new_recipes.size() == s.size());
  CHECK(strategy.configs_started() == s.size());
  CHECK(strategy.trials_requested() == requests.size());
  CHECK(!strategy.next());  // stays exhausted
}

TEMPLATE_TEST_CASE("a search strategy gives the same requests for the same space, seed and scores", "[automl][search]",
                   search::grid, search::random, search::successive_halving, search::asha, search::hyperband) {
  const auto s = two_backbones();
  TestType a(s, seeded(42)), b(s, seeded(42)), other_seed(s, seeded(43));
  const auto first = keys(s, run_to_end(a, s, true));
  CHECK(first == keys(s, run_to_end(b, s, true)));
  const auto third = keys(s, run_to_end(other_seed, s, true));
  if constexpr (std::is_same_v<TestType, search::grid>) CHECK(first == third);
  else CHECK(first != third);
}

TEMPLATE_TEST_CASE("a search strategy starts at most max_trials recipes", "[automl][search]", search::grid, search::random,
                   search::successive_halving, search::asha, search::hyperband) {
  const auto s = two_backbones();
  TestType strategy(s, seeded(9, 10));
  const auto requests = run_to_end(strategy, s, false);
  CHECK(std::count_if(requests.begin(), requests.end(), [](const auto& r) { return !r.promoted_from; }) == 10);
  CHECK(strategy.configs_started() == 10);
}

TEMPLATE_TEST_CASE("a search strategy refuses an unknown id, a second report, a missing report and a non-finite score",
                   "[automl][search]", search::grid, search::random, search::successive_halving, search::asha,
                   search::hyperband) {
  const auto s = two_backbones();
  TestType strategy(s, seeded(0));
  CHECK_THAT(invalid_argument_message([&] { strategy.report(scored(0, 0.5)); }), Contains("no trial has id 0"));
  REQUIRE(strategy.next());
  CHECK_THAT(invalid_argument_message([&] { strategy.next(); }), Contains("trial 0 has no outcome yet"));
  CHECK_THAT(invalid_argument_message([&] { strategy.report(scored(0, std::numeric_limits<double>::infinity())); }),
             Contains("finite"));
  strategy.report(failed(0, std::nan("")));  // a failed trial needs no score
  CHECK_THAT(invalid_argument_message([&] { strategy.report(scored(0, 0.5)); }), Contains("reported already"));
  CHECK_THAT(invalid_argument_message([&] { strategy.report(scored(1, 0.5)); }), Contains("no trial has id 1"));
  CHECK(strategy.next());
}

TEMPLATE_TEST_CASE("a search strategy refuses eta below 2 and an invalid space", "[automl][search]", search::grid,
                   search::random, search::successive_halving, search::asha, search::hyperband) {
  auto o = seeded(0);
  o.eta = 1;
  CHECK_THAT(invalid_argument_message([&] { TestType strategy(two_backbones(), o); }), Contains("eta"));
  CHECK_THAT(invalid_argument_message([&] { TestType strategy(automl::search_space{}, search::options{}); }),
             Contains("search_space.backbones is empty"));
}

TEST_CASE("grid tries the defaults, then every other recipe in index order", "[automl][search]") {
  auto s = twelve_recipes();
  s.defaults = s.at(5);
  search::grid g(s, seeded(0));
  std::vector<std::size_t> order;
  for (const auto& r : run_to_end(g, s, false)) order.push_back(s.index_of(r.config));
  CHECK(order == std::vector<std::size_t>{5, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11});
}

TEST_CASE("asha promotes the best of the highest rung that allows it, else starts a new recipe", "[automl][search]") {
  // eta 3, rungs of 2, 6 and 18 epochs. Each step: the expected request, then the score reported.
  struct step {
    std::optional<std::size_t> promoted_from;
    int rung, epochs;
    double score;
  };
  const std::vector<step> script{
      {{}, 0, 2, 0.5},   // 0 (the defaults)
      {{}, 0, 2, 0.9},   // 1
      {{}, 0, 2, 0.7},   // 2
      {1, 1, 6, 0.8},    // 3: rung 0 has 3 results, its best (1) goes up
      {{}, 0, 2, 0.1},   // 4: rung 0's top 1 is promoted already
      {{}, 0, 2, 0.95},  // 5
      {5, 1, 6, 0.85},   // 6: 5 is now rung 0's best
      {{}, 0, 2, 0.2},   // 7
      {{}, 0, 2, 0.3},   // 8: rung 0's top 2 (5, 1) are promoted
      {{}, 0, 2, 0.4},   // 9
      {{}, 0, 2, 0.6},   // 10
      {2, 1, 6, 0.5},    // 11: 9 results at rung 0, its top 3 include 2
      {6, 2, 18, 0.9},   // 12: rung 1 has 3 results (0.8, 0.85, 0.5): the highest rung goes first
      {{}, 0, 2, 0.0},   // 13
  };
  const auto s = two_backbones();
  search::asha a(s, seeded(1));
  std::vector<search::trial_request> requests;
  for (std::size_t i = 0; i < script.size(); ++i) {
    INFO("trial " << i);
    const auto r = a.next();
    REQUIRE(r);
    CHECK(r->id == i);
    CHECK(r->promoted_from == script[i].promoted_from);
    CHECK(r->rung == script[i].rung);
    CHECK(r->epochs == script[i].epochs);
    if (r->promoted_from) CHECK(r->config == requests[*r->promoted_from].config);
    requests.push_back(*r);
    a.report(scored(i, script[i].score));
  }
  CHECK(a.configs_started() == 10);
}

TEST_CASE("asha never promotes a failed trial, and a tie goes to the earlier trial", "[automl][search]") {
  const auto s = two_backbones();
  SECTION("the best score failed: the next best goes up") {
    search::asha a(s, seeded(0));
    const std::vector<search::trial_outcome> outcomes{failed(0, 0.99), scored(1, 0.2), scored(2, 0.1)};
    for (const auto& o : outcomes) {
      REQUIRE(a.next());
      a.report(o);
    }
    const auto r = a.next();
    REQUIRE(r);
    CHECK(r->promoted_from == std::optional<std::size_t>{1});
  }
  SECTION("all failed: nothing goes up") {
    search::asha a(s, seeded(0));
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(a.next());
      a.report(failed(i));
    }
    const auto r = a.next();
    REQUIRE(r);
    CHECK(!r->promoted_from);
    CHECK(r->rung == 0);
  }
  SECTION("ties") {
    search::asha a(s, seeded(0));
    const std::vector<double> scores{0.5, 0.5, 0.3};
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(a.next());
      a.report(scored(i, scores[i]));
    }
    auto r = a.next();
    REQUIRE(r);
    CHECK(r->promoted_from == std::optional<std::size_t>{0});
    a.report(scored(3, 0.6));
    for (std::size_t i = 4; i < 7; ++i) {  // rung 0 reaches 6 results: its top 2 are 0 and 1
      REQUIRE(a.next());
      a.report(scored(i, 0.1));
    }
    r = a.next();
    REQUIRE(r);
    CHECK(r->promoted_from == std::optional<std::size_t>{1});
  }
}

TEST_CASE("asha trains rung k for min_epochs * eta^k epochs, capped at max_epochs", "[automl][search]") {
  auto s = two_backbones();
  s.max_epochs = 10;
  search::asha a(s, seeded(2));
  const auto requests = run_to_end(a, s, false);
  const std::vector<int> ladder{2, 6, 10};
  std::set<int> rungs;
  for (const auto& r : requests) {
    REQUIRE(r.rung < 3);
    CHECK(r.epochs == ladder[std::size_t(r.rung)]);
    rungs.insert(r.rung);
  }
  CHECK(rungs == std::set<int>{0, 1, 2});
}

TEST_CASE("asha trains the best recipe to max_epochs with fewer epochs than a grid spends", "[automl][search]") {
  const auto s = two_backbones();
  std::size_t optimum = 0;
  for (std::size_t i = 1; i < s.size(); ++i)
    if (quality(s, s.at(i)) > quality(s, s.at(optimum))) optimum = i;
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    INFO("seed " << seed);
    search::asha a(s, seeded(seed));
    const auto requests = run_to_end(a, s, false);
    int epochs = 0;
    std::optional<search::trial_request> best_full;
    for (const auto& r : requests) {
      epochs += r.epochs;
      if (r.epochs == s.max_epochs && (!best_full || quality(s, r.config) > quality(s, best_full->config))) best_full = r;
    }
    REQUIRE(best_full);
    CHECK(s.index_of(best_full->config) == optimum);
    CHECK(epochs <= int(s.size()) * s.max_epochs / 2);
  }
}

TEST_CASE("successive_halving: cohorts of 9 at 2 epochs, the best 3 at 6, the best one at 18", "[automl][search]") {
  const auto s = two_backbones();
  search::successive_halving sh(s, seeded(4));
  CHECK(sh.cohort_size() == 9);
  const std::vector<double> rung0{0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.5};
  std::vector<search::trial_request> requests;
  for (std::size_t i = 0; i < 9; ++i) {
    const auto r = sh.next();
    REQUIRE(r);
    CHECK((r->rung == 0 && r->epochs == 2 && !r->promoted_from));
    requests.push_back(*r);
    sh.report(scored(i, rung0[i]));
  }
  const std::vector<std::size_t> promoted{1, 3, 5};  // best first
  const std::vector<double> rung1{0.5, 0.7, 0.6};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto r = sh.next();
    REQUIRE(r);
    CHECK(r->rung == 1);
    CHECK(r->epochs == 6);
    CHECK(r->promoted_from == std::optional<std::size_t>{promoted[i]});
    CHECK(r->config == requests[promoted[i]].config);
    requests.push_back(*r);
    sh.report(scored(9 + i, rung1[i]));
  }
  const auto top = sh.next();
  REQUIRE(top);
  CHECK(top->rung == 2);
  CHECK(top->epochs == 18);
  CHECK(top->promoted_from == std::optional<std::size_t>{10});
  sh.report(scored(12, 0.9));
  for (std::size_t i = 13; i < 22; ++i) {  // the next cohort: 9 new recipes
    const auto r = sh.next();
    REQUIRE(r);
    CHECK((r->rung == 0 && r->epochs == 2 && !r->promoted_from));
    sh.report(scored(i, 0.5));
  }
  CHECK(sh.configs_started() == 18);
}

TEST_CASE("successive_halving runs a smaller last cohort on what is left of the space", "[automl][search]") {
  const auto s = twelve_recipes();
  search::successive_halving sh(s, seeded(0));
  std::vector<std::pair<int, int>> shape;  // (epochs, how many in a row)
  for (const auto& r : run_to_end(sh, s, false)) {
    if (shape.empty() || shape.back().first != r.epochs) shape.emplace_back(r.epochs, 0);
    ++shape.back().second;
  }
  CHECK(shape == std::vector<std::pair<int, int>>{{2, 9}, {6, 3}, {18, 1}, {2, 3}, {6, 1}, {18, 1}});
}

TEST_CASE("hyperband: brackets of 9 at 2 epochs, 5 at 6 and 3 at 18, then again", "[automl][search]") {
  const auto s = two_backbones();
  search::hyperband hb(s, seeded(8));
  struct run_of_trials {
    int count, epochs, rung;
    bool new_recipes;
    bool operator==(const run_of_trials&) const = default;
  };
  std::vector<search::trial_request> requests;
  std::vector<run_of_trials> shape;
  while (requests.size() < 31) {
    const auto r = hb.next();
    REQUIRE(r);
    requests.push_back(*r);
    hb.report(objective(s, *r, false));
    const run_of_trials kind{1, r->epochs, r->rung, !r->promoted_from};
    if (shape.empty() || shape.back().epochs != kind.epochs || shape.back().rung != kind.rung ||
        shape.back().new_recipes != kind.new_recipes)
      shape.push_back(kind);
    else
      ++shape.back().count;
  }
  CHECK(shape == std::vector<run_of_trials>{{9, 2, 0, true}, {3, 6, 1, false}, {1, 18, 2, false}, {5, 6, 0, true},
                                            {1, 18, 1, false}, {3, 18, 0, true}, {9, 2, 0, true}});
  // The first bracket's 3 promotions are the 3 best of its 9 recipes, best first.
  std::vector<std::size_t> by_score{0, 1, 2, 3, 4, 5, 6, 7, 8};
  std::sort(by_score.begin(), by_score.end(),
            [&](auto a, auto b) { return quality(s, requests[a].config) > quality(s, requests[b].config); });
  for (std::size_t i = 0; i < 3; ++i) CHECK(requests[9 + i].promoted_from == std::optional<std::size_t>{by_score[i]});
  CHECK(hb.configs_started() == 9 + 5 + 3 + 9);
}
