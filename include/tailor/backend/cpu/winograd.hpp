#pragma once
// Winograd F(2x2, 3x3) for 3x3 stride-1 dense convolutions, the bulk of a ResNet's arithmetic.
// Each 2x2 output tile comes from a 4x4 input tile: transform the tile (V = B^T d B) and the
// filter (U = G g G^T) into 16 points, multiply point-wise (16 GEMMs, one per point, over
// channels), and transform back (Y = A^T M A). That is 16 multiply-adds per tile and channel pair
// instead of 36, and a column buffer 4x the input instead of im2col's 9x.
//
// Rounding: the transforms add and subtract at most four terms, so results differ from the direct
// sum by a few ulps (checked against the direct definition in tests/test_layers.cpp). Only the
// forward pass uses it; the backward pass stays on im2col (conv2d.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../nn/conv2d_shape.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

// Elements of transformed input and product kept per chunk of images (~16 MB of floats each).
inline std::int64_t winograd_chunk_elements = std::int64_t{1} << 22;

// Off: every convolution takes im2col (tests and benchmarks compare the two).
inline bool winograd_enabled = true;

// Where F(2x2, 3x3) is used: 3x3, stride 1, no dilation, no groups, and enough channels that the
// 16 GEMMs are not all packing (a 3-channel first layer stays on im2col).
inline bool winograd_applies(const nn::conv2d_shape& s) {
  return winograd_enabled && s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 &&
         s.dilation_w == 1 && s.groups == 1 && s.in_channels >= 16 && s.out_channels >= 16;
}

namespace winograd_detail {

// U[p][oc][c] = (G g G^T)[p], p = 4 * row + column; G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
template <class T>
void transform_filters(int oc_count, int c_count, const T* w, T* u) {
  const std::int64_t plane = std::int64_t{oc_count} * c_count;
  parallel_for(plane, 64, [&](std::int64_t oc_c) {
    const T* g = w + oc_c * 9;
    T gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
      gg[0][j] = g[j];
      gg[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
      gg[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
      gg[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; ++i) {
      const T r[4] = {gg[i][0], T(0.5) * (gg[i][0] + gg[i][1] + gg[i][2]), T(0.5) * (gg[i][0] - gg[i][1] + gg[i][2]),
                      gg[i][2]};
      for (int j = 0; j < 4; ++j) u[(4 * i + j) * plane + oc_c] = r[j];
    }
  });
}

// The tiles of one chunk of images: tile t = (i * tiles_h + ty) * tiles_w + tx.
struct tiling {
  int h = 0, w = 0, oh = 0, ow = 0, pad_h = 0, pad_w = 0;
  int tiles_h = 0, tiles_w = 0;
  std::int64_t per_image() const { return std::int64_t{tiles_h} * tiles_w; }
};

// The row loops of the transforms, apart (restrict) so that the compiler vectorises them.
// d rows -> B^T d rows, over `width` columns.
template <class T>
void rows_bt(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
             T* __restrict b0, T* __restrict b1, T* __restrict b2, T* __restrict b3, int width) {
  for (int j = 0; j < width; ++j) {
    b0[j] = d0[j] - d2[j];
    b1[j] = d1[j] + d2[j];
    b2[j] = d2[j] - d1[j];
    b3[j] = d1[j] - d3[j];
  }
}

// One row of B^T d times B: the 4 points of each of `tiles` tiles (two columns apart).
template <class T>
void row_b(const T* __restrict b, T* __restrict o0, T* __restrict o1, T* __restrict o2, T* __restrict o3, int tiles) {
  for (int tx = 0; tx < tiles; ++tx) {
    const T b0 = b[2 * tx], b1 = b[2 * tx + 1], b2 = b[2 * tx + 2], b3 = b[2 * tx + 3];
    o0[tx] = b0 - b2;
    o1[tx] = b1 + b2;
    o2[tx] = b2 - b1;
    o3[tx] = b1 - b3;
  }
}

// Column q of A^T M, over `tiles` tiles.
template <class T>
void column_at(const T* __restrict m0, const T* __restrict m1, const T* __restrict m2, const T* __restrict m3,
               T* __restrict a0, T* __restrict a1, int tiles) {
  for (int tx = 0; tx < tiles; ++tx) {
    a0[tx] = m0[tx] + m1[tx] + m2[tx];
    a1[tx] = m1[tx] - m2[tx] - m3[tx];
  }
}

// One row of (A^T M) A plus bias, the two outputs of each tile interleaved.
template <class T>
void row_a(const T* __restrict a0, const T* __restrict a1, const T* __restrict a2, const T* __restrict a3, T bias,
           T* __restrict out, int tiles) {
  for (int tx = 0; tx < tiles; ++tx) {
    out[2 * tx] = a0[tx] + a1[tx] + a2[tx] + bias;
    out[2 * tx + 1] = a1[tx] - a2[tx] - a3[tx] + bias;
  }
}

// V[p][c][t] = (B^T d B)[p] for the 4x4 input tile d at (2 ty - pad, 2 tx - pad), zero outside;
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. A row of tiles at a time: its four input rows are
// copied into zero-padded rows, combined row-wise (B^T, contiguous over x), then column-wise (B,
// two columns per tile), and each of the 16 points of the row of tiles is written contiguously.
template <class T>
void transform_inputs(const tiling& g, int c_count, const T* x, int images, std::int64_t tiles, T* v) {
  const std::int64_t in_plane = std::int64_t{g.h} * g.w;
  const int tw = g.tiles_w, width = 2 * tw + 2;  // padded row: input columns -pad .. 2 tw + 1 - pad
  const std::int64_t stride = std::int64_t{c_count} * tiles;  // from point p to p + 1
  parallel_for(c_count, 16 * tiles, [&](std::int64_t c) {
    std::vector<T> rows(std::size_t(8) * width);
    T* d[4] = {rows.data(), rows.data() + width, rows.data() + 2 * width, rows.data() + 3 * width};
    T* b[4] = {rows.data() + 4 * width, rows.data() + 5 * width, rows.data() + 6 * width, rows.data() + 7 * width};
    const int lo = std::max(0, g.pad_w), hi = std::min(width, g.w + g.pad_w);  // padded columns inside the image
    for (int i = 0; i < images; ++i) {
      const T* plane = x + (std::int64_t{i} * c_count + c) * in_plane;
      for (int ty = 0; ty < g.tiles_h; ++ty) {
        for (int r = 0; r < 4; ++r) {
          const int yy = 2 * ty - g.pad_h + r;
          std::fill(d[r], d[r] + width, T(0));
          if (yy >= 0 && yy < g.h && hi > lo) std::copy(plane + std::int64_t{yy} * g.w + (lo - g.pad_w),
                                                         plane + std::int64_t{yy} * g.w + (hi - g.pad_w), d[r] + lo);
        }
        rows_bt(d[0], d[1], d[2], d[3], b[0], b[1], b[2], b[3], width);  // B^T d
        T* out = v + c * tiles + (std::int64_t{i} * g.tiles_h + ty) * tw;
        for (int r = 0; r < 4; ++r)  // (B^T d) B
          row_b(b[r], out + (4 * r) * stride, out + (4 * r + 1) * stride, out + (4 * r + 2) * stride,
                out + (4 * r + 3) * stride, tw);
      }
    }
  });
}

// y[i][oc] tile (ty, tx) = A^T M A (+ bias), A^T = [1 1 1 0; 0 1 -1 -1], cut at the output edge.
// A row of tiles at a time: the 16 points are read contiguously over tx.
template <class T>
void transform_outputs(const tiling& g, int oc_count, const T* m, const T* bias, int images, std::int64_t tiles, T* y) {
  const std::int64_t out_plane = std::int64_t{g.oh} * g.ow;
  const std::int64_t stride = std::int64_t{oc_count} * tiles;
  const int tw = g.tiles_w;
  parallel_for(oc_count, 16 * tiles, [&](std::int64_t oc) {
    std::vector<T> buffer(std::size_t(8) * tw + 2 * std::size_t(2 * tw));
    T* a[2][4];
    for (int r = 0; r < 2; ++r)
      for (int q = 0; q < 4; ++q) a[r][q] = buffer.data() + std::size_t(4 * r + q) * tw;
    T* row_out[2] = {buffer.data() + 8 * std::size_t(tw), buffer.data() + 8 * std::size_t(tw) + 2 * tw};
    const T bias_oc = bias ? bias[oc] : T(0);
    for (int i = 0; i < images; ++i) {
      T* plane = y + (std::int64_t{i} * oc_count + oc) * out_plane;
      for (int ty = 0; ty < g.tiles_h; ++ty) {
        const T* in = m + oc * tiles + (std::int64_t{i} * g.tiles_h + ty) * tw;
        for (int q = 0; q < 4; ++q)  // A^T M
          column_at(in + q * stride, in + (4 + q) * stride, in + (8 + q) * stride, in + (12 + q) * stride, a[0][q],
                    a[1][q], tw);
        for (int r = 0; r < 2; ++r) {  // (A^T M) A, interleaved into the output row
          row_a(a[r][0], a[r][1], a[r][2], a[r][3], bias_oc, row_out[r], tw);
          const int oy = 2 * ty + r;
          if (oy < g.oh) std::copy(row_out[r], row_out[r] + g.ow, plane + std::int64_t{oy} * g.ow);
        }
      }
    }
  });
}

}  // namespace winograd_detail

// y = conv(x, w) + bias for winograd_applies(s); x: N x C x H x W, y: N x OC x OH x OW (sized by
// the caller). scratch holds U, then V and M of one chunk of images.
template <class T>
void winograd_forward(const nn::conv2d_shape& s, int n, int h, int w, const T* x, const T* weights, const T* bias, T* y,
                      std::vector<T>& scratch) {
  using namespace winograd_detail;
  const int C = s.in_channels, OC = s.out_channels;
  tiling g{h, w, s.out_h(h), s.out_w(w), s.pad_h, s.pad_w, 0, 0};
  g.tiles_h = (g.oh + 1) / 2;
  g.tiles_w = (g.ow + 1) / 2;
  const std::int64_t per_image = g.per_image() * 16 * std::max(C, OC);
  const int images_per_chunk =
      static_cast<int>(std::clamp<std::int64_t>(winograd_chunk_elements / std::max<std::int64_t>(per_image, 1), 1, n));
  const std::int64_t max_tiles = images_per_chunk * g.per_image();
  const std::size_t u_size = std::size_t(16) * OC * C;
  scratch.resize(u_size + std::size_t(16) * max_tiles * (C + OC));
  T* u = scratch.data();
  T* v = u + u_size;
  T* m = v + std::size_t(16) * max_tiles * C;
  transform_filters(OC, C, weights, u);
  const std::int64_t in_image = std::int64_t{C} * h * w, out_image = std::int64_t{OC} * g.oh * g.ow;
  for (int n0 = 0; n0 < n; n0 += images_per_chunk) {
    const int images = std::min(images_per_chunk, n - n0);
    const std::int64_t tiles = images * g.per_image();
    transform_inputs(g, C, x + n0 * in_image, images, tiles, v);
    // M[p] (OC x tiles) = U[p] (OC x C) V[p] (C x tiles): 16 independent products, one thread each.
    keep_blas_single_threaded();
    parallel_for(16, std::int64_t{1} << 30, [&](std::int64_t p) {
      gemm_serial<T>(false, false, OC, static_cast<int>(tiles), C, T(1), u + p * OC * C, C, v + p * C * tiles,
                     static_cast<int>(tiles), T(0), m + p * OC * tiles, static_cast<int>(tiles));
    });
    transform_outputs(g, OC, m, bias, images, tiles, y + n0 * out_image);
  }
}

}  // namespace tailor::backend::cpu_detail
