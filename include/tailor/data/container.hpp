#pragma once
// Image containers: where the training images live. The first kind is a local directory; an
// Azure-Blob-compatible store over HTTP comes later behind the same `resolve` contract.
//
// An image is addressed by its COCO `file_name` relative to the container root, or by its
// `absolute_url` / `coco_url`: a file:// URL or a relative path. A name that would leave the
// root (`..`, an absolute path, a symlink pointing out) is refused: a COCO file must not be able to
// make tailor read arbitrary files.
#include <cctype>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "coco_types.hpp"

namespace tailor::data {

// Where one image is, or why it cannot be used.
struct image_location {
  std::filesystem::path path;  // empty when refused
  bool inside_root = true;     // false for an explicit file:// URL, which may point anywhere
  std::string message;         // why it was refused
  std::string fix;
  bool ok() const noexcept { return !path.empty(); }
};

namespace detail {

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%20" -> " " in URL paths; a malformed escape is kept as written.
inline std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

inline bool starts_with_ci(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

}  // namespace detail

class local_directory {
 public:
  // Throws error{dataset_not_found} when `root` is not an existing directory.
  explicit local_directory(const std::filesystem::path& root) {
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec))
      throw error(failure_code::dataset_not_found,
                  fmt::format("the images folder {} does not exist or is not a directory; check --images", root));
    root_ = std::filesystem::canonical(root, ec);
    if (ec) throw error(failure_code::io_error, fmt::format("cannot open the images folder {}: {}", root, ec.message()));
  }

  const std::filesystem::path& root() const noexcept { return root_; }

  // Where `image` lives in this container (lexical rules only; see `check_inside` for symlinks).
  image_location resolve(const coco_image& image) const {
    if (!image.file_name.empty()) return resolve_relative(image.file_name, "file_name");
    std::string_view url = image.url;
    if (detail::starts_with_ci(url, "http://") || detail::starts_with_ci(url, "https://"))
      return refuse(fmt::format("the image is addressed by the URL '{}', and http(s) images are not supported yet", url),
                    "download the images into the images folder and give each a \"file_name\" relative to it");
    if (detail::starts_with_ci(url, "file://")) {
      std::string path = detail::percent_decode(url.substr(7));
      if (detail::starts_with_ci(path, "localhost/")) path = path.substr(9);
      if (path.empty() || path.front() != '/')
        return refuse(fmt::format("the URL '{}' is not a file:// URL with an absolute path", url),
                      "write it as file:///absolute/path/to/image.jpg");
      return {std::filesystem::path(path).lexically_normal(), false, {}, {}};
    }
    if (auto colon = url.find("://"); colon != std::string_view::npos)
      return refuse(fmt::format("the URL scheme '{}' is not supported", url.substr(0, colon)),
                    "use file:// URLs or file names relative to the images folder");
    return resolve_relative(url, "url");
  }

  // True when `path` (existing) is inside the root after following symlinks.
  bool check_inside(const std::filesystem::path& path) const {
    std::error_code ec;
    auto real = std::filesystem::canonical(path, ec);
    if (ec) return false;
    auto rel = real.lexically_relative(root_);
    return !rel.empty() && *rel.begin() != "..";
  }

 private:
  std::filesystem::path root_;

  static image_location refuse(std::string message, std::string fix) {
    return {{}, true, std::move(message), std::move(fix)};
  }

  image_location resolve_relative(std::string_view name, std::string_view field) const {
    std::filesystem::path p{std::string(name)};
    if (p.is_absolute())
      return refuse(fmt::format("{} '{}' is an absolute path", field, name),
                    "write file names relative to the images folder (e.g. \"images/0001.jpg\")");
    for (const auto& part : p)
      if (part == "..")
        return refuse(fmt::format("{} '{}' leaves the images folder through '..'", field, name),
                      "move the image inside the images folder and name it relative to it");
    return {(root_ / p).lexically_normal(), true, {}, {}};
  }
};

}  // namespace tailor::data
