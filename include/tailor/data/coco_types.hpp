#pragma once
// The in-memory form of a COCO association file: compact tables plus a per-image annotation index.
//
// Boxes are always stored in absolute pixels [x, y, w, h] of the displayed image, whatever units
// the file used (normalized files are converted when loaded; `units` says what the file used).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"

namespace tailor::data {

// What an association file describes. multiclass classification is spelled "classification",
// as the hosted service and the `--kind` option spell it.
enum class dataset_kind { classification, multilabel, detection };

constexpr std::string_view to_string(dataset_kind k) noexcept {
  switch (k) {
    case dataset_kind::classification: return "classification";
    case dataset_kind::multilabel: return "multilabel";
    case dataset_kind::detection: return "detection";
  }
  return "classification";
}

inline std::optional<dataset_kind> parse_dataset_kind(std::string_view s) noexcept {
  if (s == "classification" || s == "multiclass") return dataset_kind::classification;
  if (s == "multilabel") return dataset_kind::multilabel;
  if (s == "detection") return dataset_kind::detection;
  return std::nullopt;
}

// Units of the bbox numbers in the file: COCO's absolute pixels, or the normalized [0,1]
// [left, top, width, height] of Azure's model customization. `automatic` decides per file.
enum class box_units { automatic, pixels, normalized };

constexpr std::string_view to_string(box_units u) noexcept {
  switch (u) {
    case box_units::automatic: return "auto";
    case box_units::pixels: return "pixels";
    case box_units::normalized: return "normalized";
  }
  return "auto";
}

inline std::optional<box_units> parse_box_units(std::string_view s) noexcept {
  if (s == "auto" || s == "automatic") return box_units::automatic;
  if (s == "pixels" || s == "absolute") return box_units::pixels;
  if (s == "normalized" || s == "relative") return box_units::normalized;
  return std::nullopt;
}

struct box {
  double x = 0, y = 0, w = 0, h = 0;
};

struct coco_image {
  std::int64_t id = 0;     // 0 when missing or invalid (a problem says so)
  std::string file_name;   // relative to the container root
  std::string url;         // absolute_url or coco_url, when given
  int width = 0;           // 0 when missing
  int height = 0;
};

struct coco_category {
  std::int64_t id = 0;
  std::string name;
  std::string supercategory;
};

// Index value meaning "no such image/category" (the annotation points at a missing id).
inline constexpr std::uint32_t no_index = 0xffffffffu;

// What became of an annotation's bbox field.
enum class box_status : std::uint8_t {
  none,        // no bbox (tag annotations)
  unreadable,  // present but not 4 finite numbers
  rejected,    // read, but failed a check (units, size, inside the image)
  valid,       // usable for training and evaluation
};

struct coco_annotation {
  std::int64_t id = 0;
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  std::uint32_t image_index = no_index;     // position in coco_dataset::images
  std::uint32_t category_index = no_index;  // position in coco_dataset::categories
  box_status box_state = box_status::none;
  bool iscrowd = false;
  box bbox;          // pixels (see the file comment)
  bool has_box() const noexcept { return box_state != box_status::none; }
  double area = 0;   // as given in the file, else bbox w*h
};

// Maps the ids of one table to positions in it. Dense ids (the usual 1..N) use a flat vector,
// sparse ones a hash map, so lookups stay cheap for 300k annotations either way.
class id_index {
 public:
  void build(std::span<const std::int64_t> ids) {
    dense_.clear();
    sparse_.clear();
    std::int64_t max_id = 0;
    for (auto id : ids) max_id = std::max(max_id, id);
    // Dense up to 16 slots per entry (64 bytes, less than one table entry): COCO's own sparse ids
    // (1..581929 for 118k images) stay in the flat vector, much cheaper to look up than the map.
    use_dense_ = max_id <= static_cast<std::int64_t>(ids.size()) * 16 + 1024;
    if (use_dense_) dense_.assign(static_cast<std::size_t>(max_id) + 1, no_index);
  }
  // Returns the position already holding `id`, or no_index after recording `position` for it.
  std::uint32_t insert(std::int64_t id, std::uint32_t position) {
    if (use_dense_) {
      auto& slot = dense_[static_cast<std::size_t>(id)];
      if (slot != no_index) return slot;
      slot = position;
      return no_index;
    }
    auto [it, inserted] = sparse_.try_emplace(id, position);
    return inserted ? no_index : it->second;
  }
  std::uint32_t find(std::int64_t id) const noexcept {
    if (id <= 0) return no_index;
    if (use_dense_) return static_cast<std::size_t>(id) < dense_.size() ? dense_[static_cast<std::size_t>(id)] : no_index;
    auto it = sparse_.find(id);
    return it == sparse_.end() ? no_index : it->second;
  }

 private:
  bool use_dense_ = true;
  std::vector<std::uint32_t> dense_;
  std::unordered_map<std::int64_t, std::uint32_t> sparse_;
};

struct coco_dataset {
  std::vector<coco_image> images;
  std::vector<coco_category> categories;
  std::vector<coco_annotation> annotations;

  dataset_kind kind = dataset_kind::classification;
  std::string kind_reason;          // why this kind: declared, or what the inference saw
  box_units units = box_units::pixels;  // what the file used (never `automatic` after loading)
  std::string units_reason;

  id_index image_ids;
  id_index category_ids;

  // Annotations of image i are annotation_order[image_begin[i] .. image_begin[i+1]).
  std::vector<std::uint32_t> image_begin;
  std::vector<std::uint32_t> annotation_order;

  std::span<const std::uint32_t> annotations_of(std::size_t image_index) const noexcept {
    if (image_index + 1 >= image_begin.size()) return {};
    return std::span(annotation_order).subspan(image_begin[image_index],
                                               image_begin[image_index + 1] - image_begin[image_index]);
  }
  const coco_image* find_image(std::int64_t id) const noexcept {
    auto i = image_ids.find(id);
    return i == no_index ? nullptr : &images[i];
  }
  const coco_category* find_category(std::int64_t id) const noexcept {
    auto i = category_ids.find(id);
    return i == no_index ? nullptr : &categories[i];
  }
};

}  // namespace tailor::data
