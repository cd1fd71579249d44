#pragma once
// The decoded image every part of the data pipeline passes around: 8-bit RGB, tightly packed.
//
// Kept deliberately plain (no strides, no channel count, no views) so that decode, resize and the
// tensor conversion can all run raw pointer loops over one contiguous buffer.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"

namespace tailor::data {

// The container formats tailor can decode. `unknown` is only ever seen in a default image_info.
enum class image_format { unknown, jpeg, png };

constexpr std::string_view to_string(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return "jpeg";
    case image_format::png: return "png";
    case image_format::unknown: return "unknown";
  }
  return "unknown";
}

// RGB pixels, 3 bytes per pixel (R, G, B), row-major, rows without padding:
// pixel (x, y) starts at pixels[(y * width + x) * 3].
// Invariant: pixels.size() == width * height * 3; a default image is 0x0 with no pixels.
struct image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;

  image() = default;

  // Requires w > 0 and h > 0 (throws error{invalid_argument} otherwise); pixels start black.
  image(int w, int h) : width(w), height(h) {
    if (w <= 0 || h <= 0)
      throw error(failure_code::invalid_argument, fmt::format("an image must be at least 1x1 pixels, not {}x{}", w, h));
    const auto n = static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h);
    if (n > std::numeric_limits<std::size_t>::max() / 3)
      throw error(failure_code::invalid_argument, fmt::format("an image of {}x{} pixels is too large", w, h));
    pixels.resize(static_cast<std::size_t>(n) * 3);
  }

  // Start of row y (0 <= y < height); unchecked, as it sits in inner loops.
  std::uint8_t* row(int y) noexcept { return pixels.data() + static_cast<std::size_t>(y) * row_bytes(); }
  const std::uint8_t* row(int y) const noexcept { return pixels.data() + static_cast<std::size_t>(y) * row_bytes(); }

  std::size_t row_bytes() const noexcept { return static_cast<std::size_t>(width) * 3; }
  bool empty() const noexcept { return pixels.empty(); }
};

}  // namespace tailor::data
