#pragma once
// conv2d on the CPU, NCHW. Dense and grouped convolutions lower to GEMM over im2col columns of
// several images at once (a skinny late-stage feature map of 4x4 pixels would otherwise give GEMMs
// 16 columns wide); depthwise convolutions (one input channel per group) are direct loops, since
// their im2col would be all copying and no arithmetic. 3x3 stride-1 dense convolutions take
// Winograd F(2x2, 3x3) in the forward pass (winograd.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../nn/conv2d_shape.hpp"
#include "conv_plan.hpp"
#include "depthwise.hpp"
#include "gemm.hpp"
#include "parallel.hpp"
#include "window.hpp"
#include "winograd.hpp"

namespace tailor::backend::cpu_detail {

// col[(c*KH + kh)*KW + kw][i*P + p] = x[n0+i][group channel c][ih][iw] (0 in the padding). Each
// output row is a zero-padded, strided copy of one input row: the bounds are worked out once per
// row, so the inner loop is a plain (vectorisable) copy.
template <class T>
void im2col(const conv_plan& p, const T* x, int n0, int images, int group, T* col) {
  const auto& s = p.s;
  const int cg = s.in_per_group(), kk = s.kernel_h * s.kernel_w;
  const std::int64_t cols = images * p.out_plane;
  parallel_for(std::int64_t{cg} * kk, images * p.out_plane, [&](std::int64_t row) {
    const int c = static_cast<int>(row / kk), kh = static_cast<int>(row % kk) / s.kernel_w, kw = static_cast<int>(row % kk) % s.kernel_w;
    const int start = kw * s.dilation_w - s.pad_w;
    int lo, hi;
    valid_columns(p.ow, p.w, s.stride_w, start, lo, hi);
    T* out = col + row * cols;
    for (int i = 0; i < images; ++i) {
      const T* plane = x + ((std::int64_t{n0} + i) * s.in_channels + std::int64_t{group} * cg + c) * p.in_plane;
      for (int oy = 0; oy < p.oh; ++oy, out += p.ow) {
        const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
        if (iy < 0 || iy >= p.h) {
          std::fill(out, out + p.ow, T(0));
          continue;
        }
        const T* src = plane + std::int64_t{iy} * p.w + start;
        std::fill(out, out + lo, T(0));
        if (s.stride_w == 1) std::copy(src + lo, src + hi, out + lo);
        else
          for (int ox = lo; ox < hi; ++ox) out[ox] = src[ox * s.stride_w];
        std::fill(out + hi, out + p.ow, T(0));
      }
    }
  });
}

// The adjoint of im2col: dx[n0+i][group channel c] += the column entries that read it. One thread
// owns each input channel, so the sums are deterministic.
template <class T>
void col2im_add(const conv_plan& p, const T* col, int n0, int images, int group, T* dx) {
  const auto& s = p.s;
  const int cg = s.in_per_group(), kk = s.kernel_h * s.kernel_w;
  const std::int64_t cols = images * p.out_plane;
  parallel_for(cg, kk * images * p.out_plane, [&](std::int64_t c) {
    for (int k = 0; k < kk; ++k) {
      const int kh = k / s.kernel_w, kw = k % s.kernel_w;
      const int start = kw * s.dilation_w - s.pad_w;
      int lo, hi;
      valid_columns(p.ow, p.w, s.stride_w, start, lo, hi);
      const T* in = col + (c * kk + k) * cols;
      for (int i = 0; i < images; ++i) {
        T* plane = dx + ((std::int64_t{n0} + i) * s.in_channels + std::int64_t{group} * cg + c) * p.in_plane;
        for (int oy = 0; oy < p.oh; ++oy, in += p.ow) {
          const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (iy < 0 || iy >= p.h) continue;
          T* dst = plane + std::int64_t{iy} * p.w + start;
          if (s.stride_w == 1)
            for (int ox = lo; ox < hi; ++ox) dst[ox] += in[ox];
          else
            for (int ox = lo; ox < hi; ++ox) dst[ox * s.stride_w] += in[ox];
        }
      }
    }
  });
}

// y = conv(x, w) + bias. x: N x C x H x W, w: OC x C/G x KH x KW, y: N x OC x OH x OW (resized here).
// The general forward: im2col over chunks of images, one GEMM per group; a chunk of several images
// writes one wide GEMM and scatters its rows into NCHW.
template <class T, class Tensor, class Array>
void conv2d_forward_im2col(const conv_plan& p, const Tensor& x, const Array& w, Tensor& y, std::vector<T>& scratch) {
  const auto& s = p.s;
  const int G = s.groups, ocg = s.out_per_group(), K = s.patch_size();
  for (int n0 = 0; n0 < p.n; n0 += p.images_per_chunk) {
    const int images = std::min(p.images_per_chunk, p.n - n0);
    const std::int64_t cols = images * p.out_plane;
    const bool direct_in = p.columns_are_input(images);
    if (!direct_in) scratch.resize(std::size_t(K) * cols + (images > 1 ? std::size_t(ocg) * cols : 0));
    for (int g = 0; g < G; ++g) {
      const T* col;
      if (direct_in) {
        col = x.data() + (std::int64_t{n0} * s.in_channels + std::int64_t{g} * s.in_per_group()) * p.in_plane;
      } else {
        im2col(p, x.data(), n0, images, g, scratch.data());
        col = scratch.data();
      }
      const T* wg = w.data() + std::int64_t{g} * ocg * K;
      if (images == 1) {  // the GEMM writes straight into y[n0]
        T* out = y.data() + (std::int64_t{n0} * s.out_channels + std::int64_t{g} * ocg) * p.out_plane;
        gemm<T>(false, false, ocg, static_cast<int>(cols), K, T(1), wg, K, col, static_cast<int>(cols), T(0), out,
                static_cast<int>(p.out_plane));
      } else {  // one wide GEMM, then scatter the images' rows into NCHW
        T* tmp = scratch.data() + std::size_t(K) * cols;
        gemm<T>(false, false, ocg, static_cast<int>(cols), K, T(1), wg, K, col, static_cast<int>(cols), T(0), tmp,
                static_cast<int>(cols));
        parallel_for(std::int64_t{images} * ocg, p.out_plane, [&](std::int64_t io) {
          const std::int64_t i = io / ocg, oc = io % ocg;
          std::copy_n(tmp + oc * cols + i * p.out_plane, p.out_plane,
                      y.data() + ((n0 + i) * s.out_channels + std::int64_t{g} * ocg + oc) * p.out_plane);
        });
      }
    }
  }
}

// 1x1 stride-1 convolutions with planes of pointwise_per_image_min_plane pixels and more: each
// image's input is its own column matrix and each GEMM writes its output in place (no im2col copy,
// no scatter). One GEMM per thread when there are enough of them; else each is split.
inline constexpr std::int64_t pointwise_per_image_min_plane = 128;
inline bool pointwise_per_image(const conv_plan& p) {
  return p.s.pointwise() && p.s.dilation_h == 1 && p.s.dilation_w == 1 && p.out_plane >= pointwise_per_image_min_plane;
}

template <class T, class Tensor, class Array>
void conv2d_forward_pointwise(const conv_plan& p, const Tensor& x, const Array& w, Tensor& y) {
  const auto& s = p.s;
  const int G = s.groups, ocg = s.out_per_group(), cg = s.in_per_group(), P = static_cast<int>(p.out_plane);
  auto product = [&](std::int64_t ng, bool split) {
    const std::int64_t n = ng / G, g = ng % G;
    const T* a = w.data() + g * ocg * cg;
    const T* b = x.data() + (n * s.in_channels + g * cg) * p.in_plane;
    T* c = y.data() + (n * s.out_channels + g * ocg) * p.out_plane;
    if (split) gemm<T>(false, false, ocg, P, cg, T(1), a, cg, b, P, T(0), c, P);
    else gemm_serial<T>(false, false, ocg, P, cg, T(1), a, cg, b, P, T(0), c, P);
  };
  const std::int64_t products = std::int64_t{p.n} * G;
  if (products >= num_threads()) {
    keep_blas_single_threaded();
    parallel_for(products, std::int64_t{1} << 30, [&](std::int64_t ng) { product(ng, false); });
  } else {
    for (std::int64_t ng = 0; ng < products; ++ng) product(ng, true);
  }
}

template <class T, class Tensor, class Array>
void conv2d_forward(const nn::conv2d_shape& s, const Tensor& x, const Array& w, const T* bias, Tensor& y,
                    std::vector<T>& scratch) {
  const conv_plan p(s, static_cast<int>(x.shape()[0]), static_cast<int>(x.shape()[2]), static_cast<int>(x.shape()[3]));
  y.resize({x.shape()[0], std::size_t(s.out_channels), std::size_t(p.oh), std::size_t(p.ow)});
  if (s.depthwise() && s.out_per_group() == 1) return depthwise_forward(p, x.data(), w.data(), bias, y.data());
  if (winograd_applies(s)) return winograd_forward(s, p.n, p.h, p.w, x.data(), w.data(), bias, y.data(), scratch);
  if (pointwise_per_image(p)) conv2d_forward_pointwise<T>(p, x, w, y);
  else conv2d_forward_im2col<T>(p, x, w, y, scratch);
  if (bias) {
    parallel_for(std::int64_t{p.n} * s.out_channels, p.out_plane, [&](std::int64_t no) {
      const T b = bias[no % s.out_channels];
      T* out = y.data() + no * p.out_plane;
      for (std::int64_t i = 0; i < p.out_plane; ++i) out[i] += b;
    });
  }
}

// Accumulates dw (and db when given) and, when dx is given, writes dx = d(loss)/dx.
template <class T, class Tensor, class Array>
void conv2d_backward(const nn::conv2d_shape& s, const Tensor& x, const Array& w, const Tensor& dy, Tensor* dx, T* dw,
                     T* db, std::vector<T>& scratch) {
  const conv_plan p(s, static_cast<int>(x.shape()[0]), static_cast<int>(x.shape()[2]), static_cast<int>(x.shape()[3]));
  if (dx) dx->resize(x.shape());
  if (s.depthwise() && s.out_per_group() == 1)
    return depthwise_backward(p, x.data(), w.data(), dy.data(), dx ? dx->data() : nullptr, dw, db);
  if (db) {
    parallel_for(s.out_channels, p.n * p.out_plane, [&](std::int64_t oc) {
      T sum = 0;
      for (int n = 0; n < p.n; ++n) {
        const T* g = dy.data() + (std::int64_t{n} * s.out_channels + oc) * p.out_plane;
        for (std::int64_t i = 0; i < p.out_plane; ++i) sum += g[i];
      }
      db[oc] += sum;
    });
  }
  const int G = s.groups, ocg = s.out_per_group(), K = s.patch_size();
  if (dx) std::fill(dx->begin(), dx->end(), T(0));  // col2im adds; the direct 1x1 path overwrites
  for (int n0 = 0; n0 < p.n; n0 += p.images_per_chunk) {
    const int images = std::min(p.images_per_chunk, p.n - n0);
    const std::int64_t cols = images * p.out_plane;
    const bool direct_in = p.columns_are_input(images);
    // scratch: [columns K x cols][gathered dy ocg x cols (images > 1)][dcol K x cols (dx, not direct)]
    const std::size_t col_size = direct_in ? 0 : std::size_t(K) * cols, dy_size = images > 1 ? std::size_t(ocg) * cols : 0;
    const std::size_t dcol_size = (dx && !direct_in) ? std::size_t(K) * cols : 0;
    scratch.resize(col_size + dy_size + dcol_size);
    for (int g = 0; g < G; ++g) {
      const T* col = nullptr;  // only the weight gradient reads the columns
      if (direct_in) {
        col = x.data() + (std::int64_t{n0} * s.in_channels + std::int64_t{g} * s.in_per_group()) * p.in_plane;
      } else if (dw) {
        im2col(p, x.data(), n0, images, g, scratch.data());
        col = scratch.data();
      }
      const T* gdy;
      int ld_dy;
      if (images == 1) {
        gdy = dy.data() + (std::int64_t{n0} * s.out_channels + std::int64_t{g} * ocg) * p.out_plane;
        ld_dy = static_cast<int>(p.out_plane);
      } else {
        T* tmp = scratch.data() + col_size;
        parallel_for(std::int64_t{images} * ocg, p.out_plane, [&](std::int64_t io) {
          const std::int64_t i = io / ocg, oc = io % ocg;
          std::copy_n(dy.data() + ((n0 + i) * s.out_channels + std::int64_t{g} * ocg + oc) * p.out_plane, p.out_plane,
                      tmp + oc * cols + i * p.out_plane);
        });
        gdy = tmp;
        ld_dy = static_cast<int>(cols);
      }
      const T* wg = w.data() + std::int64_t{g} * ocg * K;
      // dW_g (ocg x K) += dY_g (ocg x cols) * col^T
      if (dw)
        gemm<T>(false, true, ocg, K, static_cast<int>(cols), T(1), gdy, ld_dy, col, static_cast<int>(cols), T(1),
                dw + std::int64_t{g} * ocg * K, K);
      if (!dx) continue;
      if (direct_in) {  // dx[n0] group slice = W_g^T * dY_g
        T* out = dx->data() + (std::int64_t{n0} * s.in_channels + std::int64_t{g} * s.in_per_group()) * p.in_plane;
        gemm<T>(true, false, K, static_cast<int>(cols), ocg, T(1), wg, K, gdy, ld_dy, T(0), out, static_cast<int>(p.in_plane));
      } else {
        T* dcol = scratch.data() + col_size + dy_size;
        gemm<T>(true, false, K, static_cast<int>(cols), ocg, T(1), wg, K, gdy, ld_dy, T(0), dcol, static_cast<int>(cols));
        col2im_add(p, dcol, n0, images, g, dx->data());
      }
    }
  }
}

}  // namespace tailor::backend::cpu_detail
