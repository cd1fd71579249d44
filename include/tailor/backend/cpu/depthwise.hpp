#pragma once
// Depthwise convolution (groups == channels, one input channel per group), direct: its im2col
// would be all copying and no arithmetic. Included by conv2d.hpp, which dispatches to it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "conv_plan.hpp"
#include "parallel.hpp"
#include "window.hpp"

namespace tailor::backend::cpu_detail {

// sum of a[i] over [0, n) in eight fixed lanes (the same result on every run).
template <class T>
T lane_sum(const T* __restrict a, int n) {
  T lane[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += a[i + l];
  T tail = 0;
  for (; i < n; ++i) tail += a[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail;
}

// The row loops of depthwise convolution, apart (restrict) so that the compiler vectorises them;
// input column ox * step + start for the output columns [lo, hi).
template <class T>
void depthwise_row_tap(const T* __restrict in, T k, T* __restrict out, int lo, int hi, int step, int start) {
  for (int ox = lo; ox < hi; ++ox) out[ox] += k * in[ox * step + start];
}
template <class T>
void depthwise_row_tap_adjoint(const T* __restrict g, T k, T* __restrict in_grad, int lo, int hi, int step, int start) {
  for (int ox = lo; ox < hi; ++ox) in_grad[ox * step + start] += k * g[ox];
}
// sum over ox in [lo, hi) of g[ox] * in[ox * step + start], in eight fixed lanes (a fixed order:
// the same result on every run).
template <class T>
T depthwise_row_dot(const T* __restrict g, const T* __restrict in, int lo, int hi, int step, int start) {
  T lane[8] = {};
  int ox = lo;
  for (; ox + 8 <= hi; ox += 8)
    for (int l = 0; l < 8; ++l) lane[l] += g[ox + l] * in[(ox + l) * step + start];
  T tail = 0;
  for (; ox < hi; ++ox) tail += g[ox] * in[ox * step + start];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail;
}


// Depthwise (groups == channels): y[n][c] = sum over the window of x[n][c] * w[c], direct: one
// output row at a time, window tap by window tap, over the output columns the tap reads inside
// the image.
template <class T>
void depthwise_forward_general(const conv_plan& p, const T* x, const T* w, const T* bias, T* y) {
  const auto& s = p.s;
  const int kk = s.kernel_h * s.kernel_w;
  parallel_for(std::int64_t{p.n} * s.in_channels, kk * p.out_plane, [&](std::int64_t nc) {
    const int c = static_cast<int>(nc % s.in_channels);
    const T* plane = x + nc * p.in_plane;
    const T* k = w + std::int64_t{c} * kk;
    T* out = y + nc * p.out_plane;
    const T b = bias ? bias[c] : T(0);
    for (int oy = 0; oy < p.oh; ++oy) {
      T* row = out + std::int64_t{oy} * p.ow;
      std::fill(row, row + p.ow, b);
      for_each_row_tap(p.s, p.h, p.w, p.ow, oy, [&](int tap, int iy, int lo, int hi, int start) {
        depthwise_row_tap(plane + std::int64_t{iy} * p.w, k[tap], row, lo, hi, s.stride_w, start);
      });
    }
  });
}

template <class T>
void depthwise_backward_general(const conv_plan& p, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const auto& s = p.s;
  const int kk = s.kernel_h * s.kernel_w, C = s.in_channels;
  if (dx) {
    parallel_for(std::int64_t{p.n} * C, kk * p.out_plane, [&](std::int64_t nc) {
      const int c = static_cast<int>(nc % C);
      const T* g = dy + nc * p.out_plane;
      const T* k = w + std::int64_t{c} * kk;
      T* plane = dx + nc * p.in_plane;
      std::fill(plane, plane + p.in_plane, T(0));
      for (int oy = 0; oy < p.oh; ++oy) {
        const T* grow = g + std::int64_t{oy} * p.ow;
        for_each_row_tap(p.s, p.h, p.w, p.ow, oy, [&](int tap, int iy, int lo, int hi, int start) {
          depthwise_row_tap_adjoint(grow, k[tap], plane + std::int64_t{iy} * p.w, lo, hi, s.stride_w, start);
        });
      }
    });
  }
  // Weight and bias gradients: one thread per channel sums over the batch.
  if (!dw && !db) return;
  parallel_for(C, p.n * kk * p.out_plane, [&](std::int64_t c) {
    T* gk = dw ? dw + c * kk : nullptr;
    T bsum = 0;
    for (int n = 0; n < p.n; ++n) {
      const std::int64_t nc = std::int64_t{n} * C + c;
      const T* g = dy + nc * p.out_plane;
      const T* plane = x + nc * p.in_plane;
      for (int oy = 0; oy < p.oh; ++oy) {
        const T* grow = g + std::int64_t{oy} * p.ow;
        if (db) bsum += lane_sum(grow, p.ow);
        if (!gk) continue;
        for_each_row_tap(p.s, p.h, p.w, p.ow, oy, [&](int tap, int iy, int lo, int hi, int start) {
          gk[tap] += depthwise_row_dot(grow, plane + std::int64_t{iy} * p.w, lo, hi, s.stride_w, start);
        });
      }
    }
    if (db) db[c] += bsum;
  });
}

// The fast path: a square kernel, the same stride and padding in both directions, no dilation
// (MobileNet's 3x3 and 5x5 layers, stride 1 or 2). Each plane is copied into zero-padded phase
// planes (below) so that every tap is one contiguous multiply-add over the whole output plane,
// with no bounds and no short rows: 7x7 and 14x14 planes would otherwise spend their time in loop
// overhead. Dilated and rectangular windows take the general loops above.
inline bool depthwise_fast_applies(const nn::conv2d_shape& s) {
  return s.kernel_h == s.kernel_w && s.stride_h == s.stride_w && s.pad_h == s.pad_w && s.dilation_h == 1 &&
         s.dilation_w == 1;
}

namespace depthwise_detail {

// The zero-padded plane P (rows x width, input pixel (iy, ix) at (iy + pad, ix + pad)) split into
// stride x stride phase planes: phase (a, b) holds P[S i + a][S j + b] at (i, j), each plane
// `phase_rows` x `phase_width`. Tap (kh, kw) of output (oy, ox) reads P[S oy + kh][S ox + kw] =
// phase (kh % S, kw % S) at (oy + kh / S, ox + kw / S). Flattening the output with row stride
// phase_width, output j = oy * phase_width + ox reads element j + offset of one phase plane: a
// whole plane of outputs per tap is one contiguous multiply-add (the columns past ow are computed
// and dropped).
struct phase_planes {
  int stride = 1, pad = 0, phase_rows = 0, phase_width = 0;
  phase_planes(const conv_plan& p, int kernel) : stride(p.s.stride_h), pad(p.s.pad_h) {
    const int rows = std::max(p.h + 2 * pad, (p.oh - 1) * stride + kernel);
    const int width = std::max(p.w + 2 * pad, (p.ow - 1) * stride + kernel);
    phase_rows = (rows + stride - 1) / stride + 1;  // + 1: the last taps read a few columns past a row
    phase_width = (width + stride - 1) / stride;
  }
  std::size_t phase_size() const { return std::size_t(phase_rows) * phase_width; }
  std::size_t size() const { return std::size_t(stride) * stride * phase_size(); }
  // Where tap (kh, kw) of output j = 0 lies in the buffer.
  std::size_t tap(int kh, int kw) const {
    return (std::size_t(kh % stride) * stride + kw % stride) * phase_size() + std::size_t(kh / stride) * phase_width +
           kw / stride;
  }
  // Where input pixel (iy, ix) lies in the buffer.
  std::size_t pixel(int iy, int ix) const {
    const int r = iy + pad, q = ix + pad;
    return (std::size_t(r % stride) * stride + q % stride) * phase_size() + std::size_t(r / stride) * phase_width +
           q / stride;
  }
  std::size_t flat_outputs(const conv_plan& p) const { return std::size_t(p.oh) * phase_width; }
};

template <class T>
void split_plane(const phase_planes& g, const conv_plan& p, const T* in, T* buf) {
  std::fill(buf, buf + g.size(), T(0));
  for (int iy = 0; iy < p.h; ++iy) {
    const T* src = in + std::int64_t{iy} * p.w;
    if (g.stride == 1) {
      std::copy(src, src + p.w, buf + g.pixel(iy, 0));
    } else {  // the row's columns alternate between two phase planes
      for (int first = 0; first < 2 && first < p.w; ++first) {
        T* dst = buf + g.pixel(iy, first);
        for (int ix = first, j = 0; ix < p.w; ix += 2, ++j) dst[j] = src[ix];
      }
    }
  }
}

// acc[j] += k * src[j] over [0, n).
template <class T>
void axpy(const T* __restrict src, T k, T* __restrict acc, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) acc[j] += k * src[j];
}

// acc[j] += a[j] * b[j] over [0, n).
template <class T>
void multiply_add(const T* __restrict a, const T* __restrict b, T* __restrict acc, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) acc[j] += a[j] * b[j];
}

template <class T>
void forward(const conv_plan& p, int K, const T* x, const T* w, const T* bias, T* y) {
  const auto& s = p.s;
  const phase_planes g(p, K);
  const std::size_t flat = g.flat_outputs(p);
  parallel_for(std::int64_t{p.n} * s.in_channels, K * K * p.out_plane, [&](std::int64_t nc) {
    thread_local std::vector<T> buf, out_flat;
    buf.resize(g.size());
    out_flat.resize(flat);
    split_plane(g, p, x + nc * p.in_plane, buf.data());
    const int c = static_cast<int>(nc % s.in_channels);
    const T* k = w + std::int64_t{c} * K * K;
    std::fill(out_flat.begin(), out_flat.end(), bias ? bias[c] : T(0));
    for (int kh = 0; kh < K; ++kh)
      for (int kw = 0; kw < K; ++kw) axpy(buf.data() + g.tap(kh, kw), k[kh * K + kw], out_flat.data(), flat);
    T* out = y + nc * p.out_plane;
    for (int oy = 0; oy < p.oh; ++oy)
      std::copy_n(out_flat.data() + std::size_t(oy) * g.phase_width, p.ow, out + std::int64_t{oy} * p.ow);
  });
}

// dy of one plane laid out with row stride phase_width, zero past column ow.
template <class T>
void spread_gradient(const phase_planes& g, const conv_plan& p, const T* dy, T* flat) {
  std::fill(flat, flat + g.flat_outputs(p), T(0));
  for (int oy = 0; oy < p.oh; ++oy) std::copy_n(dy + std::int64_t{oy} * p.ow, p.ow, flat + std::size_t(oy) * g.phase_width);
}

template <class T>
void backward(const conv_plan& p, int K, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const auto& s = p.s;
  const int C = s.in_channels;
  const phase_planes g(p, K);
  const std::size_t flat = g.flat_outputs(p);
  if (dx) {
    parallel_for(std::int64_t{p.n} * C, K * K * p.out_plane, [&](std::int64_t nc) {
      thread_local std::vector<T> grad, dy_flat;
      grad.assign(g.size(), T(0));
      dy_flat.resize(flat);
      spread_gradient(g, p, dy + nc * p.out_plane, dy_flat.data());
      const T* k = w + std::int64_t(nc % C) * K * K;
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) axpy(dy_flat.data(), k[kh * K + kw], grad.data() + g.tap(kh, kw), flat);
      T* plane = dx + nc * p.in_plane;
      for (int iy = 0; iy < p.h; ++iy)
        for (int ix = 0; ix < p.w; ++ix) plane[std::int64_t{iy} * p.w + ix] = grad[g.pixel(iy, ix)];
    });
  }
  if (!dw && !db) return;
  // Weight and bias gradients: one thread per channel sums over the batch, each tap into a flat
  // row of partial sums, reduced once at the end in a fixed order.
  parallel_for(C, p.n * K * K * p.out_plane, [&](std::int64_t c) {
    thread_local std::vector<T> buf, dy_flat, partial;
    buf.resize(g.size());
    dy_flat.resize(flat);
    partial.assign(std::size_t(K * K + 1) * flat, T(0));  // K*K taps, then the bias
    T* bias_partial = partial.data() + std::size_t(K * K) * flat;
    for (int n = 0; n < p.n; ++n) {
      const std::int64_t nc = std::int64_t{n} * C + c;
      spread_gradient(g, p, dy + nc * p.out_plane, dy_flat.data());
      if (db) axpy(dy_flat.data(), T(1), bias_partial, flat);
      if (!dw) continue;
      split_plane(g, p, x + nc * p.in_plane, buf.data());
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw)
          multiply_add(dy_flat.data(), buf.data() + g.tap(kh, kw), partial.data() + std::size_t(kh * K + kw) * flat, flat);
    }
    if (dw)
      for (int t = 0; t < K * K; ++t) dw[c * K * K + t] += lane_sum(partial.data() + std::size_t(t) * flat, static_cast<int>(flat));
    if (db) db[c] += lane_sum(bias_partial, static_cast<int>(flat));
  });
}

}  // namespace depthwise_detail

// Depthwise forward and backward: the fast path where it applies, else the general loops.
template <class T>
void depthwise_forward(const conv_plan& p, const T* x, const T* w, const T* bias, T* y) {
  if (depthwise_fast_applies(p.s)) return depthwise_detail::forward(p, p.s.kernel_h, x, w, bias, y);
  depthwise_forward_general(p, x, w, bias, y);
}

template <class T>
void depthwise_backward(const conv_plan& p, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (depthwise_fast_applies(p.s)) return depthwise_detail::backward(p, p.s.kernel_h, x, w, dy, dx, dw, db);
  depthwise_backward_general(p, x, w, dy, dx, dw, db);
}

}  // namespace tailor::backend::cpu_detail
