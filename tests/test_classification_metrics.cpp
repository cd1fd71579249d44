// Classification metrics against vision-evaluation on scikit-learn: the fixture cases written by
// tests/fixtures/classification_metrics/make_fixtures.py (every report key, four averages), and
// hand-worked cases from the spec (expected values derived in the comments).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include <tailor/data/coco.hpp>
#include <tailor/eval/classification.hpp>
#include <tailor/eval/classification_results.hpp>

#include "test_support.hpp"

namespace {

using tailor::eval::averaging;
using tailor::eval::classification_accumulator;
using tailor::eval::classification_kind;
using tailor::eval::classification_metrics_options;
using tailor::eval::prediction_filter;
using ojson = nlohmann::ordered_json;

using tailor::testing::read_text;

// |a - b| <= 1e-12, relative to |b| when that is above 1.
bool close(double a, double b) { return std::fabs(a - b) <= 1e-12 * std::max(1.0, std::fabs(b)); }

struct fixture_case {
  std::string name;
  classification_kind kind;
  std::size_t classes = 0, samples = 0;
  std::vector<int> top_k;
  std::vector<double> thresholds;
  std::vector<double> scores;
  std::vector<std::int32_t> targets;
  nlohmann::json reports;
};

std::vector<fixture_case> load_fixtures() {
  const auto path = std::filesystem::path(TAILOR_TEST_DATA_DIR) / "classification_metrics" / "fixtures.json";
  REQUIRE(std::filesystem::exists(path));
  const auto doc = nlohmann::json::parse(read_text(path));
  std::vector<fixture_case> out;
  for (const auto& c : doc.at("cases")) {
    fixture_case f;
    f.name = c.at("name");
    f.kind = c.at("kind") == "multiclass" ? classification_kind::multiclass : classification_kind::multilabel;
    f.classes = c.at("num_classes");
    f.top_k = c.at("top_k").get<std::vector<int>>();
    f.thresholds = c.at("thresholds").get<std::vector<double>>();
    for (const auto& row : c.at("scores")) {
      REQUIRE(row.size() == f.classes);
      for (double v : row) f.scores.push_back(v);
    }
    f.samples = f.scores.size() / f.classes;
    f.targets = c.at("targets").get<std::vector<std::int32_t>>();
    f.reports = c.at("reports");
    out.push_back(std::move(f));
  }
  REQUIRE(out.size() >= 10);
  return out;
}

// Adds `f` in batches of `batch` rows (0: all at once).
classification_accumulator accumulate(const fixture_case& f, averaging average, std::size_t batch) {
  classification_metrics_options o;
  o.top_k = f.top_k;
  o.thresholds = f.thresholds;
  o.average = average;
  classification_accumulator acc(f.classes, f.kind, o);
  const std::size_t per_target = f.kind == classification_kind::multiclass ? 1 : f.classes;
  if (batch == 0) batch = std::max<std::size_t>(f.samples, 1);
  for (std::size_t r = 0; r < f.samples; r += batch) {
    const std::size_t n = std::min(batch, f.samples - r);
    acc.add(std::span<const double>(f.scores).subspan(r * f.classes, n * f.classes),
            std::span<const std::int32_t>(f.targets).subspan(r * per_target, n * per_target));
  }
  return acc;
}

// Compares one value of a report; returns the largest |difference| seen.
double compare_value(const std::string& where, const ojson& got, const nlohmann::json& want) {
  INFO(where << ": got " << got.dump() << ", expected " << want.dump());
  if (want.is_number()) {
    REQUIRE(got.is_number());
    const double g = got.get<double>(), w = want.get<double>();
    CHECK(std::isfinite(g));
    CHECK(close(g, w));
    return std::fabs(g - w);
  }
  if (want.is_array()) {
    REQUIRE(got.is_array());
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, compare_value(fmt::format("{}[{}]", where, i), got[i], want[i]));
    return worst;
  }
  REQUIRE(want.is_object());
  REQUIRE(got.is_object());
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (auto it = want.begin(); it != want.end(); ++it) {
    REQUIRE(got.contains(it.key()));
    worst = std::max(worst, compare_value(where + "." + it.key(), got[it.key()], it.value()));
  }
  return worst;
}

// A COCO classification ground truth: images {id}, categories {id}, tags (image, category).
tailor::data::coco_dataset make_gt(const std::vector<std::int64_t>& images, const std::vector<std::int64_t>& categories,
                                   const std::vector<std::pair<std::int64_t, std::int64_t>>& tags) {
  ojson doc = tailor::testing::coco_skeleton(images, categories);
  std::int64_t next = 1;
  for (auto [image, category] : tags) doc["annotations"].push_back(tailor::testing::tag_entry(next++, image, category));
  const std::string text = doc.dump();
  tailor::data::coco_options options;
  options.require_image_sizes = false;
  auto report = tailor::data::read_coco(std::string_view(text), "gt.json", options);
  REQUIRE(report.readable);
  return std::move(report.dataset);
}

// The message of the invalid_argument error `f` throws ("" when it does not throw that).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tailor::error& e) {
    if (e.code() == tailor::failure_code::invalid_argument) return e.what();
    return std::string("wrong code: ") + e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("classification: every report key equals vision-evaluation's on the sklearn fixtures", "[classification]") {
  double worst = 0;
  std::size_t values = 0;
  for (const auto& f : load_fixtures()) {
    for (auto average : {averaging::macro, averaging::micro, averaging::weighted, averaging::samples}) {
      const std::string avg(to_string(average));
      INFO("case " << f.name << ", average " << avg);
      const auto want = f.reports.at(avg);
      // Batches of 7 rows: the streamed counts must not depend on the batch boundaries.
      const auto got = accumulate(f, average, 7).report();
      REQUIRE(got.size() == want.size());
      for (auto it = want.begin(); it != want.end(); ++it) {
        INFO("key " << it.key());
        REQUIRE(got.contains(it.key()));
        worst = std::max(worst, compare_value(f.name + "/" + avg + "/" + it.key(), got[it.key()], it.value()));
        ++values;
      }
    }
  }
  WARN("classification fixtures: " << values << " report values, max |difference| against sklearn = "
                                   << fmt::format("{:.3g}", worst));
}

TEST_CASE("classification: batch sizes change nothing but the last bits of sums", "[classification]") {
  for (const auto& f : load_fixtures()) {
    INFO("case " << f.name);
    const auto whole = accumulate(f, averaging::samples, 0).report();
    const auto rows = accumulate(f, averaging::samples, 1).report();
    REQUIRE(whole.size() == rows.size());
    for (auto it = whole.begin(); it != whole.end(); ++it) {
      INFO("key " << it.key());
      if (it.value().is_number()) CHECK(std::fabs(it.value().get<double>() - rows[it.key()].get<double>()) <= 1e-15);
      else CHECK(it.value() == rows[it.key()]);
    }
  }
}

TEST_CASE("classification: typed metrics equal the report's", "[classification]") {
  const auto cases = load_fixtures();
  const auto& f = cases.front();  // mc_softmax
  REQUIRE(f.kind == classification_kind::multiclass);
  const auto acc = accumulate(f, averaging::macro, 0);
  const auto r = acc.report();
  CHECK(acc.top_k_accuracy(1) == r["accuracy_top1"].get<double>());
  CHECK(acc.precision(prediction_filter::top(1), averaging::macro) == r["precision_top1"].get<double>());
  CHECK(acc.recall(prediction_filter::at_threshold(0.5), averaging::macro) == r["recall_thres=0.5"].get<double>());
  CHECK(acc.f1_score(prediction_filter::top(3), averaging::macro) == r["f1_score_top3"].get<double>());
  CHECK(acc.average_precision(averaging::macro) == r["average_precision"].get<double>());
  CHECK(acc.tag_wise_average_precision() == r["tag_wise_average_precision"].get<std::vector<double>>());
  CHECK(acc.mean_average_precision_n_points(11) == r["mAP_11_points"].get<double>());
  CHECK(acc.roc_auc() == r["roc_auc"].get<double>());
  CHECK(acc.balanced_accuracy() == r["balanced_accuracy"].get<double>());
  CHECK(acc.calibration_ece() == r["calibration_ece"].get<double>());
  CHECK(acc.tag_wise_accuracy() == r["tag_wise_accuracy"].get<std::vector<double>>());
  const auto cm = acc.confusion_matrix();
  for (std::size_t i = 0; i < f.classes; ++i)
    for (std::size_t j = 0; j < f.classes; ++j) CHECK(cm[i * f.classes + j] == r["confusion_matrix"]["cm"][i][j].get<std::int64_t>());
  // Filters that were not counted are refused, not guessed.
  CHECK(error_of([&] { (void)acc.precision(prediction_filter::top(2), averaging::macro); }).find("top2") != std::string::npos);
  CHECK(error_of([&] { (void)acc.threshold_accuracy(0.7); }).find("thres=0.7") != std::string::npos);
}

TEST_CASE("classification: hand-worked values from the spec", "[classification]") {
  using namespace tailor::eval;
  SECTION("F1 from the averaged precision and recall: P = 0.66666, R = 0.5 gives 0.57142") {
    // 2 * 0.33333 / 1.16666 = 0.571426...
    CHECK(std::fabs(f1_from_averages(0.66666, 0.5) - 0.57142) < 1e-5);
    CHECK(f1_from_averages(0, 0) == 0.0);
  }
  SECTION("threshold accuracy: an empty/empty sample scores 0, not 1") {
    classification_metrics_options o;
    o.top_k = {};
    o.thresholds = {0.5};
    classification_accumulator acc(2, classification_kind::multilabel, o);
    acc.add(std::vector<double>{0.1, 0.2}, std::vector<std::int32_t>{0, 0});  // P = {}, T = {}: 0
    CHECK(acc.threshold_accuracy(0.5) == 0.0);
    acc.add(std::vector<double>{0.5, 0.9}, std::vector<std::int32_t>{1, 0});  // P = {0, 1}, T = {0}: 1/2
    CHECK(acc.threshold_accuracy(0.5) == 0.25);  // inclusive: 0.5 >= 0.5 is predicted
  }
  SECTION("ECE: a confidence of exactly 0 falls in no bin but counts in N") {
    classification_accumulator acc(2, classification_kind::multiclass);
    acc.add(std::vector<double>{0.0, 0.0, 0.5, 0.25}, std::vector<std::int32_t>{0, 0});
    // Sample 1: argmax 0 (ties to the lowest index), correct, confidence 0: no bin.
    // Sample 2: confidence 0.5 in bin (7/15, 8/15], correct: |1 - 0.5| = 0.5. ECE = 0.5 / 2.
    CHECK(acc.calibration_ece() == 0.25);
    // Upper edges are inclusive: a confidence of exactly 1/15 (np.linspace's value) is bin 0.
    classification_accumulator edge(2, classification_kind::multiclass);
    const double e1 = 1.0 / 15.0;
    edge.add(std::vector<double>{e1, 0.0}, std::vector<std::int32_t>{1});
    CHECK(edge.calibration_ece() == e1);  // |0 - 1/15| / 1
  }
  SECTION("AP: a true positive and a false positive tied give 0.5") {
    const std::vector<double> s{0.5, 0.5};
    const std::vector<std::uint8_t> t{1, 0};
    CHECK(binary_average_precision(s, t) == 0.5);
    CHECK(*binary_roc_auc(s, t) == 0.5);  // the tie counts one half
    // Ranked above the negative: AP 1; below: recall 1 at precision 1/2.
    CHECK(binary_average_precision(std::vector<double>{0.6, 0.5}, t) == 1.0);
    CHECK(binary_average_precision(std::vector<double>{0.4, 0.5}, t) == 0.5);
    CHECK(!binary_roc_auc(s, std::vector<std::uint8_t>{1, 1}).has_value());
    // sklearn's AP of a problem without positives is 0.
    CHECK(binary_average_precision(s, std::vector<std::uint8_t>{0, 0}) == 0.0);
  }
  SECTION("11-point AP: the sentinel makes p(0) = 1") {
    // One positive ranked last of 4: the only point is recall 1 at precision 1/4, so p(r) = 1/4
    // for the 10 points r > 0 and 1 at r = 0: (10 / 4 + 1) / 11.
    classification_accumulator acc(2, classification_kind::multilabel);
    acc.add(std::vector<double>{0.9, 0, 0.8, 0, 0.7, 0, 0.6, 0}, std::vector<std::int32_t>{0, 0, 0, 0, 0, 0, 1, 0});
    CHECK(close(acc.mean_average_precision_n_points(11), 3.5 / 11));
    CHECK(acc.tag_wise_average_precision() == std::vector<double>{0.25});  // class 1 has no positive: left out
  }
  SECTION("top-k: argmax ties go to the lowest index, and so does the k-th place") {
    std::vector<std::uint32_t> top;
    const std::vector<double> row{0.2, 0.5, 0.5, 0.1, 0.5};
    select_top_k(row, 1, top);
    CHECK(top == std::vector<std::uint32_t>{1});
    select_top_k(row, 2, top);
    CHECK(top == std::vector<std::uint32_t>{1, 2});
    select_top_k(row, 4, top);
    CHECK(top == std::vector<std::uint32_t>{1, 2, 4, 0});
    select_top_k(row, 9, top);  // k > C: all
    CHECK(top.size() == 5);
    select_top_k(row, 0, top);
    CHECK(top.empty());
    std::vector<double> wide(100, 0.5);
    wide[70] = 0.9;
    select_top_k(wide, 40, top);  // the nth_element path
    REQUIRE(top.size() == 40);
    CHECK(top[0] == 70);
    CHECK(top[1] == 0);
    CHECK(top[39] == 38);
  }
  SECTION("report keys: thresholds as Python's str(float)") {
    CHECK(classification_detail::python_float_str(0.5) == "0.5");
    CHECK(classification_detail::python_float_str(0.0) == "0.0");
    CHECK(classification_detail::python_float_str(2.0) == "2.0");
    CHECK(classification_detail::python_float_str(1e-05) == "1e-05");
    CHECK(classification_detail::python_float_str(0.1 + 0.2) == "0.30000000000000004");
    CHECK(classification_detail::python_float_str(1e16) == "1e+16");
    CHECK(classification_detail::python_float_str(1e15) == "1000000000000000.0");
    CHECK(prediction_filter::at_threshold(0.25).identifier() == "thres=0.25");
    CHECK(prediction_filter::top(5).identifier() == "top5");
  }
  SECTION("normalized confusion matrix divides by row sum + 1e-5") {
    classification_metrics_options o;
    o.normalize_confusion_matrix = true;
    o.class_names = {"cat", "dog"};
    classification_accumulator acc(2, classification_kind::multiclass, o);
    acc.add(std::vector<double>{0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6}, std::vector<std::int32_t>{0, 0, 0, 0});
    const auto n = acc.normalized_confusion_matrix();
    CHECK(n[0] == 3.0 / (4.0 + 1e-5));
    CHECK(n[1] == 1.0 / (4.0 + 1e-5));
    CHECK(n[2] == 0.0);  // an empty row stays 0
    const auto r = acc.report();
    CHECK(r["confusion_matrix"]["labels"] == ojson({"cat", "dog"}));
    CHECK(r["confusion_matrix"]["cm"][0][0].get<double>() == n[0]);
    CHECK(r["tag_wise_accuracy"] == ojson({0.75, 0.0}));  // class 1 without samples: 0, not NaN
    // Past confusion_matrix_max_classes the matrix is not kept; the other metrics do not need it.
    o.confusion_matrix_max_classes = 1;
    classification_accumulator big(2, classification_kind::multiclass, o);
    big.add(std::vector<double>{0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6}, std::vector<std::int32_t>{0, 0, 0, 0});
    const auto rb = big.report();
    CHECK(!rb.contains("confusion_matrix"));
    CHECK(rb["tag_wise_accuracy"] == r["tag_wise_accuracy"]);
    CHECK(rb["balanced_accuracy"] == r["balanced_accuracy"]);
    CHECK(error_of([&] { (void)big.confusion_matrix(); }).find("not kept") != std::string::npos);
  }
  SECTION("balanced accuracy re-argmaxes over the classes left") {
    // Class 2 is never a target; sample 1's argmax is class 2, its best class left is class 1.
    classification_metrics_options o;
    o.top_k = {1};
    classification_accumulator acc(3, classification_kind::multiclass, o);
    acc.add(std::vector<double>{0.1, 0.3, 0.6, 0.7, 0.2, 0.1}, std::vector<std::int32_t>{1, 0});
    CHECK(acc.balanced_accuracy() == 1.0);  // both right after the re-argmax
    CHECK(acc.top_k_accuracy(1) == 0.5);     // where the plain argmax is wrong once
  }
  SECTION("sklearn's binary fallback: one column left makes label 0 count in macro recall") {
    // Every target is class 0 of 2: recall keeps column 0 only, sklearn sees a binary target with
    // labels {0, 1}: recall(1) = 1/2 (one of two predicted), recall(0) = 0 (no true 0s): macro 1/4.
    classification_accumulator acc(2, classification_kind::multiclass);
    acc.add(std::vector<double>{0.9, 0.1, 0.2, 0.8}, std::vector<std::int32_t>{0, 0});
    CHECK(acc.recall(prediction_filter::top(1), averaging::macro) == 0.25);
    CHECK(acc.recall(prediction_filter::top(1), averaging::micro) == 0.5);     // (1 + 0) / (2 + 0)
    CHECK(acc.recall(prediction_filter::top(1), averaging::weighted) == 0.5);  // weights 2 and 0
    CHECK(acc.recall(prediction_filter::top(1), averaging::samples) == 0.5);   // sklearn raises; per-row mean
    CHECK(acc.precision(prediction_filter::top(1), averaging::macro) == 0.5);  // both columns: 1/1 and 0/1
  }
  SECTION("nothing added: every metric is 0, never NaN") {
    for (auto kind : {classification_kind::multiclass, classification_kind::multilabel}) {
      classification_accumulator acc(3, kind);
      const auto r = acc.report();
      for (auto it = r.begin(); it != r.end(); ++it) {
        INFO(it.key());
        if (it.value().is_number()) CHECK(it.value().get<double>() == 0.0);
      }
      CHECK(r["tag_wise_average_precision"] == ojson({0.0}));  // vision-evaluation's [0.0]
      if (kind == classification_kind::multiclass) CHECK(r["tag_wise_accuracy"] == ojson({0.0, 0.0, 0.0}));
    }
  }
}

TEST_CASE("classification: the counted operating points equal sklearn's sorted curve on random problems", "[classification]") {
  // sklearn's _binary_clf_curve + average_precision_score + roc_curve/auc, transcribed literally
  // (sort everything, walk the distinct thresholds), against binary_points, which sorts only the
  // positives and places every sample through its bucket index. Scores cover ties, -0.0 and 0.0,
  // huge and tiny ranges, ranges beyond double, infinities and a single distinct value.
  std::mt19937_64 rng(7);
  auto reference = [](const std::vector<double>& s, const std::vector<std::uint8_t>& t) {
    std::vector<std::size_t> order(s.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s[a] > s[b]; });
    std::vector<double> tps, fps;
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      (t[order[i]] ? tp : fp) += 1;
      if (i + 1 == order.size() || s[order[i + 1]] != s[order[i]]) tps.push_back(tp), fps.push_back(fp);
    }
    double ap = 0, previous_recall = 0;
    for (std::size_t i = 0; i < tps.size(); ++i) {
      const double recall = tp > 0 ? tps[i] / tp : 1.0;
      ap += (recall - previous_recall) * (tps[i] / (tps[i] + fps[i]));
      previous_recall = recall;
    }
    double auc = 0, x0 = 0, y0 = 0;
    for (std::size_t i = 0; i < tps.size(); ++i) {
      const double x = fps[i] / fp, y = tps[i] / tp;
      auc += (x - x0) * (y + y0) / 2;
      x0 = x, y0 = y;
    }
    return std::pair{tp > 0 ? ap : 0.0, auc};
  };
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = 1 + rng() % 300;
    const int style = trial % 6;
    std::vector<double> s(n);
    std::vector<std::uint8_t> t(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double u = std::uniform_real_distribution<double>(0, 1)(rng);
      switch (style) {
        case 0: s[i] = u; break;
        case 1: s[i] = std::floor(u * 5) / 4; break;                    // heavy ties
        case 2: s[i] = (u - 0.5) * 1e300; break;                         // huge range
        case 3: s[i] = 1.0 + u * 1e-12; break;                           // tiny range
        case 4: s[i] = (rng() % 3 == 0) ? ((rng() % 2) ? -0.0 : 0.0) : u; break;  // signed zeros
        default: {  // a range beyond double, infinities
          const double far[4] = {1.7e308, -1.7e308, std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity()};
          s[i] = rng() % 3 == 0 ? far[rng() % 4] : u;
        }
      }
      t[i] = static_cast<std::uint8_t>(rng() % 3 == 0);
    }
    if (trial % 17 == 0) std::fill(s.begin(), s.end(), 0.25);  // one distinct value
    INFO("trial " << trial << ", style " << style << ", n " << n);
    const auto [ap, auc] = reference(s, t);
    CHECK(close(tailor::eval::binary_average_precision(s, t), ap));
    const auto got_auc = tailor::eval::binary_roc_auc(s, t);
    const auto positives = std::count(t.begin(), t.end(), 1);
    if (positives == 0 || positives == static_cast<long>(n)) {
      CHECK(!got_auc.has_value());
    } else {
      REQUIRE(got_auc.has_value());
      CHECK(close(*got_auc, auc));
    }
  }
}

TEST_CASE("classification: many classes, counted in chunks (on threads), give each column's own AP and AUC", "[classification]") {
  // 3000 classes make several chunks of the counting pass, enough work for the thread pool; each
  // class must still get exactly the AP and AUC of its column as one binary problem.
  const std::size_t n = 100, c = 3000;
  std::mt19937_64 rng(11);
  std::vector<double> s(n * c);
  std::vector<std::int32_t> t(n * c);
  for (std::size_t i = 0; i < n * c; ++i) {
    s[i] = static_cast<double>(rng() % 50) / 49.0;
    t[i] = rng() % 4 == 0;
  }
  classification_metrics_options o;
  o.top_k = {1};
  classification_accumulator acc(c, classification_kind::multilabel, o);
  acc.add(std::span<const double>(s).first(n * c / 2), std::span<const std::int32_t>(t).first(n * c / 2));
  acc.add(std::span<const double>(s).subspan(n * c / 2), std::span<const std::int32_t>(t).subspan(n * c / 2));
  const auto points = acc.rank_classes();
  const auto tag_wise = acc.tag_wise_average_precision(points);
  std::size_t kept = 0;
  for (std::size_t j = 0; j < c; ++j) {
    std::vector<double> column(n);
    std::vector<std::uint8_t> truth(n);
    for (std::size_t i = 0; i < n; ++i) column[i] = s[i * c + j], truth[i] = static_cast<std::uint8_t>(t[i * c + j]);
    INFO("class " << j);
    const auto positives = std::count(truth.begin(), truth.end(), 1);
    CHECK(points[j].positives() == positives);
    CHECK(points[j].samples() == static_cast<std::int64_t>(n));
    if (positives == 0) continue;
    REQUIRE(kept < tag_wise.size());
    CHECK(tag_wise[kept++] == tailor::eval::binary_average_precision(column, truth));
    CHECK(points[j].roc_auc() == tailor::eval::binary_roc_auc(column, truth));
  }
  CHECK(kept == tag_wise.size());
}

TEST_CASE("classification: the accumulator checks its input", "[classification]") {
  classification_accumulator acc(3, classification_kind::multiclass);
  CHECK(error_of([&] { acc.add(std::vector<double>{0.1, 0.2}, std::vector<std::int32_t>{0}); }).find("N x 3") != std::string::npos);
  CHECK(error_of([&] { acc.add(std::vector<double>{0.1, 0.2, 0.3}, std::vector<std::int32_t>{3}); }).find("class 3") != std::string::npos);
  CHECK(error_of([&] { acc.add(std::vector<double>{0.1, NAN, 0.3}, std::vector<std::int32_t>{0}); }).find("non-finite") != std::string::npos);
  CHECK(acc.num_samples() == 0);  // rejected batches leave nothing behind
  classification_accumulator ml(2, classification_kind::multilabel);
  CHECK(error_of([&] { ml.add(std::vector<double>{0.1, 0.2}, std::vector<std::int32_t>{0, 2}); }).find("0 or 1") != std::string::npos);
  CHECK(error_of([&] { (void)ml.calibration_ece(); }).find("multiclass") != std::string::npos);
  CHECK(error_of([] { classification_accumulator(0, classification_kind::multiclass); }) != "");
  classification_metrics_options negative_k;
  negative_k.top_k = {-1};
  CHECK(error_of([&] { classification_accumulator(2, classification_kind::multiclass, negative_k); }) != "");

  // xtensor batches give what spans give.
  xt::xtensor<double, 2> s{{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}};
  xt::xtensor<std::int64_t, 1> y{1, 2};
  classification_accumulator a(3, classification_kind::multiclass), b(3, classification_kind::multiclass);
  a.add(s, y);
  b.add(std::vector<double>{0.2, 0.5, 0.3, 0.6, 0.1, 0.3}, std::vector<std::int32_t>{1, 2});
  CHECK(a.report() == b.report());
  CHECK(error_of([&] { a.add(s, xt::xtensor<int, 2>{{1, 0, 0}, {0, 1, 0}}); }).find("(N,)") != std::string::npos);
}

TEST_CASE("classification results: scores in the ground truth's id order, targets from its tags", "[classification]") {
  // Images and categories listed out of id order; image 30 has no result for category 2 (score 0).
  const auto gt = make_gt({30, 10, 20}, {5, 2}, {{10, 2}, {20, 5}, {30, 5}});
  const std::string results = R"([{"image_id": 30, "category_id": 5, "score": 0.75},
    {"image_id": 10, "category_id": 2, "score": 0.9}, {"image_id": 10, "category_id": 5, "score": 0.1, "id": 7},
    {"image_id": 20.0, "category_id": 2, "score": 0.4}, {"image_id": 20, "category_id": 5, "score": 1}])";
  const auto r = tailor::eval::read_classification_results(results, gt, "results.json");
  CHECK(!r.multilabel);
  CHECK(r.image_ids == std::vector<std::int64_t>{10, 20, 30});
  CHECK(r.category_ids == std::vector<std::int64_t>{2, 5});
  CHECK(r.scores == std::vector<double>{0.9, 0.1, 0.4, 1.0, 0.0, 0.75});
  CHECK(r.targets == std::vector<std::int32_t>{0, 1, 1});

  classification_metrics_options top1;
  top1.top_k = {1};
  const auto report = tailor::eval::evaluate_classification(r, top1);
  CHECK(report["accuracy_top1"].get<double>() == 1.0);
  CHECK(report["confusion_matrix"]["cm"] == ojson({{1, 0}, {0, 2}}));

  // Several tags on an image make it multilabel; one tag per image can be forced to multilabel.
  const auto ml_gt = make_gt({1, 2}, {1, 2, 3}, {{1, 1}, {1, 3}, {2, 2}});
  const auto ml = tailor::eval::read_classification_results("[]", ml_gt, "empty.json");
  CHECK(ml.multilabel);
  CHECK(ml.targets == std::vector<std::int32_t>{1, 0, 1, 0, 1, 0});
  CHECK(ml.scores == std::vector<double>(6, 0.0));
  const auto forced = tailor::eval::read_classification_results("[]", gt, "empty.json", classification_kind::multilabel);
  CHECK(forced.multilabel);
  CHECK(forced.targets == std::vector<std::int32_t>{1, 0, 0, 1, 0, 1});
  CHECK(tailor::eval::evaluate_classification(forced).contains("accuracy_thres=0.5"));
}

TEST_CASE("classification results: errors name the entry", "[classification]") {
  const auto gt = make_gt({1, 2}, {1, 2}, {{1, 1}, {2, 2}});
  auto read = [&](std::string_view json) {
    return error_of([&] { (void)tailor::eval::read_classification_results(json, gt, "r.json"); });
  };
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": 0.5}, {"image_id": 9, "category_id": 1, "score": 0.5}])")
            .find("r.json[1]: image_id 9 is not an image") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 3, "score": 0.5}])").find("r.json[0]: category_id 3") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": 1e999}])").find("r.json[0]: score must be a finite") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": "high"}])").find("r.json[0]: score") != std::string::npos);
  CHECK(read(R"([{"image_id": 2, "category_id": 1, "score": 0.5}, {"image_id": 2, "category_id": 1, "score": 0.6}])")
            .find("r.json[1]: a second score for image 2 and category 1") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "score": 0.5}])").find("r.json[0]: category_id is missing") != std::string::npos);
  CHECK(read(R"([{"category_id": 1, "score": 0.5}])").find("r.json[0]: image_id is missing") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1}])").find("r.json[0]: score is missing") != std::string::npos);
  CHECK(read(R"([{"image_id": 1.5, "category_id": 1, "score": 0.5}])").find("r.json[0]: image_id must be an integer") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": 0.5}] [])").find("unexpected content after the results array") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": 0.5}, 3])").find("r.json[1]: each entry must be an object") != std::string::npos);
  CHECK(read(R"({"image_id": 1})").find("must be a JSON array") != std::string::npos);
  CHECK(read(R"([{"image_id": 1, "category_id": 1, "score": 0.5},)") != "");

  // A multiclass ground-truth image without a tag cannot be scored.
  const auto untagged = make_gt({1, 2}, {1}, {{1, 1}});
  CHECK(error_of([&] { (void)tailor::eval::read_classification_results("[]", untagged, "r.json"); })
            .find("image 2 has no tag") != std::string::npos);
}
