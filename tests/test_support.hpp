#pragma once
// Helpers shared by the test files.
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/core/file_io.hpp>

namespace tailor::testing {

// A fresh directory under the system temp directory, removed with everything in it on scope exit.
// `tag` names the test file in the directory name, so that a leftover says where it came from.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(std::string_view tag = "test") {
    path = std::filesystem::temp_directory_path() /
           fmt::format("tailor_{}_{}_{:x}", tag, ::getpid(), std::random_device{}());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

// The whole file as text (throws tailor::error naming the file when it cannot be read).
inline std::string read_text(const std::filesystem::path& file) {
  auto bytes = tailor::read_file(file);
  return std::string(bytes.begin(), bytes.end());
}

// A COCO document with images {id, file_name "ID.jpg"} (no sizes), categories {id, name "cID"}
// and an empty annotations array, for tests that add the annotations.
inline nlohmann::ordered_json coco_skeleton(const std::vector<std::int64_t>& images,
                                            const std::vector<std::int64_t>& categories) {
  nlohmann::ordered_json doc;
  doc["images"] = nlohmann::ordered_json::array();
  for (auto id : images) doc["images"].push_back({{"id", id}, {"file_name", fmt::format("{}.jpg", id)}});
  doc["categories"] = nlohmann::ordered_json::array();
  for (auto id : categories) doc["categories"].push_back({{"id", id}, {"name", fmt::format("c{}", id)}});
  doc["annotations"] = nlohmann::ordered_json::array();
  return doc;
}

// Entries of a COCO document, for tests that build files (ordered: keys stay as written).
inline nlohmann::ordered_json image_entry(std::int64_t id, std::string file, int width = 100, int height = 80) {
  return {{"id", id}, {"file_name", std::move(file)}, {"width", width}, {"height", height}};
}
inline nlohmann::ordered_json tag_entry(std::int64_t id, std::int64_t image_id, std::int64_t category_id) {
  return {{"id", id}, {"image_id", image_id}, {"category_id", category_id}};
}
inline nlohmann::ordered_json box_entry(std::int64_t id, std::int64_t image_id, std::int64_t category_id,
                                        std::vector<double> bbox) {
  auto a = tag_entry(id, image_id, category_id);
  a["bbox"] = std::move(bbox);
  return a;
}

}  // namespace tailor::testing
