#pragma once
// The training samples of a classification COCO file: each image's file (resolved in the
// container, refusing names that leave it) and its classes as indices into the categories in
// category-id order. Multiclass needs exactly one tag per image; multilabel takes any number.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"
#include "../data/container.hpp"

namespace tailor::pipeline {

struct classification_samples {
  std::vector<std::filesystem::path> files;
  std::vector<std::vector<std::int32_t>> labels;  // per image: class indices
  std::vector<std::int64_t> image_ids;
  std::vector<std::string> class_names;           // index -> category name (sorted by category id)
  std::vector<std::int64_t> class_ids;
  bool multilabel = false;
};

// A model's classes are the categories in category-id order: returns the class of each category
// (by its position in coco.categories) and fills in the names and ids by class.
inline std::vector<std::int32_t> classes_of_categories(const data::coco_dataset& coco, std::vector<std::string>& class_names,
                                                       std::vector<std::int64_t>& class_ids) {
  std::vector<std::uint32_t> by_id(coco.categories.size());
  for (std::uint32_t i = 0; i < by_id.size(); ++i) by_id[i] = i;
  std::sort(by_id.begin(), by_id.end(), [&](auto a, auto b) { return coco.categories[a].id < coco.categories[b].id; });
  std::vector<std::int32_t> class_of(coco.categories.size());
  for (std::size_t k = 0; k < by_id.size(); ++k) {
    class_of[by_id[k]] = std::int32_t(k);
    class_names.push_back(coco.categories[by_id[k]].name);
    class_ids.push_back(coco.categories[by_id[k]].id);
  }
  return class_of;
}

inline classification_samples make_classification_samples(const data::coco_dataset& coco, const std::filesystem::path& images_root) {
  classification_samples s;
  s.multilabel = coco.kind == data::dataset_kind::multilabel;
  const std::vector<std::int32_t> class_of = classes_of_categories(coco, s.class_names, s.class_ids);
  const data::local_directory container(images_root);
  for (std::size_t i = 0; i < coco.images.size(); ++i) {
    const auto& img = coco.images[i];
    std::vector<std::int32_t> labels;
    for (auto a : coco.annotations_of(i)) labels.push_back(class_of[coco.annotations[a].category_index]);
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    if (!s.multilabel && labels.size() != 1)
      throw error(failure_code::dataset_corrupt,
                  fmt::format("image {} ('{}') has {} tags; a multiclass dataset needs exactly one per image (declare the "
                              "dataset multilabel, or fix its annotations)",
                              img.id, img.file_name, labels.size()));
    const auto where = container.resolve(img);
    if (!where.ok())
      throw error(failure_code::dataset_corrupt, fmt::format("image {}: {}; {}", img.id, where.message, where.fix));
    s.files.push_back(where.path);
    s.labels.push_back(std::move(labels));
    s.image_ids.push_back(img.id);
  }
  return s;
}

}  // namespace tailor::pipeline
