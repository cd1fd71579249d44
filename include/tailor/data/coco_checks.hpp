#pragma once
// The checks of an association file that need the whole file read: ids and references, the kind
// (declared or inferred), the box units (declared or decided), box geometry, categories.
// Each check adds problems and goes on; none throws.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "coco_types.hpp"

namespace tailor::data::detail {

// An id for a problem: only a real one (ids <= 0 were missing or invalid and are reported as such).
inline std::optional<std::int64_t> known(std::int64_t id) noexcept {
  return id > 0 ? std::optional<std::int64_t>(id) : std::nullopt;
}

inline std::string entry_path(std::string_view table, std::size_t index, std::string_view field = {}) {
  return field.empty() ? fmt::format("{}[{}]", table, index) : fmt::format("{}[{}].{}", table, index, field);
}

// Unique ids per table, annotations pointing at existing images and categories, and the
// per-image annotation index.
inline void link_tables(coco_dataset& d, problem_list& problems) {
  auto index_table = [&](auto& table, id_index& index, std::string_view name, std::string_view what) {
    std::vector<std::int64_t> ids;
    ids.reserve(table.size());
    for (auto& entry : table) ids.push_back(entry.id);
    index.build(ids);
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (table[i].id <= 0) continue;  // already reported as missing or invalid
      auto previous = index.insert(table[i].id, static_cast<std::uint32_t>(i));
      if (previous != no_index)
        problems.error(entry_path(name, i, "id"),
                       fmt::format("{} id {} is used by {}[{}] too", what, table[i].id, name, previous),
                       fmt::format("give every {} its own id", what));
    }
  };
  index_table(d.images, d.image_ids, "images", "image");
  index_table(d.categories, d.category_ids, "categories", "category");
  id_index annotation_ids;
  index_table(d.annotations, annotation_ids, "annotations", "annotation");

  d.image_begin.assign(d.images.size() + 1, 0);
  for (std::size_t i = 0; i < d.annotations.size(); ++i) {
    auto& a = d.annotations[i];
    if (a.image_id > 0) {
      a.image_index = d.image_ids.find(a.image_id);
      if (a.image_index == no_index)
        problems.error(entry_path("annotations", i, "image_id"),
                       fmt::format("image_id {} is not the id of any image in the file", a.image_id),
                       "point the annotation at an existing image, or add that image to \"images\"", {}, known(a.id));
    }
    if (a.category_id > 0) {
      a.category_index = d.category_ids.find(a.category_id);
      if (a.category_index == no_index)
        problems.error(entry_path("annotations", i, "category_id"),
                       fmt::format("category_id {} is not the id of any category in the file", a.category_id),
                       "use one of the ids in \"categories\", or add the category", known(a.image_id), known(a.id));
    }
    if (a.image_index != no_index) ++d.image_begin[a.image_index + 1];
  }
  for (std::size_t i = 0; i < d.images.size(); ++i) d.image_begin[i + 1] += d.image_begin[i];
  d.annotation_order.assign(d.image_begin.back(), 0);
  std::vector<std::uint32_t> fill(d.image_begin.begin(), d.image_begin.end() - 1);
  for (std::size_t i = 0; i < d.annotations.size(); ++i) {
    auto image = d.annotations[i].image_index;
    if (image != no_index) d.annotation_order[fill[image]++] = static_cast<std::uint32_t>(i);
  }
}

// Distinct category indices of one image (few per image: a sorted small vector beats a set).
inline std::vector<std::uint32_t> distinct_categories(const coco_dataset& d, std::size_t image) {
  std::vector<std::uint32_t> categories;
  for (auto a : d.annotations_of(image)) {
    auto c = d.annotations[a].category_index;
    if (c != no_index) categories.push_back(c);
  }
  std::sort(categories.begin(), categories.end());
  categories.erase(std::unique(categories.begin(), categories.end()), categories.end());
  return categories;
}

inline std::string category_names(const coco_dataset& d, const std::vector<std::uint32_t>& categories) {
  std::string names;
  for (auto c : categories) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", d.categories[c].name);
  return names;
}

// The kind: declared by the caller and checked, or inferred and explained.
inline void decide_kind(coco_dataset& d, std::optional<dataset_kind> declared, problem_list& problems) {
  std::size_t with_box = 0;
  for (auto& a : d.annotations) with_box += a.has_box() ? 1 : 0;
  std::optional<std::size_t> first_multi_tag;
  for (std::size_t i = 0; i < d.images.size() && !first_multi_tag; ++i)
    if (distinct_categories(d, i).size() > 1) first_multi_tag = i;

  if (declared) {
    d.kind = *declared;
    d.kind_reason = "declared";
  } else if (with_box > 0) {
    d.kind = dataset_kind::detection;
    d.kind_reason = fmt::format("inferred: {} of {} annotations have a bbox", with_box, d.annotations.size());
  } else if (first_multi_tag) {
    d.kind = dataset_kind::multilabel;
    d.kind_reason = fmt::format("inferred: no bbox, and image {} has several tags", d.images[*first_multi_tag].id);
  } else {
    d.kind = dataset_kind::classification;
    d.kind_reason = "inferred: no bbox, one tag per image";
  }

  const bool detection = d.kind == dataset_kind::detection;
  for (std::size_t i = 0; i < d.annotations.size(); ++i) {
    auto& a = d.annotations[i];
    if (a.image_index == no_index) continue;  // not tied to an image: already reported
    if (detection && !a.has_box())
      problems.error(entry_path("annotations", i), "the annotation has no bbox, but the dataset kind is detection",
                     "add \"bbox\": [x, y, width, height], or use --kind classification / multilabel for a tag file",
                     known(a.image_id), known(a.id));
    if (!detection && a.has_box())
      problems.error(entry_path("annotations", i, "bbox"),
                     fmt::format("the annotation has a bbox, but the dataset kind is {}", to_string(d.kind)),
                     "use --kind detection for a file of boxes, or remove \"bbox\" from tag annotations", known(a.image_id), known(a.id));
  }

  if (detection) return;
  for (std::size_t i = 0; i < d.images.size(); ++i) {
    auto annotations = d.annotations_of(i);
    auto categories = distinct_categories(d, i);
    if (d.kind == dataset_kind::classification && categories.size() > 1)
      problems.error(entry_path("images", i),
                     fmt::format("the image has {} tags ({}), but the dataset kind is classification (one tag per image)",
                                 categories.size(), category_names(d, categories)),
                     "use --kind multilabel if images may carry several tags, or keep one tag per image", known(d.images[i].id));
    std::size_t tags = 0;  // annotations with a known category (the others are errors already)
    for (auto a : annotations) tags += d.annotations[a].category_index != no_index ? 1 : 0;
    if (tags > categories.size())
      problems.warning(entry_path("images", i), "the image carries the same tag more than once",
                       "keep one annotation per tag per image; the duplicates are ignored", known(d.images[i].id));
    if (annotations.empty())
      problems.warning(entry_path("images", i), "the image has no tag, so training will not use it",
                       "tag the image, or remove it from the file", known(d.images[i].id));
  }
}

// Box units (declared or decided per file), conversion to pixels, and box geometry.
inline void check_boxes(coco_dataset& d, box_units requested, problem_list& problems) {
  constexpr double unit_tolerance = 1e-3;  // rounding in normalized files (1.0000001)
  constexpr double pixel_tolerance = 1.0;  // a box may overhang the image by a pixel (rounding, 1-based tools)

  // A box "looks normalized" when all four numbers lie in [0, 1]: in pixels that is a box of at
  // most one pixel, which nobody annotates on purpose.
  auto looks_normalized = [&](const box& b) {
    return b.x >= -unit_tolerance && b.y >= -unit_tolerance && b.w <= 1 + unit_tolerance && b.h <= 1 + unit_tolerance &&
           b.x <= 1 + unit_tolerance && b.y <= 1 + unit_tolerance;
  };
  auto readable = [](const coco_annotation& a) { return a.box_state == box_status::rejected || a.box_state == box_status::valid; };

  std::size_t boxes = 0, normalized_looking = 0;
  std::optional<std::size_t> first_pixel_box;
  for (std::size_t i = 0; i < d.annotations.size(); ++i) {
    if (!readable(d.annotations[i])) continue;
    ++boxes;
    if (looks_normalized(d.annotations[i].bbox)) ++normalized_looking;
    else if (!first_pixel_box) first_pixel_box = i;
  }

  if (requested == box_units::automatic) {
    if (boxes > 0 && normalized_looking == boxes) {
      d.units = box_units::normalized;
      d.units_reason = fmt::format("decided: all {} boxes lie within [0, 1], so they are read as normalized "
                                   "[left, top, width, height]; pass --box-units pixels if they are pixels",
                                   boxes);
    } else {
      d.units = box_units::pixels;
      d.units_reason = boxes == 0 ? std::string("decided: no boxes, pixels by default")
                                  : fmt::format("decided: pixels, as annotations[{}] and {} other boxes have values above 1",
                                                *first_pixel_box, boxes - normalized_looking - 1);
    }
  } else {
    d.units = requested;
    d.units_reason = "declared";
  }

  const bool normalized = d.units == box_units::normalized;
  for (std::size_t i = 0; i < d.annotations.size(); ++i) {
    auto& a = d.annotations[i];
    if (!readable(a)) continue;
    auto path = [i] { return entry_path("annotations", i, "bbox"); };  // formatted only for a problem
    if (a.image_index == no_index) continue;  // no image to hold the box: reported, and the box stays rejected
    const coco_image* image = &d.images[a.image_index];
    const bool sized = image != nullptr && image->width > 0 && image->height > 0;
    box b = a.bbox;
    if (normalized) {
      if (!looks_normalized(b)) {
        problems.error(path(), fmt::format("the box [{}, {}, {}, {}] has values outside [0, 1], but the file's boxes are "
                                         "normalized",
                                         b.x, b.y, b.w, b.h),
                       "use one unit for every box of the file; pass --box-units pixels if the boxes are in pixels",
                       known(a.image_id), known(a.id));
        continue;
      }
      if (!sized) continue;  // cannot convert without the image size (reported with the image)
      b = {b.x * image->width, b.y * image->height, b.w * image->width, b.h * image->height};
    } else if (looks_normalized(b) && normalized_looking < boxes && b.w > 0 && b.h > 0) {
      problems.error(path(),
                     fmt::format("the box [{}, {}, {}, {}] lies within [0, 1] like a normalized box, but the other "
                                 "boxes of the file are in pixels",
                                 b.x, b.y, b.w, b.h),
                     "use one unit for every box of the file: convert this box to pixels", known(a.image_id), known(a.id));
      continue;
    }
    a.bbox = b;
    if (a.area < 0) a.area = b.w * b.h;
    if (!(b.w > 0 && b.h > 0)) {
      problems.error(path(), fmt::format("the box has width {} and height {}: both must be positive", a.bbox.w, a.bbox.h),
                     "remove the empty box, or fix its [x, y, width, height]", known(a.image_id), known(a.id));
      continue;
    }
    if (sized) {
      const double tol = pixel_tolerance;
      if (b.x < -tol || b.y < -tol || b.x + b.w > image->width + tol || b.y + b.h > image->height + tol) {
        problems.error(path(),
                       fmt::format("the box [{:.6g}, {:.6g}, {:.6g}, {:.6g}] (pixels) reaches outside the {}x{} image",
                                   b.x, b.y, b.w, b.h, image->width, image->height),
                       "clip the box to the image: 0 <= x, x + width <= image width, 0 <= y, y + height <= image height",
                       known(a.image_id), known(a.id));
        continue;
      }
    }
    a.box_state = box_status::valid;
  }
}

// Category names unique, every category used by at least two images (a warning now: the
// training step turns it into an error), file names unique, every image addressable.
inline void check_categories_and_images(coco_dataset& d, problem_list& problems) {
  std::unordered_map<std::string, std::size_t> names;
  for (std::size_t i = 0; i < d.categories.size(); ++i) {
    if (d.categories[i].name.empty()) continue;
    auto [it, inserted] = names.try_emplace(d.categories[i].name, i);
    if (!inserted)
      problems.warning(entry_path("categories", i, "name"),
                       fmt::format("the category name '{}' is used by categories[{}] too", d.categories[i].name, it->second),
                       "give each category its own name, or merge the two categories, so that results can be told apart");
  }

  // The distinct categories of each image, as distinct_categories() finds them, but read from a
  // compact copy of the category indices (visiting the annotation records in image order costs a
  // cache miss each) into one reused vector.
  std::vector<std::uint32_t> category_of(d.annotations.size());
  for (std::size_t a = 0; a < d.annotations.size(); ++a) category_of[a] = d.annotations[a].category_index;
  std::vector<std::size_t> images_per_category(d.categories.size(), 0);
  std::vector<std::uint32_t> categories;
  for (std::size_t i = 0; i < d.images.size(); ++i) {
    categories.clear();
    for (auto a : d.annotations_of(i))
      if (category_of[a] != no_index) categories.push_back(category_of[a]);
    std::sort(categories.begin(), categories.end());
    categories.erase(std::unique(categories.begin(), categories.end()), categories.end());
    for (auto c : categories) ++images_per_category[c];
  }
  for (std::size_t c = 0; c < d.categories.size(); ++c) {
    if (d.categories[c].id <= 0) continue;
    auto n = images_per_category[c];
    if (n == 0)
      problems.warning(entry_path("categories", c), fmt::format("no image is tagged '{}'", d.categories[c].name),
                       "add images of this category, or remove it from \"categories\"");
    else if (n < 2)
      problems.warning(entry_path("categories", c),
                       fmt::format("only {} image is tagged '{}'; training needs at least 2 per category", n,
                                   d.categories[c].name),
                       "add more images of this category (at least 2; 15 or more give useful models)");
  }

  std::unordered_map<std::string_view, std::size_t> files;
  for (std::size_t i = 0; i < d.images.size(); ++i) {
    auto& image = d.images[i];
    if (image.file_name.empty() && image.url.empty()) {
      problems.error(entry_path("images", i), "the image has no file_name and no absolute_url / coco_url",
                     "add \"file_name\": the image's path relative to the images folder", known(image.id));
      continue;
    }
    if (image.file_name.empty()) continue;
    auto [it, inserted] = files.try_emplace(image.file_name, i);
    if (!inserted)
      problems.error(entry_path("images", i, "file_name"),
                     fmt::format("the file name '{}' is used by images[{}] too", image.file_name, it->second),
                     "list each image file once", known(image.id));
  }
}

}  // namespace tailor::data::detail
