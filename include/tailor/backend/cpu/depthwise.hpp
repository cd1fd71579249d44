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
      for (int kh = 0; kh < s.kernel_h; ++kh) {
        const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
        if (iy < 0 || iy >= p.h) continue;
        const T* in = plane + std::int64_t{iy} * p.w;
        for (int kw = 0; kw < s.kernel_w; ++kw) {
          const int start = kw * s.dilation_w - s.pad_w;
          int lo, hi;
          valid_columns(p.ow, p.w, s.stride_w, start, lo, hi);
          depthwise_row_tap(in, k[kh * s.kernel_w + kw], row, lo, hi, s.stride_w, start);
        }
      }
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
        for (int kh = 0; kh < s.kernel_h; ++kh) {
          const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (iy < 0 || iy >= p.h) continue;
          T* in_grad = plane + std::int64_t{iy} * p.w;
          for (int kw = 0; kw < s.kernel_w; ++kw) {
            const int start = kw * s.dilation_w - s.pad_w;
            int lo, hi;
            valid_columns(p.ow, p.w, s.stride_w, start, lo, hi);
            depthwise_row_tap_adjoint(grow, k[kh * s.kernel_w + kw], in_grad, lo, hi, s.stride_w, start);
          }
        }
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
        for (int kh = 0; kh < s.kernel_h; ++kh) {
          const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (iy < 0 || iy >= p.h) continue;
          const T* in = plane + std::int64_t{iy} * p.w;
          for (int kw = 0; kw < s.kernel_w; ++kw) {
            const int start = kw * s.dilation_w - s.pad_w;
            int lo, hi;
            valid_columns(p.ow, p.w, s.stride_w, start, lo, hi);
            gk[kh * s.kernel_w + kw] += depthwise_row_dot(grow, in, lo, hi, s.stride_w, start);
          }
        }
      }
    }
    if (db) db[c] += bsum;
  });
}

// The fast path: a square K x K kernel (K = 3 or 5), stride S = 1 or 2 in both directions, no
// dilation: MobileNet's depthwise layers. Each plane is first copied into a zero-padded plane, and
// for stride 2 each padded row is split into its even and odd columns, so that every tap reads a
// contiguous run and the inner loops have no bounds and vectorise. The other depthwise shapes take
// the general loops above.
inline bool depthwise_fast_applies(const nn::conv2d_shape& s) {
  return s.kernel_h == s.kernel_w && (s.kernel_h == 3 || s.kernel_h == 5) && s.stride_h == s.stride_w &&
         (s.stride_h == 1 || s.stride_h == 2) && s.dilation_h == 1 && s.dilation_w == 1 && s.pad_h == s.pad_w;
}

namespace depthwise_detail {

// The padded plane of one (image, channel): rows x width, row r holding input row r - pad; for
// stride 2 a row is [even columns (even_count) | odd columns].
struct padded_plane {
  int rows = 0, width = 0, even_count = 0, stride = 1, pad = 0;
  padded_plane(const conv_plan& p, int kernel) : stride(p.s.stride_h), pad(p.s.pad_h) {
    rows = std::max(p.h + 2 * pad, (p.oh - 1) * stride + kernel);
    width = std::max(p.w + 2 * pad, (p.ow - 1) * stride + kernel);
    even_count = stride == 2 ? (width + 1) / 2 : width;
  }
  std::size_t size() const { return std::size_t(rows) * width; }
  // Where padded column q of a row lies in the stored row.
  int column(int q) const { return stride == 1 ? q : (q % 2 == 0 ? q / 2 : even_count + q / 2); }
  // Where the run read by tap kw (columns ox * stride + kw, ox = 0, 1, ...) starts.
  int tap(int kw) const { return column(kw); }
};

template <class T>
void pad_plane(const padded_plane& g, const conv_plan& p, const T* in, T* buf) {
  std::fill(buf, buf + g.size(), T(0));
  for (int iy = 0; iy < p.h; ++iy) {
    T* row = buf + std::int64_t{iy + g.pad} * g.width;
    const T* src = in + std::int64_t{iy} * p.w;
    if (g.stride == 1) {
      std::copy(src, src + p.w, row + g.pad);
    } else {
      for (int ix = 0; ix < p.w; ++ix) row[g.column(ix + g.pad)] = src[ix];
    }
  }
}

// out[ox] += sum over kw of k[kw] * row[offset[kw] + ox], ox in [0, n).
template <class T, int K>
void taps_forward(const T* __restrict row, const int* offset, const T* k, T* __restrict out, int n) {
  int off[K];
  T kv[K];
  for (int kw = 0; kw < K; ++kw) off[kw] = offset[kw], kv[kw] = k[kw];
  for (int ox = 0; ox < n; ++ox) {
    T acc = out[ox];
    for (int kw = 0; kw < K; ++kw) acc += kv[kw] * row[off[kw] + ox];
    out[ox] = acc;
  }
}

// The adjoint of one tap: grad_row[offset + ox] += k * g[ox].
template <class T>
void tap_adjoint(const T* __restrict g, T k, T* __restrict grad_row, int n) {
  for (int ox = 0; ox < n; ++ox) grad_row[ox] += k * g[ox];
}

// acc[i] += a[i] * b[i] over [0, n).
template <class T>
void multiply_add(const T* __restrict a, const T* __restrict b, T* __restrict acc, int n) {
  for (int i = 0; i < n; ++i) acc[i] += a[i] * b[i];
}


template <class T, int K>
void forward(const conv_plan& p, const T* x, const T* w, const T* bias, T* y) {
  const auto& s = p.s;
  const padded_plane g(p, K);
  int offset[K];
  for (int kw = 0; kw < K; ++kw) offset[kw] = g.tap(kw);
  parallel_for(std::int64_t{p.n} * s.in_channels, K * K * p.out_plane, [&](std::int64_t nc) {
    thread_local std::vector<T> buf;
    buf.resize(g.size());
    pad_plane(g, p, x + nc * p.in_plane, buf.data());
    const int c = static_cast<int>(nc % s.in_channels);
    const T* k = w + std::int64_t{c} * K * K;
    const T b = bias ? bias[c] : T(0);
    T* out = y + nc * p.out_plane;
    for (int oy = 0; oy < p.oh; ++oy) {
      T* row = out + std::int64_t{oy} * p.ow;
      std::fill(row, row + p.ow, b);
      for (int kh = 0; kh < K; ++kh)
        taps_forward<T, K>(buf.data() + std::int64_t{oy * g.stride + kh} * g.width, offset, k + kh * K, row, p.ow);
    }
  });
}

template <class T, int K>
void backward(const conv_plan& p, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const auto& s = p.s;
  const int C = s.in_channels;
  const padded_plane g(p, K);
  int offset[K];
  for (int kw = 0; kw < K; ++kw) offset[kw] = g.tap(kw);
  if (dx) {
    parallel_for(std::int64_t{p.n} * C, K * K * p.out_plane, [&](std::int64_t nc) {
      thread_local std::vector<T> grad;
      grad.assign(g.size(), T(0));
      const int c = static_cast<int>(nc % C);
      const T* k = w + std::int64_t{c} * K * K;
      const T* gy = dy + nc * p.out_plane;
      for (int oy = 0; oy < p.oh; ++oy)
        for (int kh = 0; kh < K; ++kh) {
          T* grad_row = grad.data() + std::int64_t{oy * g.stride + kh} * g.width;
          for (int kw = 0; kw < K; ++kw)
            tap_adjoint(gy + std::int64_t{oy} * p.ow, k[kh * K + kw], grad_row + offset[kw], p.ow);
        }
      T* plane = dx + nc * p.in_plane;
      for (int iy = 0; iy < p.h; ++iy) {
        const T* row = grad.data() + std::int64_t{iy + g.pad} * g.width;
        for (int ix = 0; ix < p.w; ++ix) plane[std::int64_t{iy} * p.w + ix] = row[g.column(ix + g.pad)];
      }
    });
  }
  if (!dw && !db) return;
  // Weight and bias gradients: one thread per channel sums over the batch. Each tap keeps a row of
  // per-column partial sums (multiply-adds over contiguous runs, which vectorise), reduced once at
  // the end in a fixed order.
  parallel_for(C, p.n * K * K * p.out_plane, [&](std::int64_t c) {
    thread_local std::vector<T> buf, partial;
    buf.resize(g.size());
    partial.assign(std::size_t(K * K + 1) * p.ow, T(0));  // K*K taps, then the bias
    T* bias_row = partial.data() + std::size_t(K * K) * p.ow;
    for (int n = 0; n < p.n; ++n) {
      const std::int64_t nc = std::int64_t{n} * C + c;
      const T* gy = dy + nc * p.out_plane;
      if (db)
        for (int oy = 0; oy < p.oh; ++oy) tap_adjoint(gy + std::int64_t{oy} * p.ow, T(1), bias_row, p.ow);
      if (!dw) continue;
      pad_plane(g, p, x + nc * p.in_plane, buf.data());
      for (int oy = 0; oy < p.oh; ++oy)
        for (int kh = 0; kh < K; ++kh) {
          const T* row = buf.data() + std::int64_t{oy * g.stride + kh} * g.width;
          for (int kw = 0; kw < K; ++kw)
            multiply_add(gy + std::int64_t{oy} * p.ow, row + offset[kw], partial.data() + std::size_t(kh * K + kw) * p.ow,
                         p.ow);
        }
    }
    if (dw)
      for (int t = 0; t < K * K; ++t) dw[c * K * K + t] += lane_sum(partial.data() + std::size_t(t) * p.ow, p.ow);
    if (db) db[c] += lane_sum(bias_row, p.ow);
  });
}

}  // namespace depthwise_detail

// Depthwise forward and backward: the fast path where it applies, else the general loops.
template <class T>
void depthwise_forward(const conv_plan& p, const T* x, const T* w, const T* bias, T* y) {
  if (depthwise_fast_applies(p.s)) {
    if (p.s.kernel_h == 3) return depthwise_detail::forward<T, 3>(p, x, w, bias, y);
    return depthwise_detail::forward<T, 5>(p, x, w, bias, y);
  }
  depthwise_forward_general(p, x, w, bias, y);
}

template <class T>
void depthwise_backward(const conv_plan& p, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (depthwise_fast_applies(p.s)) {
    if (p.s.kernel_h == 3) return depthwise_detail::backward<T, 3>(p, x, w, dy, dx, dw, db);
    return depthwise_detail::backward<T, 5>(p, x, w, dy, dx, dw, db);
  }
  depthwise_backward_general(p, x, w, dy, dx, dw, db);
}

}  // namespace tailor::backend::cpu_detail
