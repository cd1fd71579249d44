#pragma once
// A workspace: a directory holding named objects (Datasets now, Models later) as JSON documents.
//
//   <root>/tailor-workspace.json   marks the directory as a workspace (format version)
//   <root>/datasets/<name>/dataset.json    one Dataset object
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

  // The folder of object `name` in `folder` ("datasets"); the name is checked first. Each object
  // is a folder (not a file) so that a name of 255 characters fits the file system, and so that an
  // object can hold several files (a Model's weights beside its description).
  std::filesystem::path object_dir(std::string_view folder, std::string_view name, std::string_view what) const {
    check_name(name, what);
    return root_ / folder / std::string(name);
  }

  // True when the object exists (its main file `file` is in place).
  bool has_object(std::string_view folder, std::string_view name, std::string_view what, std::string_view file) const {
    std::error_code ec;
    return std::filesystem::is_regular_file(object_dir(folder, name, what) / file, ec);
  }

  // Creates a new object whose main file is `file`; error{already_exists} if it exists. The main
  // file is linked into place atomically, so two processes creating the same name cannot both win;
  // a folder left by a create that crashed before that point is reused.
  void create_object(std::string_view folder, std::string_view name, std::string_view what, std::string_view file,
                     std::string_view json) const {
    auto dir = object_dir(folder, name, what);
    std::error_code ec;
    bool made = std::filesystem::create_directory(dir, ec);
    if (ec) throw error(failure_code::io_error, fmt::format("cannot create {}: {}", dir, ec.message()));
    try {
      write_file_atomically(dir / file, json, overwrite::forbid);
    } catch (const error& e) {
      if (made) std::filesystem::remove(dir, ec);  // leave the workspace as it was
      if (e.code() == failure_code::already_exists)
        throw error(failure_code::already_exists,
                    fmt::format("a {} named '{}' already exists in the workspace {}; choose another name, or delete it "
                                "first",
                                what, name, root_));
      throw;
    }
    detail::fsync_directory(dir.parent_path());
  }

  // Replaces a file of an existing object atomically.
  void replace_object(std::string_view folder, std::string_view name, std::string_view what, std::string_view file,
                      std::string_view json) const {
    write_file_atomically(object_dir(folder, name, what) / file, json, overwrite::allow);
  }

  // Names of the objects in `folder` that have their main file, sorted.
  std::vector<std::string> list_objects(std::string_view folder, std::string_view file) const {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root_ / folder, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      auto name = it->path().filename().string();
      std::error_code file_ec;
      if (is_valid_name(name) && std::filesystem::is_regular_file(it->path() / file, file_ec)) names.push_back(std::move(name));
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Deletes an object: its folder is first renamed out of the way (atomic: the object is there or
  // gone, never half-deleted), then removed. Returns false when there was no such object.
  bool remove_object(std::string_view folder, std::string_view name, std::string_view what) const {
    auto dir = object_dir(folder, name, what);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return false;
    auto doomed = detail::temporary_sibling(root_ / folder / ".deleting");
    std::filesystem::rename(dir, doomed, ec);
    if (ec) throw error(failure_code::io_error, fmt::format("cannot delete {}: {}", dir, ec.message()));
    detail::fsync_directory(dir.parent_path());
    std::filesystem::remove_all(doomed, ec);  // what a failure here leaves is hidden and inert
    return true;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace tailor
