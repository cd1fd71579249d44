#pragma once
// Model objects: a named model tied to a Dataset, stored in the workspace.
//
//   <root>/models/<name>/model.json          status, trials, the chosen configuration, metrics
//   <root>/models/<name>/weights.safetensors the final weights (torchvision's tensor names)
//   <root>/models/<name>/best.safetensors    the best trial's weights so far, while training
//   <root>/models/<name>/cancel              a cancel request from another process
//
// Status, as the hosted service named it: notStarted -> training -> succeeded | failed{code,
// message}; training -> cancelling -> cancelled. Every write is atomic (temp file + rename): a
// crash or a kill leaves the previous state, and training resumes from the trials recorded.
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../automl/calibration.hpp"
#include "../automl/search_space.hpp"
#include "../automl/trial_record.hpp"
#include "../core/error.hpp"
#include "../core/file_io.hpp"
#include "../nn/backbone.hpp"
#include "../pipeline/augment.hpp"
#include "../version.hpp"
#include "dataset.hpp"
#include "workspace.hpp"

namespace tailor {

enum class model_status { not_started, training, succeeded, failed, cancelling, cancelled };

constexpr std::string_view to_string(model_status s) noexcept {
  switch (s) {
    case model_status::not_started: return "notStarted";
    case model_status::training: return "training";
    case model_status::succeeded: return "succeeded";
    case model_status::failed: return "failed";
    case model_status::cancelling: return "cancelling";
    case model_status::cancelled: return "cancelled";
  }
  return "failed";
}

inline std::optional<model_status> parse_model_status(std::string_view s) {
  for (auto v : {model_status::not_started, model_status::training, model_status::succeeded, model_status::failed,
                 model_status::cancelling, model_status::cancelled})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

struct model_evaluation {
  std::string name, dataset, created;
  nlohmann::ordered_json metrics;
};

struct model_object {
  std::string name, dataset, task = "classification";
  model_status status = model_status::not_started;
  std::optional<failure_code> failure;
  std::string failure_message;
  // The run
  double budget_seconds = 0, cost_seconds = 0, planning_seconds = 0;
  std::uint64_t seed = 0;
  std::string search_strategy, budget_policy;
  automl::calibration machine;
  std::map<std::string, std::string> pretrained;  // backbone -> .safetensors path
  std::vector<automl::trial_record> trials;
  std::optional<std::size_t> best_trial;
  std::string stopping_reason, space;
  // The chosen model
  std::string backbone;
  nn::weights_convention convention = nn::weights_convention::torchvision;
  double width = 1.0;
  int epochs = 0;
  std::string configuration;  // the chosen trial's description
  bool retrained_on_all = false;
  std::vector<std::string> classes;
  bool multilabel = false;
  int fpn_channels = 0, head_convs = 0;  // detection: the neck's width and each head tower's depth
  std::string detector_head;             // detection: "centernet" or "fcos" (detection/head_kind.hpp)
  int input_size = 0;
  int decode_side = 0;  // images are first decoded with their longer side at most this (as in training)
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
  // Classifiers: averaged with the mirror image when training flipped (absent in older models: plain).
  pipeline::test_time test_time = pipeline::test_time::plain;
  std::string score_name, validation;
  double validation_score = 0, baseline_score = 0;
  std::size_t train_images = 0, validation_images = 0;
  nlohmann::ordered_json validation_metrics;
  std::vector<model_evaluation> evaluations;
  std::string created, updated, tailor_version;
};

namespace detail {

inline constexpr std::string_view models_folder = "models";
inline constexpr std::string_view model_file = "model.json";

[[noreturn]] inline void bad_model_metadata(const std::filesystem::path& file, std::string_view what) {
  throw error(failure_code::unknown,
              fmt::format("the model metadata {} is damaged ({}); delete the model and train it again", file, what));
}

// A parsed simdjson value as nlohmann JSON (for the metrics blobs, which are written back as they are).
inline nlohmann::ordered_json to_nlohmann(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      auto out = nlohmann::ordered_json::array();
      simdjson::dom::array values;
      if (!e.get(values))
        for (auto v : values) out.push_back(to_nlohmann(v));
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      auto out = nlohmann::ordered_json::object();
      simdjson::dom::object fields;
      if (!e.get(fields))
        for (auto field : fields) out[std::string(field.key)] = to_nlohmann(field.value);
      return out;
    }
    case simdjson::dom::element_type::INT64: return e.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64: return e.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE: return e.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING: return std::string(e.get_string().value_unsafe());
    case simdjson::dom::element_type::BOOL: return e.get_bool().value_unsafe();
    case simdjson::dom::element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

inline nlohmann::ordered_json config_to_json(const automl::trial_config& c) {
  return {{"backbone_index", c.backbone},
          {"input_size", c.input_size},
          {"learning_rate", c.learning_rate},
          {"weight_decay", c.weight_decay},
          {"batch_size", c.batch_size},
          {"augmentation", c.augmentation},
          {"mode", automl::finetune_mode_name(c.mode)},
          {"label_smoothing", c.label_smoothing},
          {"optimizer", automl::optimizer_name(c.optimizer)}};
}

// Typed reads from a simdjson object, each naming the file and field when it is not there.
struct json_reader {
  std::filesystem::path file;
  std::string text(simdjson::dom::element o, const char* key) const {
    std::string_view s;
    if (o[key].get(s)) bad_model_metadata(file, fmt::format("no text field '{}'", key));
    return std::string(s);
  }
  double number(simdjson::dom::element o, const char* key) const {
    double d = 0;
    if (o[key].get(d)) bad_model_metadata(file, fmt::format("no number field '{}'", key));
    return d;
  }
  std::int64_t integer(simdjson::dom::element o, const char* key) const {
    std::int64_t n = 0;
    if (o[key].get(n)) bad_model_metadata(file, fmt::format("no integer field '{}'", key));
    return n;
  }
  std::uint64_t unsigned_integer(simdjson::dom::element o, const char* key) const {
    std::uint64_t n = 0;
    if (o[key].get(n)) bad_model_metadata(file, fmt::format("no integer field '{}'", key));
    return n;
  }
  bool boolean(simdjson::dom::element o, const char* key) const {
    bool b = false;
    if (o[key].get(b)) bad_model_metadata(file, fmt::format("no true/false field '{}'", key));
    return b;
  }
  simdjson::dom::element element(simdjson::dom::element o, const char* key) const {
    simdjson::dom::element e;
    if (o[key].get(e)) bad_model_metadata(file, fmt::format("no field '{}'", key));
    return e;
  }
  simdjson::dom::array array(simdjson::dom::element o, const char* key) const {
    simdjson::dom::array a;
    if (o[key].get(a)) bad_model_metadata(file, fmt::format("no array field '{}'", key));
    return a;
  }
};

inline automl::trial_config config_from_json(const json_reader& r, simdjson::dom::element c) {
  automl::trial_config t;
  t.backbone = std::size_t(r.unsigned_integer(c, "backbone_index"));
  t.input_size = int(r.integer(c, "input_size"));
  t.learning_rate = r.number(c, "learning_rate");
  t.weight_decay = r.number(c, "weight_decay");
  t.batch_size = int(r.integer(c, "batch_size"));
  t.augmentation = r.number(c, "augmentation");
  t.label_smoothing = r.number(c, "label_smoothing");
  const auto mode = r.text(c, "mode"), optimizer = r.text(c, "optimizer");
  bool mode_ok = false, optimizer_ok = false;
  for (auto m : {train::finetune_mode::full, train::finetune_mode::partial, train::finetune_mode::linear_probe})
    if (automl::finetune_mode_name(m) == mode) t.mode = m, mode_ok = true;
  for (auto o : {train::optimizer_kind::sgd, train::optimizer_kind::adamw})
    if (automl::optimizer_name(o) == optimizer) t.optimizer = o, optimizer_ok = true;
  if (!mode_ok || !optimizer_ok) bad_model_metadata(r.file, fmt::format("unknown mode '{}' or optimizer '{}'", mode, optimizer));
  return t;
}

}  // namespace detail

inline nlohmann::ordered_json to_json(const model_object& m) {
  nlohmann::ordered_json trials = nlohmann::ordered_json::array();
  for (const auto& t : m.trials) {
    nlohmann::ordered_json j = {{"id", t.id},
                                {"backbone", t.backbone},
                                {"description", t.description},
                                {"config", detail::config_to_json(t.config)},
                                {"epochs", t.epochs},
                                {"epochs_trained", t.epochs_trained},
                                {"rung", t.rung},
                                {"opening", t.opening},
                                {"cost_seconds", t.cost},
                                {"busy_seconds", t.seconds},
                                {"score", t.score},
                                {"outcome", t.outcome},
                                {"message", t.message},
                                {"attempts", t.attempts}};
    if (t.promoted_from) j["promoted_from"] = *t.promoted_from;
    trials.push_back(std::move(j));
  }
  nlohmann::ordered_json evaluations = nlohmann::ordered_json::array();
  for (const auto& e : m.evaluations)
    evaluations.push_back({{"name", e.name}, {"dataset", e.dataset}, {"created", e.created}, {"metrics", e.metrics}});
  nlohmann::ordered_json j = {
      {"object", "model"},
      {"format", 1},
      {"name", m.name},
      {"dataset", m.dataset},
      {"task", m.task},
      {"status", to_string(m.status)},
      {"failure", m.failure ? nlohmann::ordered_json{{"code", to_string(*m.failure)}, {"message", m.failure_message}}
                            : nlohmann::ordered_json(nullptr)},
      {"budget_seconds", m.budget_seconds},
      {"cost_seconds", m.cost_seconds},
      {"planning_seconds", m.planning_seconds},
      {"seed", m.seed},
      {"search_strategy", m.search_strategy},
      {"budget_policy", m.budget_policy},
      {"calibration",
       {{"factor", m.machine.factor},
        {"measured_seconds", m.machine.measured_seconds},
        {"reference_seconds", m.machine.reference_seconds},
        {"threads", m.machine.threads},
        {"rounds", m.machine.rounds}}},
      {"pretrained", m.pretrained},
      {"space", m.space},
      {"stopping_reason", m.stopping_reason},
      {"best_trial", m.best_trial ? nlohmann::ordered_json(*m.best_trial) : nlohmann::ordered_json(nullptr)},
      {"trials", trials},
      {"architecture",
       {{"backbone", m.backbone},
        {"convention", m.convention == nn::weights_convention::timm ? "timm" : "torchvision"},
        {"width", m.width},
        {"classes", m.classes},
        {"multilabel", m.multilabel},
        {"fpn_channels", m.fpn_channels},
        {"head_convs", m.head_convs},
        {"head", m.detector_head},
        {"epochs", m.epochs},
        {"configuration", m.configuration},
        {"retrained_on_all", m.retrained_on_all}}},
      {"preprocessing",
       {{"resize", m.task == "detection"
                       ? "decode with the longer side at most decode_max_side, then letterbox: the longer side to "
                         "input_size (bilinear), centred on an input_size x input_size canvas padded with 0 after "
                         "normalisation, RGB in [0, 1], (x - mean) / std"
                       : "decode with the longer side at most decode_max_side, then the whole image to input_size x "
                         "input_size (bilinear), RGB in [0, 1], (x - mean) / std"},
        {"decode_max_side", m.decode_side},
        {"input_size", m.input_size},
        {"mean", m.mean},
        {"std", m.std},
        {"test_time", pipeline::test_time_name(m.test_time)}}},
      {"validation",
       {{"method", m.validation},
        {"train_images", m.train_images},
        {"validation_images", m.validation_images},
        {"score_name", m.score_name},
        {"score", m.validation_score},
        {"baseline_score", m.baseline_score},
        {"metrics", m.validation_metrics}}},
      {"evaluations", evaluations},
      {"created", m.created},
      {"updated", m.updated},
      {"tailor_version", m.tailor_version}};
  return j;
}

inline model_object model_from_json(std::string_view json, const std::filesystem::path& file) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root); e) detail::bad_model_metadata(file, simdjson::error_message(e));
  const detail::json_reader r{file};
  if (r.text(root, "object") != "model") detail::bad_model_metadata(file, "not a model object");
  model_object m;
  m.name = r.text(root, "name");
  m.dataset = r.text(root, "dataset");
  m.task = r.text(root, "task");
  const auto status = parse_model_status(r.text(root, "status"));
  if (!status) detail::bad_model_metadata(file, "unknown status");
  m.status = *status;
  if (auto f = r.element(root, "failure"); !f.is_null()) {
    m.failure = parse_failure_code(r.text(f, "code"));
    if (!m.failure) detail::bad_model_metadata(file, "unknown failure code");
    m.failure_message = r.text(f, "message");
  }
  m.budget_seconds = r.number(root, "budget_seconds");
  m.cost_seconds = r.number(root, "cost_seconds");
  m.planning_seconds = r.number(root, "planning_seconds");
  m.seed = r.unsigned_integer(root, "seed");
  m.search_strategy = r.text(root, "search_strategy");
  m.budget_policy = r.text(root, "budget_policy");
  const auto cal = r.element(root, "calibration");
  m.machine.factor = r.number(cal, "factor");
  m.machine.measured_seconds = r.number(cal, "measured_seconds");
  m.machine.reference_seconds = r.number(cal, "reference_seconds");
  m.machine.threads = int(r.integer(cal, "threads"));
  if (std::int64_t rounds = 0; cal["rounds"].get(rounds) == simdjson::SUCCESS) m.machine.rounds = int(rounds);  // absent in older models
  simdjson::dom::object pretrained;
  if (root["pretrained"].get(pretrained)) detail::bad_model_metadata(file, "no pretrained map");
  for (auto field : pretrained) {
    std::string_view path;
    if (field.value.get(path)) detail::bad_model_metadata(file, "a pretrained path is not text");
    m.pretrained[std::string(field.key)] = std::string(path);
  }
  m.space = r.text(root, "space");
  m.stopping_reason = r.text(root, "stopping_reason");
  if (auto b = r.element(root, "best_trial"); !b.is_null()) m.best_trial = std::size_t(r.unsigned_integer(root, "best_trial"));
  for (auto t : r.array(root, "trials")) {
    automl::trial_record x;
    x.id = std::size_t(r.unsigned_integer(t, "id"));
    x.backbone = r.text(t, "backbone");
    x.description = r.text(t, "description");
    x.config = detail::config_from_json(r, r.element(t, "config"));
    x.epochs = int(r.integer(t, "epochs"));
    if (std::int64_t v = 0; !t["epochs_trained"].get(v)) x.epochs_trained = int(v);  // absent in older models
    x.rung = int(r.integer(t, "rung"));
    bool opening = false;
    if (!t["opening"].get(opening)) x.opening = opening;  // absent in files of tailor before the opening
    x.cost = r.number(t, "cost_seconds");
    x.seconds = r.number(t, "busy_seconds");
    x.score = r.number(t, "score");
    x.outcome = r.text(t, "outcome");
    x.message = r.text(t, "message");
    x.attempts = int(r.integer(t, "attempts"));
    std::uint64_t from = 0;
    if (!t["promoted_from"].get(from)) x.promoted_from = std::size_t(from);
    m.trials.push_back(std::move(x));
  }
  const auto a = r.element(root, "architecture");
  m.backbone = r.text(a, "backbone");
  m.convention = r.text(a, "convention") == "timm" ? nn::weights_convention::timm : nn::weights_convention::torchvision;
  m.width = r.number(a, "width");
  for (auto c : r.array(a, "classes")) {
    std::string_view s;
    if (c.get(s)) detail::bad_model_metadata(file, "a class name is not text");
    m.classes.emplace_back(s);
  }
  m.multilabel = r.boolean(a, "multilabel");
  if (std::int64_t v = 0; !a["fpn_channels"].get(v)) m.fpn_channels = int(v);  // absent before detection models
  if (std::int64_t v = 0; !a["head_convs"].get(v)) m.head_convs = int(v);
  // Absent in classifiers and in the detectors saved before the CenterNet-style head (FCOS ones).
  if (std::string_view h; !a["head"].get(h)) m.detector_head = std::string(h);
  else if (m.fpn_channels > 0) m.detector_head = "fcos";
  m.epochs = int(r.integer(a, "epochs"));
  m.configuration = r.text(a, "configuration");
  m.retrained_on_all = r.boolean(a, "retrained_on_all");
  const auto p = r.element(root, "preprocessing");
  m.input_size = int(r.integer(p, "input_size"));
  m.decode_side = int(r.integer(p, "decode_max_side"));
  auto three = [&](const char* key, std::array<float, 3>& out) {
    std::size_t i = 0;
    for (auto v : r.array(p, key)) {
      double d = 0;
      if (i >= 3 || v.get(d)) detail::bad_model_metadata(file, fmt::format("preprocessing.{} is not three numbers", key));
      out[i++] = float(d);
    }
    if (i != 3) detail::bad_model_metadata(file, fmt::format("preprocessing.{} is not three numbers", key));
  };
  three("mean", m.mean);
  three("std", m.std);
  if (std::string_view t; !p["test_time"].get(t)) {  // absent before the mirror average: plain
    if (const auto named = pipeline::test_time_named(t)) m.test_time = *named;
    else
      detail::bad_model_metadata(
          file, fmt::format("preprocessing.test_time is '{}': expected plain, mirror_average or mirror_and_zoom", t));
  }
  const auto v = r.element(root, "validation");
  m.validation = r.text(v, "method");
  m.train_images = std::size_t(r.unsigned_integer(v, "train_images"));
  m.validation_images = std::size_t(r.unsigned_integer(v, "validation_images"));
  m.score_name = r.text(v, "score_name");
  m.validation_score = r.number(v, "score");
  m.baseline_score = r.number(v, "baseline_score");
  m.validation_metrics = detail::to_nlohmann(r.element(v, "metrics"));
  for (auto e : r.array(root, "evaluations"))
    m.evaluations.push_back({r.text(e, "name"), r.text(e, "dataset"), r.text(e, "created"), detail::to_nlohmann(r.element(e, "metrics"))});
  m.created = r.text(root, "created");
  m.updated = r.text(root, "updated");
  m.tailor_version = r.text(root, "tailor_version");
  return m;
}

// ---- the workspace's models -------------------------------------------------------------------------

inline std::filesystem::path model_dir(const workspace& ws, std::string_view name) {
  return ws.object_dir(detail::models_folder, name, "model");
}

inline model_object get_model(const workspace& ws, std::string_view name) {
  const auto file = model_dir(ws, name) / detail::model_file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw error(failure_code::invalid_argument,
                fmt::format("there is no model named '{}' in the workspace {}; 'tailor model list' shows them", name, ws.root()));
  const auto bytes = read_file(file);
  return model_from_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file);
}

inline bool has_model(const workspace& ws, std::string_view name) {
  return ws.has_object(detail::models_folder, name, "model", detail::model_file);
}

// A new Model object, notStarted, tied to an existing Dataset.
inline model_object create_model(const workspace& ws, std::string_view name, std::string_view dataset_name) {
  check_name(name, "model");
  (void)get_dataset(ws, dataset_name);  // dataset_not_found when it is not there
  std::error_code ec;
  std::filesystem::create_directories(ws.root() / detail::models_folder, ec);
  model_object m;
  m.name = std::string(name);
  m.dataset = std::string(dataset_name);
  m.created = m.updated = detail::utc_now();
  m.tailor_version = version;
  ws.create_object(detail::models_folder, name, "model", detail::model_file, to_json(m).dump(2) + "\n");
  return m;
}

inline void save_model(const workspace& ws, model_object& m) {
  m.updated = detail::utc_now();
  ws.replace_object(detail::models_folder, m.name, "model", detail::model_file, to_json(m).dump(2) + "\n");
}

inline std::vector<model_object> list_models(const workspace& ws) {
  std::vector<model_object> all;
  std::error_code ec;
  if (!std::filesystem::is_directory(ws.root() / detail::models_folder, ec)) return all;
  for (auto& name : ws.list_objects(detail::models_folder, detail::model_file)) all.push_back(get_model(ws, name));
  return all;
}

// Deletes a model and its weights. A model that is training is refused unless force is set (a
// training that was killed leaves "training" behind: resume it, or delete it with force).
inline void delete_model(const workspace& ws, std::string_view name, bool force = false) {
  const auto m = get_model(ws, name);
  if (!force && (m.status == model_status::training || m.status == model_status::cancelling))
    throw error(failure_code::invalid_argument,
                fmt::format("the model '{}' is {}: cancel it first ('tailor model cancel {}'); if no training is running "
                            "(it was killed), resume it with 'tailor model train {} --resume' or delete it with --force",
                            name, to_string(m.status), name, name));
  ws.remove_object(detail::models_folder, name, "model");
}

// Asks a training in another process to stop at its next safe point.
inline void request_cancel(const workspace& ws, std::string_view name) {
  auto m = get_model(ws, name);
  if (m.status != model_status::training && m.status != model_status::cancelling)
    throw error(failure_code::invalid_argument,
                fmt::format("the model '{}' is {}, not training: there is nothing to cancel", name, to_string(m.status)));
  write_file_atomically(model_dir(ws, name) / "cancel", std::string_view("cancel\n"), overwrite::allow);
  m.status = model_status::cancelling;
  save_model(ws, m);
}

}  // namespace tailor
