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
