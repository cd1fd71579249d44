#pragma once
// Dataset objects: a named, validated view of one association file in one image container,
// stored in a workspace.
//
//   tailor::workspace ws("tailor-workspace");
//   auto d = tailor::create_dataset(ws, {.name = "fruit", .coco_file = "train.json", .images = "photos/"});
//   auto coco = tailor::open_dataset(d);   // the tables, after checking the file did not change
//
// Creating validates everything (the association file and every image file) and records what a
// user wants to see before training: kind, box units, categories with counts, image sizes, and a
// SHA-256 of the association file so that a later change to it is noticed.
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/file_io.hpp"
#include "../core/sha256.hpp"
#include "../data/coco.hpp"
#include "../data/container.hpp"
#include "../data/dataset_check.hpp"
#include "../version.hpp"
#include "workspace.hpp"

namespace tailor {

struct category_summary {
  std::int64_t id = 0;
  std::string name;
  std::size_t images = 0;       // images carrying this tag / holding such a box
  std::size_t annotations = 0;  // tags or boxes
};

struct dataset {
  std::string name;
  data::dataset_kind kind = data::dataset_kind::classification;
  std::string kind_reason;
  data::box_units units = data::box_units::pixels;  // what the file uses (pixels or normalized)
  std::string units_reason;
  std::filesystem::path images_root;       // the container: a local directory (absolute)
  std::filesystem::path association_file;  // absolute
  std::string sha256;                      // of the association file when created
  std::uint64_t file_size = 0;
  std::string created;                     // UTC, ISO 8601
  std::string tailor_version;
  std::size_t images = 0;
  std::size_t annotations = 0;
  std::size_t untagged_images = 0;  // images without any annotation
  int min_width = 0, max_width = 0, min_height = 0, max_height = 0;
  std::vector<category_summary> categories;
  std::vector<problem> warnings;  // as found at creation (capped)
  std::size_t warning_count = 0;
};

struct dataset_spec {
  std::string name;
  std::filesystem::path coco_file;
  std::filesystem::path images;               // the container root
  std::optional<data::dataset_kind> kind;     // nullopt: inferred
  data::box_units units = data::box_units::automatic;
  bool verify_images = false;                 // decode every image fully
  unsigned threads = 0;                       // for the image checks; 0: all hardware threads
};

enum class source_state { unchanged, changed, missing };

constexpr std::string_view to_string(source_state s) noexcept {
  switch (s) {
    case source_state::unchanged: return "unchanged";
    case source_state::changed: return "changed";
    case source_state::missing: return "missing";
  }
  return "missing";
}

namespace detail {

inline constexpr std::string_view datasets_folder = "datasets";
inline constexpr std::string_view dataset_file = "dataset.json";

inline std::string utc_now() {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

// Counts and ranges of a validated association file.
inline void summarize_into(dataset& d, const data::coco_dataset& coco, const problem_list& problems) {
  d.kind = coco.kind;
  d.kind_reason = coco.kind_reason;
  d.units = coco.units;
  d.units_reason = coco.units_reason;
  d.images = coco.images.size();
  d.annotations = coco.annotations.size();
  d.categories.clear();
  for (auto& c : coco.categories) d.categories.push_back({c.id, c.name, 0, 0});
  for (auto& a : coco.annotations)
    if (a.category_index != data::no_index) ++d.categories[a.category_index].annotations;
  d.untagged_images = 0;
  bool first = true;
  for (std::size_t i = 0; i < coco.images.size(); ++i) {
    auto& image = coco.images[i];
    auto tags = data::detail::distinct_categories(coco, i);
    for (auto c : tags) ++d.categories[c].images;
    if (coco.annotations_of(i).empty()) ++d.untagged_images;
    if (image.width <= 0 || image.height <= 0) continue;
    d.min_width = first ? image.width : std::min(d.min_width, image.width);
    d.max_width = first ? image.width : std::max(d.max_width, image.width);
    d.min_height = first ? image.height : std::min(d.min_height, image.height);
    d.max_height = first ? image.height : std::max(d.max_height, image.height);
    first = false;
  }
  d.warnings.clear();
  for (auto& p : problems.items())
    if (p.level == severity::warning) d.warnings.push_back(p);
  d.warning_count = problems.warning_count();
}

inline nlohmann::json problem_to_json(const problem& p) {
  nlohmann::json j = {{"severity", to_string(p.level)}, {"where", p.where}, {"message", p.message}, {"fix", p.fix}};
  if (p.image_id) j["image_id"] = *p.image_id;
  if (p.annotation_id) j["annotation_id"] = *p.annotation_id;
  return j;
}

[[noreturn]] inline void bad_metadata(const std::filesystem::path& file, std::string_view what) {
  throw error(failure_code::dataset_corrupt,
              fmt::format("the dataset metadata {} is damaged ({}); delete the dataset and create it again", file, what));
}

}  // namespace detail

inline nlohmann::json to_json(const dataset& d) {
  nlohmann::json categories = nlohmann::json::array();
  for (auto& c : d.categories)
    categories.push_back({{"id", c.id}, {"name", c.name}, {"images", c.images}, {"annotations", c.annotations}});
  nlohmann::json warnings = nlohmann::json::array();
  for (auto& p : d.warnings) warnings.push_back(detail::problem_to_json(p));
  return {{"object", "dataset"},
          {"format", 1},
          {"name", d.name},
          {"kind", data::to_string(d.kind)},
          {"kind_reason", d.kind_reason},
          {"box_units", data::to_string(d.units)},
          {"box_units_reason", d.units_reason},
          {"container", {{"type", "local_directory"}, {"root", d.images_root.string()}}},
          {"association_file", d.association_file.string()},
          {"sha256", d.sha256},
          {"file_size", d.file_size},
          {"created", d.created},
          {"tailor_version", d.tailor_version},
          {"images", d.images},
          {"annotations", d.annotations},
          {"untagged_images", d.untagged_images},
          {"image_size",
           {{"min_width", d.min_width}, {"max_width", d.max_width}, {"min_height", d.min_height}, {"max_height", d.max_height}}},
          {"categories", categories},
          {"warning_count", d.warning_count},
          {"warnings", warnings}};
}

// Reads a dataset object written by to_json (one JSON parser for reading in the whole library: simdjson).
inline dataset dataset_from_json(std::string_view json, const std::filesystem::path& file) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root); e) detail::bad_metadata(file, simdjson::error_message(e));
  auto text = [&](simdjson::dom::element object, const char* key) {
    std::string_view s;
    if (object[key].get(s)) detail::bad_metadata(file, fmt::format("no text field '{}'", key));
    return std::string(s);
  };
  auto count = [&](simdjson::dom::element object, const char* key) {
    std::uint64_t n = 0;
    if (object[key].get(n)) detail::bad_metadata(file, fmt::format("no count field '{}'", key));
    return n;
  };
  auto signed_number = [&](simdjson::dom::element object, const char* key) {
    std::int64_t n = 0;
    if (object[key].get(n)) detail::bad_metadata(file, fmt::format("no number field '{}'", key));
    return n;
  };
  if (text(root, "object") != "dataset") detail::bad_metadata(file, "not a dataset object");
  dataset d;
  d.name = text(root, "name");
  auto kind = data::parse_dataset_kind(text(root, "kind"));
  auto units = data::parse_box_units(text(root, "box_units"));
  if (!kind || !units) detail::bad_metadata(file, "unknown kind or box units");
  d.kind = *kind;
  d.units = *units;
  d.kind_reason = text(root, "kind_reason");
  d.units_reason = text(root, "box_units_reason");
  simdjson::dom::element container;
  if (root["container"].get(container)) detail::bad_metadata(file, "no container");
  d.images_root = text(container, "root");
  d.association_file = text(root, "association_file");
  d.sha256 = text(root, "sha256");
  d.file_size = count(root, "file_size");
  d.created = text(root, "created");
  d.tailor_version = text(root, "tailor_version");
  d.images = count(root, "images");
  d.annotations = count(root, "annotations");
  d.untagged_images = count(root, "untagged_images");
  simdjson::dom::element sizes;
  if (root["image_size"].get(sizes)) detail::bad_metadata(file, "no image_size");
  d.min_width = static_cast<int>(signed_number(sizes, "min_width"));
  d.max_width = static_cast<int>(signed_number(sizes, "max_width"));
  d.min_height = static_cast<int>(signed_number(sizes, "min_height"));
  d.max_height = static_cast<int>(signed_number(sizes, "max_height"));
  simdjson::dom::array categories;
  if (root["categories"].get(categories)) detail::bad_metadata(file, "no categories");
  for (auto c : categories)
    d.categories.push_back({signed_number(c, "id"), text(c, "name"), count(c, "images"), count(c, "annotations")});
  d.warning_count = count(root, "warning_count");
  simdjson::dom::array warnings;
  if (root["warnings"].get(warnings)) detail::bad_metadata(file, "no warnings");
  for (auto w : warnings) {
    problem p{severity::warning, text(w, "where"), {}, {}, text(w, "message"), text(w, "fix")};
    std::int64_t id = 0;
    if (!w["image_id"].get(id)) p.image_id = id;
    if (!w["annotation_id"].get(id)) p.annotation_id = id;
    d.warnings.push_back(std::move(p));
  }
  return d;
}

// Validates the association file and every image, then stores the dataset. Throws
// error{already_exists}, error{dataset_not_found} (missing file or folder) or
// error{dataset_corrupt} carrying every problem; the workspace is unchanged on any failure.
inline dataset create_dataset(const workspace& ws, const dataset_spec& spec) {
  std::error_code ec;
  if (ws.has_object(detail::datasets_folder, spec.name, "dataset", detail::dataset_file))  // fail fast; create_object re-checks atomically
    throw error(failure_code::already_exists,
                fmt::format("a dataset named '{}' already exists in the workspace {}; choose another name, or delete it first",
                            spec.name, ws.root()));
  if (!std::filesystem::exists(spec.coco_file, ec))
    throw error(failure_code::dataset_not_found,
                fmt::format("the association file {} does not exist; check --coco", spec.coco_file));
  data::local_directory container(spec.images);
  auto coco_path = std::filesystem::absolute(spec.coco_file).lexically_normal();
  // The metadata is JSON text: a path that is not UTF-8 could not be recorded as it is.
  for (const auto& path : {coco_path, container.root()})
    if (!simdjson::validate_utf8(path.native().data(), path.native().size()))
      throw error(failure_code::invalid_argument,
                  fmt::format("the path {} is not valid UTF-8 text, so a dataset cannot record it; rename it", path));

  // Hash and parse the same bytes, so the recorded hash is that of the file that was validated.
  auto bytes = read_file(spec.coco_file);
  auto report = data::read_coco(
      simdjson::padded_string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), spec.coco_file.string(),
      {.kind = spec.kind, .units = spec.units});
  if (report.readable) data::check_image_files(report.dataset, container, {spec.verify_images, spec.threads}, report.problems);
  data::throw_if_errors(report, spec.coco_file.string());

  dataset d;
  d.name = spec.name;
  d.images_root = container.root();
  d.association_file = coco_path;
  d.sha256 = sha256_hex(bytes);
  d.file_size = bytes.size();
  d.created = detail::utc_now();
  d.tailor_version = version;
  detail::summarize_into(d, report.dataset, report.problems);
  ws.create_object(detail::datasets_folder, spec.name, "dataset", detail::dataset_file, to_json(d).dump(2) + "\n");
  return d;
}

inline dataset get_dataset(const workspace& ws, std::string_view name) {
  auto file = ws.object_dir(detail::datasets_folder, name, "dataset") / detail::dataset_file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw error(failure_code::dataset_not_found,
                fmt::format("there is no dataset named '{}' in the workspace {}; 'tailor dataset list' shows them", name,
                            ws.root()));
  auto bytes = read_file(file);
  return dataset_from_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file);
}

inline std::vector<dataset> list_datasets(const workspace& ws) {
  std::vector<dataset> all;
  for (auto& name : ws.list_objects(detail::datasets_folder, detail::dataset_file)) all.push_back(get_dataset(ws, name));
  return all;
}

inline void delete_dataset(const workspace& ws, std::string_view name) {
  if (!ws.remove_object(detail::datasets_folder, name, "dataset"))
    throw error(failure_code::dataset_not_found,
                fmt::format("there is no dataset named '{}' in the workspace {}", name, ws.root()));
}

// Whether the association file is still the one the dataset was created from.
inline source_state check_source(const dataset& d) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(d.association_file, ec)) return source_state::missing;
  try {
    return sha256_hex(read_file(d.association_file)) == d.sha256 ? source_state::unchanged : source_state::changed;
  } catch (const error&) {
    return source_state::missing;
  }
}

// The tables of the dataset, read with the kind and units recorded at creation. Throws
// error{dataset_corrupt} when the association file changed since then, dataset_not_found when it is gone.
inline data::coco_dataset open_dataset(const dataset& d) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(d.association_file, ec))
    throw error(failure_code::dataset_not_found,
                fmt::format("the association file {} of dataset '{}' is gone; restore it, or delete the dataset and "
                            "create it again",
                            d.association_file, d.name));
  auto bytes = read_file(d.association_file);
  auto hash = sha256_hex(bytes);
  if (hash != d.sha256)
    throw error(failure_code::dataset_corrupt,
                fmt::format("the association file {} changed since dataset '{}' was created (sha256 {} then, {} now); "
                            "create a new dataset from it (tailor dataset create) so that it is validated again",
                            d.association_file, d.name, d.sha256.substr(0, 12), hash.substr(0, 12)));
  auto report = data::read_coco(simdjson::padded_string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                d.association_file.string(), {.kind = d.kind, .units = d.units});
  data::throw_if_errors(report, d.association_file.string());
  return std::move(report.dataset);
}

}  // namespace tailor
