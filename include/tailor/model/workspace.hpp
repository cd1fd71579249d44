#pragma once
// A workspace: a directory holding named objects (Datasets now, Models later) as JSON documents.
//
//   <root>/tailor-workspace.json   marks the directory as a workspace (format version)
//   <root>/datasets/<name>.json    one Dataset object
//
// Every write is atomic (temp file + fsync + rename, see core/file_io.hpp): a crash or a kill
// leaves each object either as it was or as it is meant to be, never half-written.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "../core/file_io.hpp"

namespace tailor {

// Object names: ^[a-zA-Z0-9][a-zA-Z0-9._-]*$, at most 255 characters (they become file names).
inline bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 255) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return false;
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

inline void check_name(std::string_view name, std::string_view what) {
  if (!is_valid_name(name))
    throw error(failure_code::invalid_argument,
                fmt::format("'{}' is not a valid {} name: use letters, digits, '.', '_' and '-', starting with a letter "
                            "or digit, at most 255 characters",
                            name, what));
}

class workspace {
 public:
  // Opens the workspace at `root`, creating it when it does not exist.
  explicit workspace(std::filesystem::path root) : root_(std::move(root)) {
    std::error_code ec;
    if (std::filesystem::exists(root_, ec) && !std::filesystem::is_directory(root_, ec))
      throw error(failure_code::invalid_argument, fmt::format("the workspace {} is a file, not a directory", root_));
    std::filesystem::create_directories(root_ / "datasets", ec);
    if (ec) throw error(failure_code::io_error, fmt::format("cannot create the workspace {}: {}", root_, ec.message()));
    auto marker = root_ / "tailor-workspace.json";
    if (!std::filesystem::exists(marker, ec)) {
      try {
        write_file_atomically(marker, std::string_view("{\"format\": 1}\n"), overwrite::forbid);
      } catch (const error& e) {
        if (e.code() != failure_code::already_exists) throw;  // another process made it first: fine
      }
    }
  }

  // $TAILOR_WORKSPACE when set, else ./tailor-workspace.
  static std::filesystem::path default_root() {
    const char* env = std::getenv("TAILOR_WORKSPACE");
    return env && *env ? std::filesystem::path(env) : std::filesystem::path("tailor-workspace");
  }

  const std::filesystem::path& root() const noexcept { return root_; }

  // The file of object `name` in `folder` ("datasets"); the name is checked first.
  std::filesystem::path object_file(std::string_view folder, std::string_view name, std::string_view what) const {
    check_name(name, what);
    return root_ / folder / fmt::format("{}.json", name);
  }

  // Writes a new object; error{already_exists} if one of that name exists (atomic test-and-create).
  void create_object(std::string_view folder, std::string_view name, std::string_view what, std::string_view json) const {
    auto file = object_file(folder, name, what);
    try {
      write_file_atomically(file, json, overwrite::forbid);
    } catch (const error& e) {
      if (e.code() == failure_code::already_exists)
        throw error(failure_code::already_exists,
                    fmt::format("a {} named '{}' already exists in the workspace {}; choose another name, or delete it "
                                "first",
                                what, name, root_));
      throw;
    }
  }

  // Replaces an existing object atomically.
  void replace_object(std::string_view folder, std::string_view name, std::string_view what, std::string_view json) const {
    write_file_atomically(object_file(folder, name, what), json, overwrite::allow);
  }

  // Names of the objects in `folder`, sorted. Temporary files of interrupted writes are ignored.
  std::vector<std::string> list_objects(std::string_view folder) const {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root_ / folder, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      auto file = it->path().filename().string();
      if (file.size() > 5 && file.ends_with(".json")) {
        auto name = file.substr(0, file.size() - 5);
        if (is_valid_name(name)) names.push_back(std::move(name));
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  bool remove_object(std::string_view folder, std::string_view name, std::string_view what) const {
    auto file = object_file(folder, name, what);
    std::error_code ec;
    bool removed = std::filesystem::remove(file, ec);
    if (ec) throw error(failure_code::io_error, fmt::format("cannot delete {}: {}", file, ec.message()));
    detail::fsync_directory(file.parent_path());
    return removed;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace tailor
