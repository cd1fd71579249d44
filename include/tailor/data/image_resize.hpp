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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/data/image.hpp"

namespace tailor::data {

namespace detail {

// For each output index along one axis: `taps` consecutive source indices from first[i], with
// weights[i * taps + k] summing to 1. Every output gets the same tap count (shorter filters are
// padded with zero weights, shifted so they never read outside the source), which lets the
// kernels below be unrolled for the common small counts.
struct resample_taps {
  int taps = 1;
  std::vector<int> first;
  std::vector<float> weights;
};

inline resample_taps make_resample_taps(int src, int dst) {
  // First the exact filter of each output (variable length, flat), then the padded table.
  std::vector<double> all;
  std::vector<int> begin(static_cast<std::size_t>(dst) + 1), first(static_cast<std::size_t>(dst));
  all.reserve(static_cast<std::size_t>(dst) * (static_cast<std::size_t>(src / dst) + 2));
  const double scale = static_cast<double>(src) / dst;
  for (int i = 0; i < dst; ++i) {
    begin[static_cast<std::size_t>(i)] = static_cast<int>(all.size());
    int f = 0;
    if (src == dst) {
      f = i;
      all.push_back(1.0);
    } else if (src > dst) {
      // Box filter: the output pixel covers [x0, x1) of the source; weight = overlap length.
      // Slivers that exist only through rounding are skipped, so tap counts stay minimal.
      const double x0 = i * scale, x1 = (i + 1) * scale;
      const int last = std::min(src, static_cast<int>(std::ceil(x1))) - 1;
      f = -1;
      for (int j = static_cast<int>(std::floor(x0)); j <= last; ++j) {
        const double w = std::min(x1, j + 1.0) - std::max(x0, static_cast<double>(j));
        if (w < 1e-9) continue;
        if (f < 0) f = j;
        all.push_back(w);
      }
    } else {
      // Bilinear: sample at the output pixel center mapped into the source, clamped to the edges.
      const double sx = (i + 0.5) * scale - 0.5;
      int x0 = static_cast<int>(std::floor(sx));
      double frac = sx - x0;
      if (x0 < 0) x0 = 0, frac = 0.0;
      if (x0 >= src - 1) x0 = src - 1, frac = 0.0;
      f = x0;
      all.push_back(1.0 - frac);
      if (frac > 0.0) all.push_back(frac);
    }
    first[static_cast<std::size_t>(i)] = f;
  }
  begin[static_cast<std::size_t>(dst)] = static_cast<int>(all.size());

  resample_taps t;
  for (int i = 0; i < dst; ++i)
    t.taps = std::max(t.taps, begin[static_cast<std::size_t>(i) + 1] - begin[static_cast<std::size_t>(i)]);
  t.first.resize(static_cast<std::size_t>(dst));
  t.weights.assign(static_cast<std::size_t>(dst) * static_cast<std::size_t>(t.taps), 0.f);
  for (int i = 0; i < dst; ++i) {
    const std::size_t b = static_cast<std::size_t>(begin[static_cast<std::size_t>(i)]);
    const std::size_t n = static_cast<std::size_t>(begin[static_cast<std::size_t>(i) + 1]) - b;
    double sum = 0.0;
    for (std::size_t k = 0; k < n; ++k) sum += all[b + k];
    // Pad at the end, or at the front when the window would run past the last source index.
    const int f = std::min(first[static_cast<std::size_t>(i)], src - t.taps);
    const auto shift = static_cast<std::size_t>(first[static_cast<std::size_t>(i)] - f);
    t.first[static_cast<std::size_t>(i)] = f;
    float* out = t.weights.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(t.taps);
    for (std::size_t k = 0; k < n; ++k) out[shift + k] = static_cast<float>(all[b + k] / sum);
  }
  return t;
}

// acc[i] = sum_k w[k] * rows[k][i]: contiguous, vectorizes. Unrolled for up to 4 rows so that
// the accumulator is written once.
inline void vertical_pass(const std::uint8_t* const* rows, const float* w, int taps, float* __restrict acc,
                          std::size_t n) noexcept {
  const std::uint8_t* __restrict r0 = rows[0];
  switch (taps) {
    case 1: {
      const float w0 = w[0];
      for (std::size_t i = 0; i < n; ++i) acc[i] = w0 * static_cast<float>(r0[i]);
      return;
    }
    case 2: {
      const std::uint8_t* __restrict r1 = rows[1];
      const float w0 = w[0], w1 = w[1];
      for (std::size_t i = 0; i < n; ++i) acc[i] = w0 * static_cast<float>(r0[i]) + w1 * static_cast<float>(r1[i]);
      return;
    }
    case 3: {
      const std::uint8_t* __restrict r1 = rows[1];
      const std::uint8_t* __restrict r2 = rows[2];
      const float w0 = w[0], w1 = w[1], w2 = w[2];
      for (std::size_t i = 0; i < n; ++i)
        acc[i] = w0 * static_cast<float>(r0[i]) + w1 * static_cast<float>(r1[i]) + w2 * static_cast<float>(r2[i]);
      return;
    }
    default: {
      const std::uint8_t* __restrict r1 = rows[1];
      const std::uint8_t* __restrict r2 = rows[2];
      const std::uint8_t* __restrict r3 = rows[3];
      const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
      for (std::size_t i = 0; i < n; ++i)
        acc[i] = w0 * static_cast<float>(r0[i]) + w1 * static_cast<float>(r1[i]) + w2 * static_cast<float>(r2[i]) +
                 w3 * static_cast<float>(r3[i]);
      for (int k = 4; k < taps; ++k) {
        const std::uint8_t* __restrict r = rows[k];
        const float wk = w[k];
        for (std::size_t i = 0; i < n; ++i) acc[i] += wk * static_cast<float>(r[i]);
      }
      return;
    }
  }
}

// out[x] = sum_k w[x][k] * acc[first[x] + k], the 3 channels at once in a 4-lane vector (each
// load takes one float of the next pixel along; the acc row carries one float of padding), then
// rounded half up and saturated in registers. Values are >= 0 (nonnegative weights over bytes).
// `w` holds each weight broadcast to 4 lanes. Taps is a template parameter for the common counts
// so that the tap loop unrolls completely.
using float4 = float __attribute__((vector_size(16)));
using int4 = std::int32_t __attribute__((vector_size(16)));

template <int fixed_taps>
inline float4 weighted_pixel(const float* p, const float4* w, int runtime_taps) noexcept {
  const int taps = fixed_taps > 0 ? fixed_taps : runtime_taps;
  float4 sum = {0.5f, 0.5f, 0.5f, 0.5f};  // + 0.5, then truncation: round half up
  for (int k = 0; k < taps; ++k) {
    float4 v;
    std::memcpy(&v, p + 3 * k, sizeof v);
    sum += w[k] * v;
  }
  return sum;
}

template <int fixed_taps>
inline void horizontal_pass(const float* acc, const int* first, const float4* w, int runtime_taps, std::uint8_t* out,
                            int width) noexcept {
  const int taps = fixed_taps > 0 ? fixed_taps : runtime_taps;
  int x = 0;
#if defined(__SSE2__)
  // Saturating packs do the clamp, and one 4-byte store writes the pixel plus one byte of the next
  // one (rewritten on the next step), so all but the last pixel avoid lane extraction.
  for (; x + 1 < width; ++x, w += taps, out += 3) {
    const __m128i i32 =
        _mm_cvttps_epi32(weighted_pixel<fixed_taps>(acc + static_cast<std::ptrdiff_t>(first[x]) * 3, w, taps));
    const __m128i i16 = _mm_packs_epi32(i32, i32);
    const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(i16, i16));
    std::memcpy(out, &bytes, 4);
  }
#endif
  for (; x < width; ++x, w += taps, out += 3) {
    int4 v = __builtin_convertvector(
        weighted_pixel<fixed_taps>(acc + static_cast<std::ptrdiff_t>(first[x]) * 3, w, taps), int4);
    v = v < 255 ? v : 255;
    out[0] = static_cast<std::uint8_t>(v[0]);
    out[1] = static_cast<std::uint8_t>(v[1]);
    out[2] = static_cast<std::uint8_t>(v[2]);
  }
}

}  // namespace detail

// Resizes to exactly width x height (no aspect preservation). Requires a non-empty source and
// width, height > 0 (error{invalid_argument} otherwise). Same size returns an exact copy.
inline image resize(const image& src, int width, int height) {
  if (src.empty()) throw error(failure_code::invalid_argument, "cannot resize an empty image");
  if (width <= 0 || height <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("cannot resize to {}x{}: both sides must be at least 1 pixel", width, height));
  if (width == src.width && height == src.height) return src;

  const auto tx = detail::make_resample_taps(src.width, width);
  const auto ty = detail::make_resample_taps(src.height, height);
  image dst(width, height);
  const std::size_t src_row = src.row_bytes();
  // One source-width row after the vertical pass, with the float of padding horizontal_pass reads.
  std::vector<float> buffer(src_row + 1);
  float* acc = buffer.data();
  std::vector<const std::uint8_t*> rows(static_cast<std::size_t>(ty.taps));
  const int* fx = tx.first.data();
  std::vector<detail::float4> wx_broadcast(tx.weights.size());
  for (std::size_t i = 0; i < tx.weights.size(); ++i) {
    const float v = tx.weights[i];
    wx_broadcast[i] = detail::float4{v, v, v, v};
  }
  const detail::float4* wx = wx_broadcast.data();

  // Vertical pass first: a contiguous multiply-add over whole rows (vectorizes), so that the
  // scalar horizontal pass only runs on `height` rows.
  for (int y = 0; y < height; ++y) {
    const int y0 = ty.first[static_cast<std::size_t>(y)];
    for (int k = 0; k < ty.taps; ++k) rows[static_cast<std::size_t>(k)] = src.row(y0 + k);
    detail::vertical_pass(rows.data(),
                          ty.weights.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(ty.taps), ty.taps,
                          acc, src_row);
    std::uint8_t* out = dst.row(y);
    switch (tx.taps) {
      case 1: detail::horizontal_pass<1>(acc, fx, wx, 1, out, width); break;
      case 2: detail::horizontal_pass<2>(acc, fx, wx, 2, out, width); break;
      case 3: detail::horizontal_pass<3>(acc, fx, wx, 3, out, width); break;
      case 4: detail::horizontal_pass<4>(acc, fx, wx, 4, out, width); break;
      case 5: detail::horizontal_pass<5>(acc, fx, wx, 5, out, width); break;
      default: detail::horizontal_pass<0>(acc, fx, wx, tx.taps, out, width); break;
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
    throw error(failure_code::invalid_argument, fmt::format("EXIF orientation must be 1..8, not {}", exif_orientation));
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
