#pragma once
// The COCO API's demo case in ../shared/data/coco_eval_reference (100 val2014 images with their fake
// bbox results), which the tests compare with pycocotools' numbers when the folder is present.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <tailor/data/coco.hpp>
#include <tailor/eval/coco_detection.hpp>

#include "test_support.hpp"

namespace tailor::testing {

struct coco_reference {
  std::filesystem::path dir;            // also holds pycocotools' expected numbers
  data::coco_dataset ground_truth;      // instances_val2014_100.json
  std::vector<eval::detection> detections;  // instances_val2014_fakebbox100_results.json
};

// nullopt when ../shared is absent (CI's clean clone): the caller skips with a WARN.
inline std::optional<coco_reference> load_coco_reference() {
  const auto dir = std::filesystem::path(TAILOR_TEST_DATA_DIR) / "../../../shared/data/coco_eval_reference";
  if (!std::filesystem::exists(dir / "instances_val2014_100.json")) return std::nullopt;
  coco_reference r{dir, {}, {}};
  const std::string gt_text = read_text(dir / "instances_val2014_100.json");
  auto report = data::read_coco(std::string_view(gt_text), "instances_val2014_100.json",
                                {.kind = std::nullopt, .units = data::box_units::automatic, .require_image_sizes = false});
  if (!report.readable) throw error(failure_code::dataset_corrupt, "instances_val2014_100.json is not readable");
  r.ground_truth = std::move(report.dataset);
  r.detections = eval::read_coco_results(read_text(dir / "instances_val2014_fakebbox100_results.json"),
                                         "instances_val2014_fakebbox100_results.json");
  return r;
}

}  // namespace tailor::testing
