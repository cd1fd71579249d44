#pragma once
// Predicted probabilities against the images' tags, as the Evaluation metrics see them: the one
// place that turns a dataset's tags into metric targets, for the customizer's validation and for
// evaluating a Model on another dataset.
#include <cstdint>
#include <span>
#include <vector>

#include "../eval/classification.hpp"

namespace tailor::task {

// probabilities: N x C row-major, one row per image of `images` (empty: every image of `tags`).
// tags: each image's class indices; to_class maps them to the accumulator's classes (empty: as
// they are), for a dataset whose tags are numbered unlike the model's.
inline eval::classification_accumulator score_predictions(std::span<const double> probabilities,
                                                          const std::vector<std::vector<std::int32_t>>& tags,
                                                          std::span<const std::uint32_t> images, bool multilabel,
                                                          const eval::classification_metrics_options& options,
                                                          std::span<const std::int32_t> to_class = {}) {
  const std::size_t classes = options.class_names.size();
  eval::classification_accumulator acc(classes, multilabel ? eval::classification_kind::multilabel
                                                           : eval::classification_kind::multiclass, options);
  auto mapped = [&](std::int32_t tag) { return to_class.empty() ? tag : to_class[std::size_t(tag)]; };
  std::vector<std::int32_t> targets;
  auto add = [&](const std::vector<std::int32_t>& image_tags) {
    if (!multilabel) {
      targets.push_back(mapped(image_tags.front()));
      return;
    }
    std::vector<std::int32_t> row(classes, 0);
    for (auto t : image_tags) row[std::size_t(mapped(t))] = 1;
    targets.insert(targets.end(), row.begin(), row.end());
  };
  if (images.empty())
    for (const auto& t : tags) add(t);
  else
    for (auto i : images) add(tags[i]);
  acc.add(probabilities, std::span<const std::int32_t>(targets));
  return acc;
}

}  // namespace tailor::task
