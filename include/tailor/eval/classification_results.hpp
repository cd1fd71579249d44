#pragma once
// COCO classification results read against a ground truth, into the score matrix and targets the
// classification metrics take.
//
//   auto gt = tailor::data::read_coco(std::string_view(gt_json), "val.json", {.require_image_sizes = false}).dataset;
//   auto r = tailor::eval::read_classification_results(results_json, gt, "results.json");
//   auto report = tailor::eval::evaluate_classification(r);   // nlohmann::ordered_json
//
// Results are [{"image_id", "category_id", "score"}, ...]: any subset of the (image, category)
// cells, each at most once; a cell left out scores 0. Rows follow the ground truth's images by
// increasing id and columns its categories by increasing id, whatever the order of either file.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"
#include "classification.hpp"
#include "coco_results_reader.hpp"

namespace tailor::eval {

struct classification_results {
  std::vector<double> scores;              // N x C, row-major
  std::vector<std::int32_t> targets;       // multiclass: N class indices; multilabel: N x C 0/1, row-major
  std::vector<std::int64_t> image_ids;     // N, increasing: row r is image image_ids[r]
  std::vector<std::int64_t> category_ids;  // C, increasing: column c is category category_ids[c]
  bool multilabel = false;
  std::size_t entries = 0;                 // results read (scored cells)

  std::size_t num_images() const noexcept { return image_ids.size(); }
  std::size_t num_classes() const noexcept { return category_ids.size(); }
  classification_kind kind() const noexcept {
    return multilabel ? classification_kind::multilabel : classification_kind::multiclass;
  }
};

namespace classification_detail {

// The ground truth's tags as targets in sorted-id order. `kind` nullopt: multilabel when the
// ground truth says so (declared or inferred by the loader) or some image has several tags.
// `gt_name` names the ground truth in messages.
inline void targets_from_ground_truth(const data::coco_dataset& gt, std::optional<classification_kind> kind,
                                      std::string_view gt_name, classification_results& out,
                                      std::vector<std::uint32_t>& image_pos, std::vector<std::uint32_t>& category_pos) {
  using data::no_index;
  std::vector<std::uint32_t> image_order(gt.images.size()), category_order(gt.categories.size());
  std::iota(image_order.begin(), image_order.end(), 0u);
  std::iota(category_order.begin(), category_order.end(), 0u);
  std::sort(image_order.begin(), image_order.end(), [&](auto a, auto b) { return gt.images[a].id < gt.images[b].id; });
  std::sort(category_order.begin(), category_order.end(),
            [&](auto a, auto b) { return gt.categories[a].id < gt.categories[b].id; });
  const std::size_t n = image_order.size(), c = category_order.size();
  if (c == 0) throw error(failure_code::invalid_argument, fmt::format("{}: no category to evaluate against", gt_name));
  image_pos.assign(n, 0);
  category_pos.assign(c, 0);
  out.image_ids.resize(n);
  out.category_ids.resize(c);
  for (std::uint32_t p = 0; p < n; ++p) image_pos[image_order[p]] = p, out.image_ids[p] = gt.images[image_order[p]].id;
  for (std::uint32_t p = 0; p < c; ++p)
    category_pos[category_order[p]] = p, out.category_ids[p] = gt.categories[category_order[p]].id;

  // Distinct tags per image (a repeated tag counts once), as positions.
  std::vector<std::vector<std::uint32_t>> tags(n);
  for (std::size_t j = 0; j < gt.annotations.size(); ++j) {
    const auto& a = gt.annotations[j];
    if (a.image_index == no_index || a.category_index == no_index)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: annotations[{}] (id {}) refers to a missing image or category", gt_name, j, a.id));
    tags[image_pos[a.image_index]].push_back(category_pos[a.category_index]);
  }
  bool several = false;
  for (auto& t : tags) {
    std::sort(t.begin(), t.end());
    t.erase(std::unique(t.begin(), t.end()), t.end());
    several = several || t.size() > 1;
  }
  out.multilabel = kind ? *kind == classification_kind::multilabel
                        : (several || gt.kind == data::dataset_kind::multilabel);
  if (out.multilabel) {
    out.targets.assign(n * c, 0);
    for (std::size_t p = 0; p < n; ++p)
      for (auto t : tags[p]) out.targets[p * c + t] = 1;
    return;
  }
  out.targets.resize(n);
  for (std::size_t p = 0; p < n; ++p) {
    if (tags[p].size() != 1)
      throw error(failure_code::invalid_argument,
                  tags[p].empty()
                      ? fmt::format("{}: image {} has no tag; multiclass evaluation needs one tag per image: "
                                    "tag it, or remove it, or evaluate as multilabel (--kind multilabel)",
                                    gt_name, out.image_ids[p])
                      : fmt::format("{}: image {} has {} tags; evaluate it as multilabel", gt_name, out.image_ids[p],
                                    tags[p].size()));
    out.targets[p] = static_cast<std::int32_t>(tags[p][0]);
  }
}

}  // namespace classification_detail

// Reads COCO classification results (`name` names the file in messages, `gt_name` the ground
// truth) into scores against the targets of `gt`. Throws error{invalid_argument} naming the entry for an unknown image or
// category, a missing field, a non-finite score, a second score for the same (image, category),
// content after the array, and for a multiclass ground-truth image without a tag.
inline classification_results read_classification_results(std::string_view json, const data::coco_dataset& gt,
                                                           std::string_view name,
                                                           std::optional<classification_kind> kind = std::nullopt,
                                                           std::string_view gt_name = "the ground truth") {
  classification_results out;
  std::vector<std::uint32_t> image_pos, category_pos;
  classification_detail::targets_from_ground_truth(gt, kind, gt_name, out, image_pos, category_pos);
  const std::size_t c = out.category_ids.size();
  out.scores.assign(out.image_ids.size() * c, 0.0);  // a cell without a result scores 0
  std::vector<std::uint64_t> seen((out.scores.size() + 63) / 64, 0);
  auto ignore = [](std::string_view, simdjson::ondemand::value, const results_detail::entry_error&) {};
  auto take = [&](const results_detail::result_entry& e, const results_detail::entry_error& fail) {
    const auto ii = gt.image_ids.find(e.image_id);
    if (ii == data::no_index) throw fail(fmt::format("image_id {} is not an image of the ground truth", e.image_id));
    const auto ci = gt.category_ids.find(e.category_id);
    if (ci == data::no_index) throw fail(fmt::format("category_id {} is not a category of the ground truth", e.category_id));
    const std::size_t cell = static_cast<std::size_t>(image_pos[ii]) * c + category_pos[ci];
    if (seen[cell / 64] >> (cell % 64) & 1u)
      throw fail(fmt::format("a second score for image {} and category {}; give each pair once", e.image_id, e.category_id));
    seen[cell / 64] |= std::uint64_t{1} << (cell % 64);
    out.scores[cell] = e.score;
    ++out.entries;
  };
  results_detail::read_results_array(json, name, "{image_id, category_id, score}", ignore, take);
  return out;
}

// The report of `results` (see classification_accumulator::report): one accumulator, one batch.
inline nlohmann::ordered_json evaluate_classification(const classification_results& results,
                                                      classification_metrics_options options = {}) {
  classification_accumulator acc(results.num_classes(), results.kind(), std::move(options));
  acc.add(results.scores, results.targets);
  return acc.report();
}

}  // namespace tailor::eval
