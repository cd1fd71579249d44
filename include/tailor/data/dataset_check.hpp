#pragma once
// The checks of a dataset's images against its container: every image file present, readable,
// inside the container, a supported format whose size matches the association file (by header,
// cheaply), and, with verify_images, fully decodable. Files are checked by a pool of threads;
// problems come out in image order whatever the thread count.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "coco_checks.hpp"
#include "coco_types.hpp"
#include "container.hpp"
#include "image_decode.hpp"
#include "image_info.hpp"

namespace tailor::data {

struct image_check_options {
  bool verify_images = false;  // decode every image fully (slow: seconds per thousand images)
  unsigned threads = 0;        // 0: one per hardware thread
};

namespace detail {

inline constexpr std::string_view missing_file_fix = "copy the image into the images folder, or correct its file_name";

// When images are missing, the usual cause is an images folder one level too high (COCO exports
// often keep the images in images/ or train2017/ beside the JSON). Finds such a subfolder.
inline std::optional<std::filesystem::path> folder_holding(const local_directory& container, const std::string& file_name) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(container.root(), ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && std::filesystem::is_regular_file(it->path() / file_name, ec)) return it->path();
  }
  return std::nullopt;
}

inline void check_one_image(const coco_image& image, std::size_t index, const local_directory& container,
                            const image_check_options& options, std::vector<problem>& out) {
  auto report = [&](severity level, std::string message, std::string fix) {
    out.push_back({level, entry_path("images", index, image.file_name.empty() ? "absolute_url" : "file_name"), known(image.id),
                   std::nullopt, std::move(message), std::move(fix)});
  };
  if (image.file_name.empty() && image.url.empty()) return;  // reported with the association file
  auto location = container.resolve(image);
  if (!location.ok()) return report(severity::error, location.message, location.fix);
  std::error_code ec;
  auto status = std::filesystem::status(location.path, ec);
  if (!std::filesystem::exists(status))
    return report(severity::error, fmt::format("the image file {} does not exist", location.path),
                  std::string(missing_file_fix));
  if (!std::filesystem::is_regular_file(status))
    return report(severity::error, fmt::format("{} is not a regular file", location.path),
                  "point file_name at an image file");
  if (location.inside_root && !container.check_inside(location.path))
    return report(severity::error, fmt::format("{} is a symbolic link that leads out of the images folder", location.path),
                  "copy the image itself into the images folder instead of linking to it");
  image_info info;
  try {
    info = read_image_info(location.path);
  } catch (const tailor::error& e) {
    return report(severity::error, e.what(), "replace the file with a valid JPEG or PNG image");
  }
  if (image.width > 0 && image.height > 0) {
    const bool rotated = info.width() != info.stored_width;
    if (image.width == info.width() && image.height == info.height()) {
      if (rotated)
        report(severity::warning,
               fmt::format("width/height {}x{} match the image only after its EXIF rotation (orientation {}; the file "
                           "stores {}x{})",
                           image.width, image.height, info.orientation, info.stored_width, info.stored_height),
               "nothing to do if the boxes were drawn on the upright image: tailor applies the EXIF rotation");
    } else if (rotated && image.width == info.stored_width && image.height == info.stored_height) {
      report(severity::error,
             fmt::format("width/height {}x{} are the stored size, but the EXIF orientation {} shows the image as {}x{}, "
                         "which is how tailor reads it",
                         image.width, image.height, info.orientation, info.width(), info.height()),
             fmt::format("set width {} and height {} and make sure the boxes were drawn on the upright image, or "
                         "save the image without the EXIF orientation",
                         info.width(), info.height()));
    } else {
      report(severity::error,
             fmt::format("the file is {}x{}, but the association file says {}x{}", info.width(), info.height(),
                         image.width, image.height),
             "correct width and height in the association file (and check the boxes were drawn on this image)");
    }
  }
  if (options.verify_images) {
    try {
      (void)decode_image(location.path);
    } catch (const tailor::error& e) {
      report(severity::error, e.what(), "replace the file with an image that opens completely");
    }
  }
}

}  // namespace detail

// Adds a problem for every image of `dataset` that cannot be used from `container`.
inline void check_image_files(const coco_dataset& dataset, const local_directory& container,
                              const image_check_options& options, problem_list& problems) {
  const std::size_t n = dataset.images.size();
  std::vector<std::vector<problem>> found(n);
  unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(n, 1)));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        detail::check_one_image(dataset.images[i], i, container, options, found[i]);
      } catch (const std::exception& e) {  // e.g. bad_alloc on a hostile file: report, never crash
        found[i].push_back({severity::error, detail::entry_path("images", i), detail::known(dataset.images[i].id), std::nullopt,
                            fmt::format("the image could not be checked: {}", e.what()), "check the file"});
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  std::optional<std::optional<std::filesystem::path>> better_root;  // looked up once, on the first missing file
  for (std::size_t i = 0; i < n; ++i) {
    for (auto& p : found[i]) {
      if (p.fix == detail::missing_file_fix && !dataset.images[i].file_name.empty()) {
        if (!better_root) better_root = detail::folder_holding(container, dataset.images[i].file_name);
        if (*better_root)
          p.fix = fmt::format("the file is in {}: pass that folder as the images folder (--images {})", **better_root,
                              better_root->value().string());
      }
      problems.add(std::move(p));
    }
  }
}

}  // namespace tailor::data
