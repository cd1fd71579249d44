// `tailor eval`, run as a user runs it: the detection and classification reports as tables and as
// JSON (the same numbers as the library's), chosen IoUs, thresholds, top-k and averaging, and every bad input named with the exit
// status the other commands use (1: a failure, 2: the caller's mistake).
// Built only with the program (TAILOR_BUILD_EXAMPLES=ON, which defines TAILOR_CLI_PATH).
#ifdef TAILOR_CLI_PATH
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/core/file_io.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/eval/classification_results.hpp>
#include <tailor/eval/detection_report.hpp>

#include "cli_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using namespace tailor::testing::cli;

// A small detection case in a fresh directory (also the working directory of the runs):
//   gt.json: images 1..3 given by id only (no file name, no size); cat, dog, bird, fish; a cat box
//   and a crowd region on image 1, a dog box on image 2, a bird box on image 3.
//   pred.json: the cat found, a detection in the crowd region, a dog FP then the dog found, a fish.
struct eval_data {
  tailor::testing::temp_dir dir{"test_eval_cli"};
  fs::path gt = dir.path / "gt.json";
  fs::path pred = dir.path / "pred.json";
  json predictions = json::array();

  eval_data() {
    json g;
    g["images"] = {{{"id", 1}}, {{"id", 2}}, {{"id", 3}}};
    g["categories"] = {{{"id", 1}, {"name", "cat"}}, {{"id", 2}, {"name", "dog"}}, {{"id", 3}, {"name", "bird"}},
                       {{"id", 4}, {"name", "fish"}}};
    g["annotations"] = {
        {{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {0, 0, 10, 10}}, {"iscrowd", 0}},
        {{"id", 2}, {"image_id", 2}, {"category_id", 2}, {"bbox", {0, 0, 20, 20}}, {"iscrowd", 0}},
        {{"id", 3}, {"image_id", 3}, {"category_id", 3}, {"bbox", {50, 50, 10, 10}}, {"iscrowd", 0}},
        {{"id", 4}, {"image_id", 1}, {"category_id", 1}, {"bbox", {100, 100, 50, 50}}, {"iscrowd", 1}}};
    tailor::write_file_atomically(gt, g.dump(1));
    auto det = [](int image, int category, std::vector<double> box, double score) {
      return json{{"image_id", image}, {"category_id", category}, {"bbox", box}, {"score", score}};
    };
    predictions = {det(1, 1, {0, 0, 10, 10}, 0.9), det(1, 1, {110, 110, 10, 10}, 0.8), det(2, 2, {30, 30, 10, 10}, 0.7),
                   det(2, 2, {0, 0, 20, 20}, 0.6), det(1, 4, {0, 0, 5, 5}, 0.95)};
    write(pred, predictions);
  }
  void write(const fs::path& file, const json& j) const { tailor::write_file_atomically(file, j.dump()); }
  void write_text(const fs::path& file, std::string_view text) const { tailor::write_file_atomically(file, text); }
  result run(const std::string& args) const { return tailor_run(dir.path, args); }
  std::string eval_args(const fs::path& predictions) const {
    return fmt::format("eval --gt {} --predictions {}", quote(gt.string()), quote(predictions.string()));
  }
};

}  // namespace

TEST_CASE("eval cli: a detection report as a table", "[cli][eval_cli]") {
  eval_data d;
  auto r = d.run(d.eval_args(d.pred));
  SHOW(r);
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  for (auto what : {"detection evaluation", "3 images, 3 boxes + 1 crowd regions, 4 tags", "5 detections", "AP50", "AR_large",
                    "mAP_30", "mAP_50", "mAP_75", "avg_mAP", "score >= 0.5 and IoU >= 0.5", "(2 true, 2 false positives)",
                    "(of 3 ground-truth boxes)", "cat", "dog", "bird", "fish"})
    CHECK(contains(r.out, what));
  // dog: AP50 0.5, AR100 1, precision 0.5, recall 1, 1 box.
  CHECK(contains(r.out, "  dog    0.5000   1.0000     0.5000   1.0000       1"));
  // fish has no ground truth: its COCO numbers do not exist, the tag-wise ones are 0.
  CHECK(contains(r.out, "  fish   0.0000   0.0000     0.0000   0.0000       0"));
}

TEST_CASE("eval cli: --json is the library's report, key for key", "[cli][eval_cli]") {
  eval_data d;
  auto r = d.run(d.eval_args(d.pred) + " --json");
  SHOW(r);
  REQUIRE(r.status == 0);
  json j;
  REQUIRE_NOTHROW(j = json::parse(r.out));

  const std::string gt_text = read_text(d.gt);
  auto report = tailor::data::read_coco(std::string_view(gt_text), "gt.json",
                                        {.kind = std::nullopt, .units = tailor::data::box_units::automatic, .require_image_sizes = false});
  const auto dets = tailor::eval::read_coco_results(read_text(d.pred), "pred.json");
  const auto want = tailor::eval::detection_report_json(report.dataset, dets);
  // The same keys in the same order, and the same doubles (written with 17 digits).
  std::vector<std::string> keys, want_keys;
  const auto ordered = nlohmann::ordered_json::parse(r.out);
  for (auto& [k, v] : ordered.items()) keys.push_back(k);
  for (auto& [k, v] : want.items()) want_keys.push_back(k);
  CHECK(keys == want_keys);
  CHECK(j == json::parse(want.dump()));
  CHECK(j["precision_thres=0.5_iou=0.5"] == 0.5);
  CHECK(j["tag_wise_AP50"]["dog"] == 0.5);
}

TEST_CASE("eval cli: chosen IoUs, threshold and overlap", "[cli][eval_cli]") {
  eval_data d;
  auto r = d.run(d.eval_args(d.pred) + " --iou 0.29,0.5,0.9 --threshold 0.65 --overlap 0.3 --json");
  SHOW(r);
  REQUIRE(r.status == 0);
  const auto j = json::parse(r.out);
  CHECK(j.contains("mAP_28"));  // int(0.29 * 100) = 28, as vision-evaluation spells it
  CHECK(j.contains("mAP_50"));
  CHECK(j.contains("mAP_90"));
  CHECK_FALSE(j.contains("mAP_30"));
  // Score >= 0.65 keeps cat 0.9 (TP), the crowd detection (ignored), dog 0.7 (FP), fish 0.95 (FP).
  CHECK(j["precision_thres=0.65_iou=0.3"] == 1.0 / 3.0);
  CHECK(j["recall_thres=0.65_iou=0.3"] == 1.0 / 3.0);
  CHECK(j["tag_wise_precision_thres=0.65_iou=0.3"]["cat"] == 1.0);

  // --kind detection on a detection file changes nothing.
  auto k = d.run(d.eval_args(d.pred) + " --kind detection --json");
  SHOW(k);
  CHECK(k.status == 0);
  CHECK(json::parse(k.out)["mAP_50"] == json::parse(d.run(d.eval_args(d.pred) + " --json").out)["mAP_50"]);
}

TEST_CASE("eval cli: empty predictions", "[cli][eval_cli]") {
  eval_data d;
  d.write(d.dir.path / "none.json", json::array());
  auto r = d.run(d.eval_args(d.dir.path / "none.json") + " --json");
  SHOW(r);
  REQUIRE(r.status == 0);
  const auto j = json::parse(r.out);
  CHECK(j["AP"] == 0.0);
  CHECK(j["mAP_50"] == 0.0);
  CHECK(j["precision_thres=0.5_iou=0.5"] == 0.0);
  CHECK(j["recall_thres=0.5_iou=0.5"] == 0.0);
}

TEST_CASE("eval cli: bad predictions are named, with status 2", "[cli][eval_cli]") {
  eval_data d;
  auto with = [&](std::size_t index, const std::string& key, const json& value) {
    json p = d.predictions;
    p[index][key] = value;
    return p;
  };
  struct bad_case {
    std::string name;
    std::string text;
    std::vector<std::string> says;
  };
  const std::vector<bad_case> cases{
      {"image.json", with(3, "image_id", 7).dump(), {"image.json: detection 3 has image_id 7", "not an image of the ground truth"}},
      {"category.json", with(1, "category_id", 99).dump(), {"category.json: detection 1 has category_id 99"}},
      {"nan.json", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}])", {"nan.json[0]: score"}},
      {"box.json", with(2, "bbox", {0, 0, -3, 4}).dump(), {"box.json[2]: bbox [0, 0, -3, 4]", "non-negative"}},
      {"short.json", with(0, "bbox", {0, 0, 3}).dump(), {"short.json[0]: bbox must hold 4 numbers"}},
      {"noscore.json", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])", {"noscore.json[0]: score is missing"}},
      {"trailing.json", d.predictions.dump() + "\n]", {"trailing.json: unexpected content after the results array, at byte offset"}},
      {"object.json", R"({"annotations": []})", {"object.json: COCO results must be a JSON array"}},
  };
  for (auto& c : cases) {
    d.write_text(d.dir.path / c.name, c.text);
    auto r = d.run(d.eval_args(d.dir.path / c.name));
    INFO(c.name);
    SHOW(r);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("error: invalid_argument: ", 0) == 0);
    for (auto& what : c.says) CHECK(contains(r.err, what));
  }
  // --json adds the error as JSON on stdout.
  d.write(d.dir.path / "image.json", with(3, "image_id", 7));
  auto r = d.run(d.eval_args(d.dir.path / "image.json") + " --json");
  SHOW(r);
  CHECK(r.status == 2);
  const auto j = json::parse(r.out);
  CHECK(j["error"]["code"] == "invalid_argument");
  CHECK(contains(j["error"]["message"].get<std::string>(), "image_id 7"));
}

TEST_CASE("eval cli: missing files and a broken ground truth fail with status 1", "[cli][eval_cli]") {
  eval_data d;
  auto missing = d.run(d.eval_args(d.dir.path / "nope.json"));
  SHOW(missing);
  CHECK(missing.status == 1);
  CHECK(contains(missing.err, "error: dataset_not_found: the predictions file"));
  CHECK(contains(missing.err, "nope.json"));

  auto no_gt = d.run(fmt::format("eval --gt missing_gt.json --predictions {}", quote(d.pred.string())));
  SHOW(no_gt);
  CHECK(no_gt.status == 1);
  CHECK(contains(no_gt.err, "missing_gt.json"));

  // A ground-truth annotation on an image that does not exist: the file's problems, with fixes.
  json g = json::parse(read_text(d.gt));
  g["annotations"][1]["image_id"] = 42;
  d.write(d.dir.path / "broken.json", g);
  auto broken = d.run(fmt::format("eval --gt broken.json --predictions {}", quote(d.pred.string())));
  SHOW(broken);
  CHECK(broken.status == 1);
  CHECK(broken.err.rfind("error: dataset_corrupt: broken.json has 1 error", 0) == 0);
  CHECK(contains(broken.err, "annotations[1]"));
  CHECK(contains(broken.err, "fix:"));

  d.write_text(d.dir.path / "notjson.json", "{ not json");
  auto notjson = d.run(fmt::format("eval --gt notjson.json --predictions {}", quote(d.pred.string())));
  SHOW(notjson);
  CHECK(notjson.status == 1);
  CHECK(contains(notjson.err, "dataset_corrupt"));
}

// A small classification case: fruit.json tags images 1..4 (apple, pear, apple, plum; category
// ids 1, 2, 7 so that ids and columns differ), scores.json scores them. Image 3's apple is scored
// below its pear, and plum is never scored for image 1 (a missing cell scores 0).
struct classification_data : eval_data {
  fs::path fruit = dir.path / "fruit.json";
  fs::path scores = dir.path / "scores.json";
  json gt_json, results = json::array();

  classification_data() {
    gt_json["images"] = {{{"id", 1}}, {{"id", 2}}, {{"id", 3}}, {{"id", 4}}};
    gt_json["categories"] = {{{"id", 7}, {"name", "plum"}}, {{"id", 1}, {"name", "apple"}}, {{"id", 2}, {"name", "pear"}}};
    gt_json["annotations"] = {{{"id", 1}, {"image_id", 1}, {"category_id", 1}}, {{"id", 2}, {"image_id", 2}, {"category_id", 2}},
                              {{"id", 3}, {"image_id", 3}, {"category_id", 1}}, {{"id", 4}, {"image_id", 4}, {"category_id", 7}}};
    write(fruit, gt_json);
    auto score = [](int image, int category, double s) { return json{{"image_id", image}, {"category_id", category}, {"score", s}}; };
    results = {score(1, 1, 0.8), score(1, 2, 0.2), score(2, 1, 0.1), score(2, 2, 0.7), score(2, 7, 0.2),
               score(3, 1, 0.3), score(3, 2, 0.6), score(3, 7, 0.1), score(4, 1, 0.2), score(4, 2, 0.1), score(4, 7, 0.7)};
    write(scores, results);
  }
  std::string args(const fs::path& predictions) const {
    return fmt::format("eval --gt {} --predictions {}", quote(fruit.string()), quote(predictions.string()));
  }
  // The library's report of the same files, for comparison with the program's --json.
  nlohmann::ordered_json library_report(tailor::eval::classification_metrics_options options,
                                        std::optional<tailor::eval::classification_kind> kind = std::nullopt) const {
    tailor::data::coco_options read_options;
    read_options.require_image_sizes = false;
    const auto gt = tailor::data::read_coco(std::string_view(gt_json.dump()), "fruit.json", read_options).dataset;
    const auto r = tailor::eval::read_classification_results(results.dump(), gt, "scores.json", kind);
    options.class_names = {"apple", "pear", "plum"};  // columns by category id: 1, 2, 7
    return tailor::eval::evaluate_classification(r, options);
  }
};

TEST_CASE("eval cli: a classification report as a table", "[cli][eval_cli]") {
  classification_data d;
  auto r = d.run(d.args(d.scores));
  SHOW(r);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "classification evaluation (multiclass)"));
  CHECK(contains(r.out, "(4 images, 3 tags)"));
  CHECK(contains(r.out, "(11 scores;"));
  // Argmax: apple, pear, pear, plum against apple, pear, apple, plum.
  CHECK(contains(r.out, "accuracy_top1                         0.7500"));
  CHECK(contains(r.out, "accuracy_top5                         1.0000"));
  CHECK(contains(r.out, "calibration_ece"));
  // Per tag: apple has 2 images, half of them right.
  CHECK(contains(r.out, "  apple        2   1.0000    0.5000"));
  // Confusion matrix rows: true apple -> 1 apple, 1 pear.
  CHECK(contains(r.out, "confusion matrix"));
  CHECK(contains(r.out, "  apple       1       1       0"));
  CHECK(contains(r.out, "  plum        0       0       1"));
}

TEST_CASE("eval cli: classification --json is the library's report, key for key", "[cli][eval_cli]") {
  classification_data d;
  SECTION("defaults") {
    auto r = d.run(d.args(d.scores) + " --json");
    SHOW(r);
    REQUIRE(r.status == 0);
    const auto j = nlohmann::ordered_json::parse(r.out);
    CHECK(j == d.library_report({}));
    CHECK(j["accuracy_top1"].get<double>() == 0.75);
    CHECK(j["confusion_matrix"]["labels"] == json({"apple", "pear", "plum"}));
  }
  SECTION("top-k, thresholds and averaging chosen") {
    auto r = d.run(d.args(d.scores) + " --json --top-k 1,2 --threshold 0.25,0.5 --average micro");
    SHOW(r);
    REQUIRE(r.status == 0);
    const auto j = nlohmann::ordered_json::parse(r.out);
    tailor::eval::classification_metrics_options chosen;
    chosen.top_k = {1, 2};
    chosen.thresholds = {0.25, 0.5};
    chosen.average = tailor::eval::averaging::micro;
    CHECK(j == d.library_report(chosen));
    CHECK(j.contains("accuracy_top2"));
    CHECK(j.contains("precision_thres=0.25"));
    CHECK_FALSE(j.contains("accuracy_top5"));
  }
  SECTION("multilabel by --kind") {
    auto r = d.run(d.args(d.scores) + " --json --kind multilabel");
    SHOW(r);
    REQUIRE(r.status == 0);
    const auto j = nlohmann::ordered_json::parse(r.out);
    CHECK(j == d.library_report({}, tailor::eval::classification_kind::multilabel));
    CHECK(j.contains("accuracy_thres=0.5"));
    CHECK_FALSE(j.contains("confusion_matrix"));
  }
}

TEST_CASE("eval cli: multilabel is inferred from a ground truth with several tags on an image", "[cli][eval_cli]") {
  classification_data d;
  d.gt_json["annotations"].push_back({{"id", 5}, {"image_id", 1}, {"category_id", 2}});
  d.write(d.fruit, d.gt_json);
  auto r = d.run(d.args(d.scores));
  SHOW(r);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "classification evaluation (multilabel)"));
  CHECK(contains(r.out, "accuracy_thres=0.5"));
  CHECK_FALSE(contains(r.out, "confusion matrix"));
  auto forced = d.run(d.args(d.scores) + " --kind classification");
  SHOW(forced);
  CHECK(forced.status != 0);  // one tag per image is what multiclass means
  CHECK(contains(forced.err, "image 1"));
}

TEST_CASE("eval cli: bad classification predictions are named, with status 2", "[cli][eval_cli]") {
  classification_data d;
  struct bad_case {
    std::string file;
    json entries;
    std::string expected;
  };
  const std::vector<bad_case> cases = {
      {"unknown_image.json", {{{"image_id", 9}, {"category_id", 1}, {"score", 0.5}}}, "unknown_image.json[0]: image_id 9 is not an image"},
      {"unknown_category.json", {{{"image_id", 1}, {"category_id", 3}, {"score", 0.5}}}, "[0]: category_id 3 is not a category"},
      {"twice.json", {{{"image_id", 1}, {"category_id", 1}, {"score", 0.5}}, {{"image_id", 1}, {"category_id", 1}, {"score", 0.4}}},
       "twice.json[1]: a second score for image 1 and category 1"},
      {"no_score.json", {{{"image_id", 1}, {"category_id", 1}}}, "no_score.json[0]: score is missing"},
      {"text_score.json", {{{"image_id", 1}, {"category_id", 1}, {"score", "high"}}}, "[0]: score must be a finite number"},
      {"object.json", {{"image_id", 1}}, "must be a JSON array of {image_id, category_id, score}"}};
  for (const auto& c : cases) {
    d.write(d.dir.path / c.file, c.entries);
    auto r = d.run(d.args(d.dir.path / c.file));
    INFO(c.file);
    SHOW(r);
    CHECK(r.status == 2);
    CHECK(contains(r.err, c.expected));
  }
  d.write_text(d.dir.path / "nan.json", R"([{"image_id": 1, "category_id": 1, "score": NaN}])");
  auto nan = d.run(d.args(d.dir.path / "nan.json"));
  SHOW(nan);
  CHECK(nan.status == 2);
  CHECK(contains(nan.err, "nan.json[0]"));
  auto missing = d.run(d.args(d.dir.path / "absent.json"));
  SHOW(missing);
  CHECK(missing.status == 1);
  CHECK(contains(missing.err, "absent.json does not exist"));
}

TEST_CASE("eval cli: classification options are refused for detection", "[cli][eval_cli]") {
  eval_data d;
  for (std::string extra : {" --top-k 1", " --average micro", " --threshold 0.3,0.5"}) {
    auto r = d.run(d.eval_args(d.pred) + extra);
    INFO(extra);
    SHOW(r);
    CHECK(r.status == 2);
    CHECK_FALSE(r.err.empty());
  }
}

TEST_CASE("eval cli: usage errors exit with status 2", "[cli][eval_cli]") {
  eval_data d;
  const auto gt = quote(d.gt.string()), pred = quote(d.pred.string());
  for (std::string args : {std::string("eval"), fmt::format("eval --gt {}", gt), fmt::format("eval --predictions {}", pred),
                           fmt::format("eval --gt {} --predictions {} --kind segmentation", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --iou 0.3,1.5", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --iou abc", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --threshold 2", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --overlap -0.1", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --top-k 0", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --top-k one", gt, pred),
                           fmt::format("eval --gt {} --predictions {} --average median", gt, pred)}) {
    auto r = d.run(args);
    INFO("tailor " << args);
    SHOW(r);
    CHECK(r.status == 2);
    CHECK_FALSE(r.err.empty());
  }
  auto help = d.run("eval --help");
  CHECK(help.status == 0);
  CHECK(contains(help.out, "--iou"));
  CHECK(contains(help.out, "--threshold"));
  CHECK(contains(help.out, "--overlap"));
  CHECK(contains(help.out, "--top-k"));
  CHECK(contains(help.out, "--average"));
}

#endif  // TAILOR_CLI_PATH
