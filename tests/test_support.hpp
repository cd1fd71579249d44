#pragma once
// Helpers shared by the test files.
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

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

}  // namespace tailor::testing
