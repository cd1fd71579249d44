#pragma once
// Geometric operations on decoded images: resize and EXIF orientation.
//
// resize is in the hot data path (every training sample goes through it), so it is separable,
// works on raw contiguous rows, and precomputes its filter taps once per call.
//
// Filters, chosen per axis:
//  - shrinking: area averaging, an exact box filter with fractional pixel weights (OpenCV
//    INTER_AREA): each output pixel is the mean of the source area it covers. No aliasing.
//  - enlarging: bilinear with half-pixel centers and edge clamping (OpenCV INTER_LINEAR, PIL
//    bilinear without antialiasing).
//  - same size: the axis is copied unchanged.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/data/image.hpp"

namespace tailor::data {

namespace detail {

// For each output index along one axis: which source indices contribute, with which weights.
// Weights of one output sum to 1.
struct resample_taps {
  std::vector<int> first;      // first source index
  std::vector<int> offset;     // where its weights start in `weights`; offset[dst] = weights.size()
  std::vector<float> weights;  // one per consecutive source index from `first`
};

inline resample_taps make_resample_taps(int src, int dst) {
  resample_taps t;
  t.first.resize(static_cast<std::size_t>(dst));
  t.offset.resize(static_cast<std::size_t>(dst) + 1);
  const double scale = static_cast<double>(src) / dst;
  std::vector<double> w;
  for (int i = 0; i < dst; ++i) {
    w.clear();
    int first = 0;
    if (src == dst) {
      first = i;
      w.push_back(1.0);
    } else if (src > dst) {
      // Box filter: the output pixel covers [x0, x1) of the source; weight = overlap length.
      const double x0 = i * scale, x1 = (i + 1) * scale;
      first = static_cast<int>(std::floor(x0));
      const int last = std::min(src, static_cast<int>(std::ceil(x1))) - 1;
      for (int j = first; j <= last; ++j) w.push_back(std::min(x1, j + 1.0) - std::max(x0, static_cast<double>(j)));
      // Drop slivers that exist only through rounding, so tap counts stay minimal.
      while (w.size() > 1 && w.back() < 1e-9) w.pop_back();
      while (w.size() > 1 && w.front() < 1e-9) {
        w.erase(w.begin());
        ++first;
      }
    } else {
      // Bilinear: sample at the output pixel center mapped into the source, clamped to the edges.
      const double sx = (i + 0.5) * scale - 0.5;
      int x0 = static_cast<int>(std::floor(sx));
      double f = sx - x0;
      if (x0 < 0) x0 = 0, f = 0.0;
      if (x0 >= src - 1) x0 = src - 1, f = 0.0;
      first = x0;
      w.push_back(1.0 - f);
      if (f > 0.0) w.push_back(f);
    }
    double sum = 0.0;
    for (double v : w) sum += v;
    t.first[static_cast<std::size_t>(i)] = first;
    t.offset[static_cast<std::size_t>(i)] = static_cast<int>(t.weights.size());
    for (double v : w) t.weights.push_back(static_cast<float>(v / sum));
  }
  t.offset[static_cast<std::size_t>(dst)] = static_cast<int>(t.weights.size());
  return t;
}

inline std::uint8_t round_to_byte(float v) noexcept {
  // v >= 0 (nonnegative weights over bytes); the min guards 255.00002-style overshoot.
  return static_cast<std::uint8_t>(std::min(v + 0.5f, 255.0f));
}

}  // namespace detail

// Resizes to exactly width x height (no aspect preservation). Requires a non-empty source and
// width, height > 0 (error{invalid_argument} otherwise). Same size returns an exact copy.
inline image resize(const image& src, int width, int height) {
  if (src.empty())
    throw error(failure_code::invalid_argument, "cannot resize an empty image");
  if (width <= 0 || height <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("cannot resize to {}x{}: both sides must be at least 1 pixel", width, height));
  if (width == src.width && height == src.height) return src;

  const auto tx = detail::make_resample_taps(src.width, width);
  const auto ty = detail::make_resample_taps(src.height, height);
  image dst(width, height);
  const std::size_t src_row = src.row_bytes();
  std::vector<float> acc(src_row);  // one source-width row after the vertical pass
  float* a = acc.data();

  // Vertical pass first: it is a contiguous multiply-add over whole rows (vectorizes), and when
  // shrinking it touches only `height` accumulated rows before the scalar horizontal pass.
  for (int y = 0; y < height; ++y) {
    const int y0 = ty.first[static_cast<std::size_t>(y)];
    const int k0 = ty.offset[static_cast<std::size_t>(y)], k1 = ty.offset[static_cast<std::size_t>(y) + 1];
    {
      const std::uint8_t* s = src.row(y0);
      const float w = ty.weights[static_cast<std::size_t>(k0)];
      for (std::size_t i = 0; i < src_row; ++i) a[i] = w * static_cast<float>(s[i]);
    }
    for (int k = k0 + 1; k < k1; ++k) {
      const std::uint8_t* s = src.row(y0 + (k - k0));
      const float w = ty.weights[static_cast<std::size_t>(k)];
      for (std::size_t i = 0; i < src_row; ++i) a[i] += w * static_cast<float>(s[i]);
    }

    std::uint8_t* out = dst.row(y);
    const float* wx = tx.weights.data();
    for (int x = 0; x < width; ++x) {
      const int j0 = tx.offset[static_cast<std::size_t>(x)], j1 = tx.offset[static_cast<std::size_t>(x) + 1];
      const float* p = a + static_cast<std::size_t>(tx.first[static_cast<std::size_t>(x)]) * 3;
      float r = 0.f, g = 0.f, b = 0.f;
      for (int j = j0; j < j1; ++j, p += 3) {
        const float w = wx[j];
        r += w * p[0];
        g += w * p[1];
        b += w * p[2];
      }
      out[0] = detail::round_to_byte(r);
      out[1] = detail::round_to_byte(g);
      out[2] = detail::round_to_byte(b);
      out += 3;
    }
  }
  return dst;
}

// Returns the image as it should be displayed given its EXIF orientation tag (1..8):
// 1 as is, 2 mirrored left-right, 3 rotated 180, 4 mirrored top-bottom, 5 transposed (mirror +
// rotate 270 CW), 6 rotated 90 CW, 7 transversed (mirror + rotate 90 CW), 8 rotated 90 CCW.
// Orientations 5..8 swap width and height. Other values: error{invalid_argument}.
inline image apply_orientation(const image& src, int exif_orientation) {
  if (exif_orientation < 1 || exif_orientation > 8)
    throw error(failure_code::invalid_argument,
                fmt::format("EXIF orientation must be 1..8, not {}", exif_orientation));
  if (exif_orientation == 1 || src.empty()) return src;
  const bool swap = exif_orientation >= 5;
  const int w = src.width, h = src.height;
  image dst(swap ? h : w, swap ? w : h);

  // Display pixel (x, y) reads source byte offset start + x * dx + y * dy.
  const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(src.row_bytes());
  const std::ptrdiff_t last_col = static_cast<std::ptrdiff_t>(w - 1) * 3, last_row = (h - 1) * row;
  std::ptrdiff_t start = 0, dx = 3, dy = row;
  switch (exif_orientation) {
    case 2: start = last_col, dx = -3, dy = row; break;
    case 3: start = last_row + last_col, dx = -3, dy = -row; break;
    case 4: start = last_row, dx = 3, dy = -row; break;
    case 5: start = 0, dx = row, dy = 3; break;
    case 6: start = last_row, dx = -row, dy = 3; break;
    case 7: start = last_row + last_col, dx = -row, dy = -3; break;
    case 8: start = last_col, dx = row, dy = -3; break;
    default: break;
  }
  // Tiles keep the strided reads of the transposing cases inside the cache.
  constexpr int tile = 64;
  const std::uint8_t* s = src.pixels.data();
  for (int ty = 0; ty < dst.height; ty += tile) {
    const int ty1 = std::min(dst.height, ty + tile);
    for (int tx = 0; tx < dst.width; tx += tile) {
      const int tx1 = std::min(dst.width, tx + tile);
      for (int y = ty; y < ty1; ++y) {
        std::uint8_t* out = dst.row(y) + static_cast<std::size_t>(tx) * 3;
        std::ptrdiff_t off = start + tx * dx + y * dy;
        for (int x = tx; x < tx1; ++x, off += dx, out += 3) {
          out[0] = s[off];
          out[1] = s[off + 1];
          out[2] = s[off + 2];
        }
      }
    }
  }
  return dst;
}

}  // namespace tailor::data
