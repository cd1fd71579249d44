#pragma once
// The training samples of a detection COCO file: each image's file (resolved in the container,
// refusing names that leave it) and its boxes as corners in pixels with the class index of their
// category (categories in category-id order, as for classification). Crowd annotations
// (iscrowd = 1) are left out of training: they mark regions, not objects, and COCO evaluation
// ignores detections on them. An image without boxes stays: it teaches the background.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../data/coco_types.hpp"
#include "../data/container.hpp"
#include "../data/image_info.hpp"
#include "../detection/box_ops.hpp"
#include "classification_samples.hpp"  // classes_of_categories

namespace tailor::pipeline {

struct detection_samples {
  std::vector<std::filesystem::path> files;
  std::vector<std::vector<detection::gt_box>> boxes;  // per image, in its pixels
  std::vector<std::vector<detection::gt_box>> crowd;  // per image: crowd regions (not trained on; evaluation ignores them)
  std::vector<std::array<int, 2>> sizes;              // per image: width and height the boxes refer to
  std::vector<std::int64_t> image_ids;
  std::vector<std::string> class_names;  // index -> category name (sorted by category id)
  std::vector<std::int64_t> class_ids;
};

inline detection_samples make_detection_samples(const data::coco_dataset& coco, const std::filesystem::path& images_root) {
  if (coco.kind != data::dataset_kind::detection)
    throw error(failure_code::dataset_corrupt, "the dataset has no boxes: a detector trains on a detection COCO file (annotations "
                                               "with bbox); create the dataset with --kind detection");
  detection_samples s;
  const std::vector<std::int32_t> class_of = classes_of_categories(coco, s.class_names, s.class_ids);
  const data::local_directory container(images_root);
  for (std::size_t i = 0; i < coco.images.size(); ++i) {
    const auto& img = coco.images[i];
    std::vector<detection::gt_box> boxes, crowd;
    for (auto a : coco.annotations_of(i)) {
      const auto& ann = coco.annotations[a];
      if (ann.box_state != data::box_status::valid) continue;
      if (!(ann.bbox.w > 0 && ann.bbox.h > 0)) continue;  // a point or a line has no area to learn
      detection::gt_box b;
      b.box = detection::from_coco<float>(ann.bbox);
      b.class_id = class_of[ann.category_index];
      (ann.iscrowd ? crowd : boxes).push_back(b);
    }
    const auto where = container.resolve(img);
    if (!where.ok())
      throw error(failure_code::dataset_corrupt, fmt::format("image {}: {}; {}", img.id, where.message, where.fix));
    std::array<int, 2> size{img.width, img.height};
    if (size[0] <= 0 || size[1] <= 0) {  // not in the file: the image as displayed (EXIF applied)
      const auto info = data::read_image_info(where.path);
      size = {info.width(), info.height()};
    }
    s.files.push_back(where.path);
    s.boxes.push_back(std::move(boxes));
    s.crowd.push_back(std::move(crowd));
    s.sizes.push_back(size);
    s.image_ids.push_back(img.id);
  }
  return s;
}

}  // namespace tailor::pipeline
