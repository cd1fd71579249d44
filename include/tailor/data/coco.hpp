#pragma once
// Loading and validating a COCO association file (without its images: see dataset_check.hpp).
//
//   auto report = tailor::data::read_coco_file("train.json", {.kind = dataset_kind::detection});
//   for (auto& p : report.problems.items()) ...        // every defect, with where and what to do
//   auto d = tailor::data::load_coco_file("train.json"); // the same, throwing dataset_corrupt on errors
#include <simdjson.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "coco_checks.hpp"
#include "coco_parse.hpp"
#include "coco_types.hpp"

namespace tailor::data {

struct coco_options {
  std::optional<dataset_kind> kind;         // nullopt: inferred from the file (and explained)
  box_units units = box_units::automatic;   // automatic: decided per file (and explained)
  bool require_image_sizes = true;          // evaluation ground truth may leave width/height out
  std::size_t max_problems = 50;            // problems kept per severity; all are counted
};

struct coco_report {
  coco_dataset dataset;
  problem_list problems;
  bool readable = false;  // false when the file is not JSON at all (the tables are then empty)
};

// Reads and checks a COCO document held in memory. `source_name` names it in messages.
inline coco_report read_coco(const simdjson::padded_string& json, std::string_view source_name,
                             const coco_options& options = {}) {
  coco_report report{{}, problem_list(options.max_problems), false};
  detail::coco_reader reader(json, source_name, options.require_image_sizes, report.problems, report.dataset);
  report.readable = reader.run();
  if (!report.readable) {
    report.dataset = {};
    return report;
  }
  detail::link_tables(report.dataset, report.problems);
  detail::decide_kind(report.dataset, options.kind, report.problems);
  detail::check_boxes(report.dataset, options.units, report.problems);
  detail::check_categories_and_images(report.dataset, report.problems);
  return report;
}

inline coco_report read_coco(std::string_view json, std::string_view source_name, const coco_options& options = {}) {
  return read_coco(simdjson::padded_string(json), source_name, options);
}

// (A std::string would otherwise be ambiguous between the two overloads above.)
inline coco_report read_coco(const std::string& json, std::string_view source_name, const coco_options& options = {}) {
  return read_coco(std::string_view(json), source_name, options);
}

// Reads and checks a COCO file. A missing or unreadable file throws (dataset_not_found / io_error):
// there is nothing to report problems about.
inline coco_report read_coco_file(const std::filesystem::path& file, const coco_options& options = {}) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    throw error(failure_code::dataset_not_found,
                fmt::format("the association file {} does not exist; check the path", file));
  if (std::filesystem::is_directory(file, ec))
    throw error(failure_code::invalid_argument,
                fmt::format("{} is a directory; give the path of the COCO JSON file inside it", file));
  simdjson::padded_string json;
  if (auto e = simdjson::padded_string::load(file.string()).get(json); e != simdjson::SUCCESS)
    throw error(failure_code::io_error, fmt::format("cannot read {}: {}", file, simdjson::error_message(e)));
  return read_coco(json, file.string(), options);
}

// "train.json has 3 errors and 1 warning; the first: images[2].width: ..." — the one-line summary
// of a report, for exception messages and logs.
inline std::string summarize(const problem_list& problems, std::string_view source) {
  auto plural = [](std::size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); };
  std::string text = fmt::format("{} has {} and {}", source, plural(problems.error_count(), "error"),
                                 plural(problems.warning_count(), "warning"));
  for (auto& p : problems.items()) {
    if (p.level != severity::error) continue;
    text += fmt::format("; the first: {}: {}", p.where, p.message);
    break;
  }
  return text;
}

// Throws error{dataset_corrupt} carrying the problems when the report has any error.
inline void throw_if_errors(const coco_report& report, std::string_view source) {
  if (report.problems.has_errors()) throw error(failure_code::dataset_corrupt, summarize(report.problems, source), report.problems);
}

// Reads, checks, and throws error{dataset_corrupt} when the file has any error.
inline coco_dataset load_coco_file(const std::filesystem::path& file, const coco_options& options = {}) {
  auto report = read_coco_file(file, options);
  throw_if_errors(report, file.string());
  return std::move(report.dataset);
}

}  // namespace tailor::data
