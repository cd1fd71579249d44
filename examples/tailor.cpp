// The `tailor` program: the command-line face of the library.
//
//   tailor [--workspace DIR] [--json] dataset create NAME --coco FILE --images DIR [--kind K] [--box-units U]
//   tailor dataset show NAME | dataset list | dataset delete NAME
//   tailor coco check FILE [--kind K] [--box-units U]
//   tailor example-data DIR [--seed N]
//   tailor eval --gt GT.json --predictions P.json [--kind K] [--iou 0.3,0.5,0.75] [--threshold 0.5] [--overlap 0.5]
//               [--top-k 1,5] [--average macro|micro|weighted|samples]
//   tailor model train NAME --dataset D [--budget 5m] [--eval-dataset E] [--seed S] [--pretrained B=FILE] [--resume]
//   tailor model show|delete|cancel NAME | model list | model evaluate NAME --dataset D [--name E]
//   tailor analyze --model NAME IMAGE...
//
// Exit status: 0 success, 1 failure (prints "error: <code>: <message>" and the problems on
// stderr), 2 usage error.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <tailor/backend/cpu.hpp>
#include <tailor/core/file_io.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/eval/classification_results.hpp>
#include <tailor/eval/coco_detection.hpp>
#include <tailor/eval/detection_report.hpp>
#include <tailor/model/dataset.hpp>
#include <tailor/model/workspace.hpp>
#include <tailor/version.hpp>

#include "example_data.hpp"
#include "model_commands.hpp"

namespace {

using tailor::failure_code;
using tailor::problem;
using tailor::problem_list;
using tailor::severity;

// --json output never fails on text that is not UTF-8 (a message quoting a broken file): such
// bytes are written as U+FFFD instead of throwing from inside the error report.
constexpr auto json_errors = nlohmann::json::error_handler_t::replace;

struct global_options {
  std::string workspace;
  bool json = false;
  int threads = 0;  // 0: every core
};

std::string problem_line(const problem& p) {
  std::string ids;
  if (p.image_id) ids += fmt::format("image {}", *p.image_id);
  if (p.annotation_id) ids += fmt::format("{}annotation {}", ids.empty() ? "" : ", ", *p.annotation_id);
  return fmt::format("  {:<7} {}{}: {}\n          fix: {}", tailor::to_string(p.level), p.where,
                     ids.empty() ? "" : fmt::format(" ({})", ids), p.message, p.fix);
}

// Errors first, then warnings, at most 20 of each on a terminal, with the count of those not listed
// (--json lists all that were kept).
void print_problems(std::FILE* out, const problem_list& problems) {
  constexpr std::size_t most = 20;
  for (auto level : {severity::error, severity::warning}) {
    std::size_t shown = 0;
    for (auto& p : problems.items())
      if (p.level == level && shown < most) {
        fmt::print(out, "{}\n", problem_line(p));
        ++shown;
      }
    auto total = level == severity::error ? problems.error_count() : problems.warning_count();
    if (total > shown)
      fmt::print(out, "  ... and {} more {}s not listed\n", total - shown, tailor::to_string(level));
  }
}

nlohmann::json problems_json(const problem_list& problems) {
  nlohmann::json list = nlohmann::json::array();
  for (auto& p : problems.items()) list.push_back(tailor::detail::problem_to_json(p));
  return {{"errors", problems.error_count()}, {"warnings", problems.warning_count()}, {"problems", list}};
}

int report_failure(const tailor::error& e, const global_options& g) {
  fmt::print(stderr, "error: {}: {}\n", tailor::to_string(e.code()), e.what());
  print_problems(stderr, e.problems());
  if (g.json) {
    nlohmann::json j = {{"error", {{"code", tailor::to_string(e.code())}, {"message", e.what()}}}};
    j["error"].update(problems_json(e.problems()));
    fmt::print("{}\n", j.dump(2, ' ', false, json_errors));
  }
  return e.code() == failure_code::invalid_argument ? 2 : 1;
}

std::optional<tailor::data::dataset_kind> kind_option(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return tailor::data::parse_dataset_kind(text);  // CLI11 has checked the spelling
}

void print_dataset(const tailor::dataset& d, tailor::source_state state) {
  fmt::print("dataset {}\n", d.name);
  fmt::print("  kind:             {} ({})\n", tailor::data::to_string(d.kind), d.kind_reason);
  if (d.kind == tailor::data::dataset_kind::detection)
    fmt::print("  box units:        {} ({})\n", tailor::data::to_string(d.units), d.units_reason);
  fmt::print("  images:           {} in {}\n", d.images, d.images_root.string());
  fmt::print("  annotations:      {}{}\n", d.annotations,
             d.untagged_images ? fmt::format(" ({} images without any)", d.untagged_images) : "");
  fmt::print("  image sizes:      {}..{} x {}..{} pixels\n", d.min_width, d.max_width, d.min_height, d.max_height);
  fmt::print("  association file: {} ({})\n", d.association_file.string(),
             state == tailor::source_state::unchanged ? "unchanged since creation"
             : state == tailor::source_state::changed ? "CHANGED since creation: create the dataset again"
                                                      : "MISSING");
  fmt::print("  sha256:           {}\n", d.sha256);
  fmt::print("  created:          {} by tailor {}\n", d.created, d.tailor_version);
  fmt::print("  categories:       {}\n", d.categories.size());
  std::size_t width = 4;
  for (auto& c : d.categories) width = std::max(width, c.name.size());
  fmt::print("    {:>6}  {:<{}}  {:>7}  {:>11}\n", "id", "name", width, "images",
             d.kind == tailor::data::dataset_kind::detection ? "boxes" : "tags");
  for (auto& c : d.categories)
    fmt::print("    {:>6}  {:<{}}  {:>7}  {:>11}\n", c.id, c.name, width, c.images, c.annotations);
  if (d.warning_count) {
    fmt::print("  warnings:         {}\n", d.warning_count);
    for (auto& w : d.warnings) fmt::print("{}\n", problem_line(w));
    if (d.warning_count > d.warnings.size())
      fmt::print("  ... and {} more warnings not listed\n", d.warning_count - d.warnings.size());
  }
}

nlohmann::json dataset_json(const tailor::dataset& d, tailor::source_state state) {
  auto j = tailor::to_json(d);
  j["association_file_state"] = tailor::to_string(state);
  return j;
}

// tailor eval ----------------------------------------------------------------------------------

struct eval_options {
  std::string gt, predictions, kind, units = "auto";
  std::vector<double> ious{0.3, 0.5, 0.75};   // detection: the mAP_XX numbers
  std::vector<double> thresholds{0.5};        // score (probability) thresholds of precision / recall
  double overlap = 0.5;                       // detection: IoU threshold of precision / recall
  std::vector<int> top_k{1, 5};               // classification: accuracy and precision / recall at top k
  std::string average = "macro";              // classification: averaging of precision, recall, F1, AP
  bool classification_options_given = false;  // --top-k or --average on the command line
};

// What evaluation needs of a ground-truth file and what it does not: images need only their ids,
// so problems with image files (no file_name, the same file twice, sizes out of range) are left
// out; every other error stops the evaluation.
bool matters_for_evaluation(const problem& p) {
  if (p.level != severity::error) return false;
  const std::string_view where = p.where;
  if (where.substr(0, 7) != "images[") return true;
  const auto close = where.find(']');
  if (close == std::string_view::npos) return true;
  const std::string_view field = where.substr(close + 1);
  if (field.empty()) return p.message.find("no file_name") == std::string::npos;
  return !(field == ".file_name" || field == ".absolute_url" || field == ".coco_url" || field == ".width" || field == ".height");
}

// The ground truth of `tailor eval`: a COCO file whose images need only ids (sizes are optional,
// image files are not looked at).
tailor::data::coco_dataset read_eval_ground_truth(const eval_options& ev) {
  auto report = tailor::data::read_coco_file(ev.gt, {.kind = kind_option(ev.kind),
                                                     .units = *tailor::data::parse_box_units(ev.units),
                                                     .require_image_sizes = false});
  problem_list relevant(report.problems.capacity());
  for (auto& p : report.problems.items())
    if (matters_for_evaluation(p)) relevant.add(p);
  if (!report.readable || relevant.has_errors())
    throw tailor::error(failure_code::dataset_corrupt, tailor::data::summarize(relevant, ev.gt), relevant);
  auto& d = report.dataset;
  if (d.kind == tailor::data::dataset_kind::detection && d.units == tailor::data::box_units::normalized)
    for (std::size_t i = 0; i < d.annotations.size(); ++i) {
      const auto& a = d.annotations[i];
      if (a.has_box() && a.image_index != tailor::data::no_index &&
          (d.images[a.image_index].width <= 0 || d.images[a.image_index].height <= 0))
        throw tailor::error(failure_code::dataset_corrupt,
                            fmt::format("{}: annotations[{}] has a normalized box, but its image {} has no width and height "
                                        "to convert it to pixels; add them, or pass --box-units pixels",
                                        ev.gt, i, d.images[a.image_index].id));
    }
  return std::move(report.dataset);
}

std::string read_predictions_text(const eval_options& ev) {
  std::error_code ec;
  if (!std::filesystem::exists(ev.predictions, ec))
    throw tailor::error(failure_code::dataset_not_found,
                        fmt::format("the predictions file {} does not exist; check the path", ev.predictions));
  const auto bytes = tailor::read_file(ev.predictions);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string fixed4(double v) { return v < 0 ? std::string("n/a") : fmt::format("{:.4f}", v); }

void print_detection_report(const tailor::eval::detection_report& r, const eval_options& ev) {
  fmt::print("detection evaluation\n");
  fmt::print("  ground truth: {} ({} images, {} boxes{}, {} tags)\n", ev.gt, r.images, r.ground_truth_boxes,
             r.crowd_boxes ? fmt::format(" + {} crowd regions", r.crowd_boxes) : "", r.category_ids.size());
  fmt::print("  predictions:  {} ({} detections)\n\n", ev.predictions, r.detections);

  auto row = [](const std::string& label, double value) { fmt::print("  {:<44} {:>7}\n", label, fixed4(value)); };
  fmt::print("COCO (as pycocotools COCOeval; n/a: no ground truth there)\n");
  static constexpr const char* rows[12][3] = {
      {"AP", "0.50:0.95", "all"}, {"AP50", "0.50", "all"},         {"AP75", "0.75", "all"},
      {"AP_small", "0.50:0.95", "small"}, {"AP_medium", "0.50:0.95", "medium"}, {"AP_large", "0.50:0.95", "large"},
      {"AR1", "0.50:0.95", "all"}, {"AR10", "0.50:0.95", "all"},       {"AR100", "0.50:0.95", "all"},
      {"AR_small", "0.50:0.95", "small"}, {"AR_medium", "0.50:0.95", "medium"}, {"AR_large", "0.50:0.95", "large"}};
  static constexpr int max_dets[12] = {100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100};
  for (std::size_t i = 0; i < 12; ++i)
    row(fmt::format("{:<10} IoU={:<9} area={:<6} maxDets={:<3}", rows[i][0], rows[i][1], rows[i][2], max_dets[i]),
        r.coco.stats[i]);

  fmt::print("\nmAP (as vision-evaluation's CocoMeanAveragePrecisionEvaluator, maxDets {})\n", r.options.max_dets);
  for (std::size_t i = 0; i < r.map.ious.size(); ++i)
    row(fmt::format("{:<10} IoU={}", tailor::eval::map_key(r.map.ious[i]), tailor::eval::python_float_str(r.map.ious[i])),
        r.map.map[i]);
  row(fmt::format("{:<10} mean over these IoUs", "avg_mAP"), r.map.avg_map);

  fmt::print("\nprecision / recall at score >= {} and IoU >= {}\n", tailor::eval::python_float_str(r.pr.threshold),
             tailor::eval::python_float_str(r.pr.overlap));
  row(fmt::format("precision  ({} true, {} false positives)", r.pr.true_positives, r.pr.false_positives), r.pr.precision);
  row(fmt::format("recall     (of {} ground-truth boxes)", r.pr.ground_truth), r.pr.recall);

  std::size_t width = 3;
  for (auto& name : r.tag_names) width = std::max(width, name.size());
  fmt::print("\nper tag\n  {:<{}}  {:>7}  {:>7}  {:>9}  {:>7}  {:>6}\n", "tag", width, "AP50", "AR100", "precision", "recall",
             "boxes");
  for (std::size_t k = 0; k < r.tag_names.size(); ++k)
    fmt::print("  {:<{}}  {:>7}  {:>7}  {:>9}  {:>7}  {:>6}\n", r.tag_names[k], width, fixed4(r.tag_wise_ap50[k]),
               fixed4(r.tag_wise_ar[k]), fixed4(r.pr.tag_precision[k]), fixed4(r.pr.tag_recall[k]), r.pr.tag_ground_truth[k]);
}

// Detection: COCO results against the ground truth's boxes.
int run_eval_detection(const tailor::data::coco_dataset& gt, const eval_options& ev, const global_options& g) {
  if (ev.classification_options_given)
    throw tailor::error(failure_code::invalid_argument,
                        fmt::format("--top-k and --average are classification options, and {} is a detection ground truth; "
                                    "leave them out (or pass --kind classification to evaluate its tags)", ev.gt));
  if (ev.thresholds.size() != 1)
    throw tailor::error(failure_code::invalid_argument,
                        fmt::format("detection precision / recall takes one --threshold (got {}); run once per threshold",
                                    ev.thresholds.size()));
  const auto dets = tailor::eval::read_coco_results(read_predictions_text(ev), ev.predictions);
  std::optional<tailor::eval::detection_accumulator> acc;
  try {
    acc.emplace(gt, dets);
  } catch (const tailor::error& e) {  // name the file: "P.json: detection 3 has image_id 7, ..."
    throw tailor::error(e.code(), fmt::format("{}: {}", ev.predictions, e.what()));
  }
  const auto report = tailor::eval::make_detection_report(
      *acc, {.ious = ev.ious, .max_dets = 300, .threshold = ev.thresholds[0], .overlap = ev.overlap});
  if (g.json) fmt::print("{}\n", tailor::eval::to_json(report).dump(2, ' ', false, json_errors));
  else print_detection_report(report, ev);
  return 0;
}

// A report value as a table cell: 4 decimals, or n/a where the JSON holds no number.
std::string cell4(const nlohmann::ordered_json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : "n/a"; }

void print_classification_report(const nlohmann::ordered_json& r, const tailor::eval::classification_results& res,
                                 const std::vector<std::string>& tag_names, const eval_options& ev) {
  const std::size_t n = res.num_images(), c = res.num_classes();
  fmt::print("classification evaluation ({})\n", tailor::eval::to_string(res.kind()));
  fmt::print("  ground truth: {} ({} images, {} tags)\n", ev.gt, n, c);
  fmt::print("  predictions:  {} ({} scores; an (image, tag) left out scores 0)\n\n", ev.predictions, res.entries);

  auto row = [](const std::string& label, const nlohmann::ordered_json& v) { fmt::print("  {:<36} {:>7}\n", label, cell4(v)); };
  fmt::print("as vision-evaluation computes them; averaging: {}\n", ev.average);
  for (auto& [key, value] : r.items())
    if (value.is_number()) row(key, value);

  // Per tag: images tagged, AP (tags with positives only, as vision-evaluation), accuracy.
  std::vector<std::size_t> positives(c, 0);
  if (res.multilabel) {
    for (std::size_t i = 0; i < n * c; ++i) positives[i % c] += res.targets[i] != 0 ? 1 : 0;
  } else {
    for (auto t : res.targets) ++positives[static_cast<std::size_t>(t)];
  }
  const auto& ap = r["tag_wise_average_precision"];
  const bool has_accuracy = r.contains("tag_wise_accuracy");
  std::size_t width = 3;
  for (auto& name : tag_names) width = std::max(width, name.size());
  fmt::print("\nper tag\n  {:<{}}  {:>7}  {:>7}{}\n", "tag", width, "images", "AP", has_accuracy ? "  accuracy" : "");
  for (std::size_t k = 0, with_positives = 0; k < c; ++k) {
    const std::string ap_cell = positives[k] > 0 && with_positives < ap.size() ? cell4(ap[with_positives++]) : "n/a";
    fmt::print("  {:<{}}  {:>7}  {:>7}{}\n", tag_names[k], width, positives[k], ap_cell,
               has_accuracy ? fmt::format("  {:>8}", cell4(r["tag_wise_accuracy"][k])) : "");
  }

  // The confusion matrix when it fits a terminal (--json always has it, up to 4096 tags).
  constexpr std::size_t most_tags = 20;
  if (r.contains("confusion_matrix") && c <= most_tags) {
    const auto& cm = r["confusion_matrix"]["cm"];
    fmt::print("\nconfusion matrix (rows: true tag, columns: predicted tag, by the highest score)\n  {:<{}}", "", width);
    for (std::size_t k = 0; k < c; ++k) fmt::print(" {:>7.7}", tag_names[k]);
    fmt::print("\n");
    for (std::size_t i = 0; i < c; ++i) {
      fmt::print("  {:<{}}", tag_names[i], width);
      for (std::size_t j = 0; j < c; ++j) fmt::print(" {:>7}", cm[i][j].dump());
      fmt::print("\n");
    }
  } else if (r.contains("confusion_matrix")) {
    fmt::print("\nconfusion matrix: {} x {}, in --json\n", c, c);
  }
}

// Classification and multilabel: COCO results [{image_id, category_id, score}] against the ground
// truth's tags; multilabel when --kind says so or an image has several tags.
int run_eval_classification(const tailor::data::coco_dataset& gt, const eval_options& ev, const global_options& g) {
  std::optional<tailor::eval::classification_kind> kind;
  if (ev.kind == "multilabel") kind = tailor::eval::classification_kind::multilabel;
  else if (ev.kind == "classification" || ev.kind == "multiclass") kind = tailor::eval::classification_kind::multiclass;
  const auto text = read_predictions_text(ev);
  const auto results = tailor::eval::read_classification_results(text, gt, ev.predictions, kind, ev.gt);
  // Tag names in the order of the report's columns: categories by increasing id.
  std::vector<std::string> tag_names;
  for (auto id : results.category_ids) tag_names.push_back(gt.categories[gt.category_ids.find(id)].name);
  const auto report = tailor::eval::evaluate_classification(
      results, {.top_k = ev.top_k,
                .thresholds = ev.thresholds,
                .average = *tailor::eval::parse_averaging(ev.average),
                .class_names = tag_names});
  if (g.json) fmt::print("{}\n", report.dump(2, ' ', false, json_errors));
  else print_classification_report(report, results, tag_names, ev);
  return 0;
}

// tailor eval: the kind declared with --kind, else the ground truth's, picks the evaluation.
int run_eval(const eval_options& ev, const global_options& g) {
  const auto gt = read_eval_ground_truth(ev);
  switch (gt.kind) {
    case tailor::data::dataset_kind::detection: return run_eval_detection(gt, ev, g);
    case tailor::data::dataset_kind::classification:
    case tailor::data::dataset_kind::multilabel: return run_eval_classification(gt, ev, g);
  }
  return run_eval_classification(gt, ev, g);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tailor: train image classifiers and object detectors from a folder of images and a COCO file",
               "tailor"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow a subcommand: tailor dataset list --json
  app.set_version_flag("--version", std::string(tailor::version));
  global_options g;
  g.workspace = tailor::workspace::default_root().string();
  app.add_option("--workspace", g.workspace, "Workspace directory (default: $TAILOR_WORKSPACE, else ./tailor-workspace)");
  app.add_flag("--json", g.json, "Machine-readable JSON output on stdout");
  app.add_option("--threads", g.threads, "Threads for training and inference (default: every core); calibration "
                                         "measures with the same threads")
      ->check(CLI::Range(1, 1024));

  const std::vector<std::string> kinds{"classification", "multiclass", "multilabel", "detection"};
  const std::vector<std::string> units{"auto", "pixels", "normalized"};

  // dataset ...
  auto* dataset_cmd = app.add_subcommand("dataset", "Create, show, list and delete Dataset objects");
  dataset_cmd->require_subcommand(1);
  struct {
    std::string name, coco, images, kind, units = "auto";
    bool verify = false;
  } create;
  auto* create_cmd = dataset_cmd->add_subcommand("create", "Validate a COCO file and its images, and store them as a Dataset");
  create_cmd->add_option("name", create.name, "Dataset name")->required();
  create_cmd->add_option("--coco", create.coco, "COCO association file (JSON)")->required();
  create_cmd->add_option("--images", create.images, "Folder holding the images (the container root)")->required();
  create_cmd->add_option("--kind", create.kind, "classification | multilabel | detection (default: inferred)")
      ->check(CLI::IsMember(kinds));
  create_cmd->add_option("--box-units", create.units, "auto | pixels | normalized (default: auto)")->check(CLI::IsMember(units));
  create_cmd->add_flag("--verify-images", create.verify, "Decode every image fully (slower; finds truncated files)");

  std::string show_name, delete_name;
  auto* show_cmd = dataset_cmd->add_subcommand("show", "Show a Dataset");
  show_cmd->add_option("name", show_name, "Dataset name")->required();
  auto* list_cmd = dataset_cmd->add_subcommand("list", "List the Datasets of the workspace");
  auto* delete_cmd = dataset_cmd->add_subcommand("delete", "Delete a Dataset (its files are not touched)");
  delete_cmd->add_option("name", delete_name, "Dataset name")->required();

  // coco check ...
  auto* coco_cmd = app.add_subcommand("coco", "Work with COCO association files");
  coco_cmd->require_subcommand(1);
  struct {
    std::string file, kind, units = "auto";
  } check;
  auto* check_cmd = coco_cmd->add_subcommand("check", "Validate an association file alone (no images): counts and every problem");
  check_cmd->add_option("file", check.file, "COCO JSON file")->required();
  check_cmd->add_option("--kind", check.kind, "classification | multilabel | detection (default: inferred)")
      ->check(CLI::IsMember(kinds));
  check_cmd->add_option("--box-units", check.units, "auto | pixels | normalized")->check(CLI::IsMember(units));

  // example-data DIR
  std::string example_dir;
  std::uint64_t example_seed = 7;
  auto* example_cmd = app.add_subcommand("example-data", "Write the generated example dataset (images + COCO files)");
  example_cmd->add_option("dir", example_dir, "Output folder")->required();
  example_cmd->add_option("--seed", example_seed, "Random seed (the same seed gives the same files)");
  int example_per_class = tailor::examples::example_data_options{}.classification_images_per_class;
  example_cmd->add_option("--images-per-class", example_per_class, "Classification images per shape (80% train, 20% test)")
      ->check(CLI::Range(5, 100000))
      ->capture_default_str();

  // eval --gt GT --predictions P ...
  eval_options ev;
  auto* eval_cmd = app.add_subcommand("eval", "Evaluate predictions against a COCO ground truth (classification: accuracy, "
                                              "precision / recall / F1, AP, ROC AUC, calibration; detection: COCO AP/AR, "
                                              "mAP at chosen IoUs, precision and recall at a threshold)");
  eval_cmd->add_option("--gt", ev.gt, "Ground truth: a COCO file (images need only ids)")->required();
  eval_cmd->add_option("--predictions", ev.predictions,
                       "Predictions as COCO results: [{image_id, category_id, score}, ...] for classification, "
                       "[{image_id, category_id, bbox, score}, ...] for detection")
      ->required();
  eval_cmd->add_option("--kind", ev.kind, "detection | classification | multilabel (default: the ground truth's)")
      ->check(CLI::IsMember(kinds));
  eval_cmd->add_option("--box-units", ev.units, "Ground-truth box units: auto | pixels | normalized (default: auto)")
      ->check(CLI::IsMember(units));
  eval_cmd->add_option("--iou", ev.ious, "IoU thresholds of the mAP_XX numbers, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  eval_cmd->add_option("--threshold", ev.thresholds,
                       "Score thresholds of precision / recall, comma-separated (classification: several allowed; "
                       "detection: one, detections scored >= it count)")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  eval_cmd->add_option("--overlap", ev.overlap, "IoU threshold of precision / recall")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  auto* top_k_opt = eval_cmd->add_option("--top-k", ev.top_k, "Classification: k of accuracy_topk and precision / recall "
                                                              "at top k, comma-separated")
                        ->delimiter(',')
                        ->check(CLI::Range(1, 1 << 30))
                        ->capture_default_str();
  auto* average_opt = eval_cmd->add_option("--average", ev.average,
                                           "Classification: averaging of precision, recall, F1 and AP: "
                                           "macro | micro | weighted | samples")
                          ->check(CLI::IsMember({"macro", "micro", "weighted", "samples"}))
                          ->capture_default_str();

  tailor_cli::model_commands model_cmds;
  model_cmds.add_to(app);

  try {
    app.parse(argc, argv);
    ev.classification_options_given = top_k_opt->count() > 0 || average_opt->count() > 0;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (g.threads > 0) tailor::backend::cpu::set_num_threads(g.threads);
    if (auto rc = model_cmds.run(g.json, g.workspace)) return *rc;
    if (*create_cmd) {
      tailor::workspace ws(g.workspace);
      auto d = tailor::create_dataset(ws, {.name = create.name,
                                           .coco_file = create.coco,
                                           .images = create.images,
                                           .kind = kind_option(create.kind),
                                           .units = *tailor::data::parse_box_units(create.units),
                                           .verify_images = create.verify});
      if (g.json) fmt::print("{}\n", dataset_json(d, tailor::source_state::unchanged).dump(2, ' ', false, json_errors));
      else {
        fmt::print("created dataset '{}' in {}\n", d.name, ws.root().string());
        print_dataset(d, tailor::source_state::unchanged);
      }
    } else if (*show_cmd) {
      tailor::workspace ws(g.workspace);
      auto d = tailor::get_dataset(ws, show_name);
      auto state = tailor::check_source(d);
      if (g.json) fmt::print("{}\n", dataset_json(d, state).dump(2, ' ', false, json_errors));
      else print_dataset(d, state);
    } else if (*list_cmd) {
      tailor::workspace ws(g.workspace);
      auto all = tailor::list_datasets(ws);
      if (g.json) {
        nlohmann::json list = nlohmann::json::array();
        for (auto& d : all) list.push_back(dataset_json(d, tailor::check_source(d)));
        fmt::print("{}\n", list.dump(2, ' ', false, json_errors));
      } else if (all.empty()) {
        fmt::print("no datasets in {}\n", ws.root().string());
      } else {
        fmt::print("{:<24} {:<15} {:>8} {:>11} {:>10}  {}\n", "name", "kind", "images", "annotations", "categories", "created");
        for (auto& d : all)
          fmt::print("{:<24} {:<15} {:>8} {:>11} {:>10}  {}\n", d.name, tailor::data::to_string(d.kind), d.images,
                     d.annotations, d.categories.size(), d.created);
      }
    } else if (*delete_cmd) {
      tailor::workspace ws(g.workspace);
      tailor::delete_dataset(ws, delete_name);
      if (g.json) fmt::print("{}\n", nlohmann::json{{"deleted", delete_name}}.dump(2, ' ', false, json_errors));
      else fmt::print("deleted dataset '{}'\n", delete_name);
    } else if (*check_cmd) {
      auto report = tailor::data::read_coco_file(
          check.file, {.kind = kind_option(check.kind), .units = *tailor::data::parse_box_units(check.units)});
      auto& d = report.dataset;
      std::size_t boxes = 0;
      for (auto& a : d.annotations) boxes += a.has_box() ? 1 : 0;
      if (g.json) {
        nlohmann::json j = {{"file", check.file}, {"valid", !report.problems.has_errors()}};
        if (report.readable) {
          j["kind"] = tailor::data::to_string(d.kind);
          j["kind_reason"] = d.kind_reason;
          j["box_units"] = tailor::data::to_string(d.units);
          j["box_units_reason"] = d.units_reason;
          j["images"] = d.images.size();
          j["categories"] = d.categories.size();
          j["annotations"] = d.annotations.size();
          j["boxes"] = boxes;
        }
        j.update(problems_json(report.problems));
        fmt::print("{}\n", j.dump(2, ' ', false, json_errors));
      } else {
        fmt::print("{}\n", check.file);
        if (report.readable) {
          fmt::print("  kind:        {} ({})\n", tailor::data::to_string(d.kind), d.kind_reason);
          if (boxes > 0) fmt::print("  box units:   {} ({})\n", tailor::data::to_string(d.units), d.units_reason);
          fmt::print("  images:      {}\n  categories:  {}\n  annotations: {}{}\n", d.images.size(), d.categories.size(),
                     d.annotations.size(), boxes ? fmt::format(" ({} boxes)", boxes) : "");
        }
      }
      if (report.problems.has_errors()) {
        fmt::print(stderr, "error: dataset_corrupt: {}\n", tailor::data::summarize(report.problems, check.file));
        print_problems(stderr, report.problems);
        return 1;
      }
      if (!g.json) {
        fmt::print("  valid:       yes, {} warning{}\n", report.problems.warning_count(),
                   report.problems.warning_count() == 1 ? "" : "s");
        print_problems(stdout, report.problems);
      }
    } else if (*eval_cmd) {
      return run_eval(ev, g);
    } else if (*example_cmd) {
      auto summary = tailor::examples::write_example_data(
          example_dir, {.seed = example_seed, .classification_images_per_class = example_per_class});
      if (g.json) {
        nlohmann::json files = nlohmann::json::array();
        for (auto& f : summary.coco_files) files.push_back(f.string());
        fmt::print("{}\n", nlohmann::json{{"root", summary.root.string()},
                                          {"classes", summary.classes},
                                          {"coco_files", files},
                                          {"images", summary.images},
                                          {"boxes", summary.boxes}}
                               .dump(2, ' ', false, json_errors));
      } else {
        fmt::print("wrote {} images ({} boxes) of {} classes to {}\n", summary.images, summary.boxes,
                   summary.classes.size(), summary.root.string());
        for (auto& f : summary.coco_files) fmt::print("  {}\n", f.string());
      }
    }
  } catch (const tailor::error& e) {
    return report_failure(e, g);
  } catch (const std::exception& e) {
    return report_failure(tailor::error(failure_code::unknown, fmt::format("{} (please report this)", e.what())), g);
  }
  return 0;
}
