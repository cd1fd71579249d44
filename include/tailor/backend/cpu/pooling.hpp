#pragma once
// Max and average pooling (NCHW) as torch.nn.MaxPool2d / AvgPool2d with ceil_mode=False and
// count_include_pad=True, and global average pooling. One thread owns each (image, channel) plane.
#include <cstdint>
#include <limits>

#include "../../nn/conv2d_shape.hpp"
#include "parallel.hpp"
#include "window.hpp"

namespace tailor::backend::cpu_detail {

struct pool_dims {
  std::int64_t n = 0, c = 0;
  int h = 0, w = 0, oh = 0, ow = 0;
};

// One window tap over the output columns [lo, hi) of a row: input column ox * step + start. Apart
// (restrict) and branch-free, so that the compiler vectorises it.
template <class T>
void max_pool_tap(const T* __restrict row, T* __restrict best, std::int32_t* __restrict at, int lo, int hi, int step,
                  int start, std::int32_t row_index) {
  for (int ox = lo; ox < hi; ++ox) {
    const int ix = ox * step + start;
    const T v = row[ix], b = best[ox];
    const std::int32_t a = at[ox];
    const bool take = (v > b) | (v != v) | (a < 0);
    best[ox] = take ? v : b;
    at[ox] = take ? row_index + ix : a;
  }
}

// Window geometry reuses conv2d_shape (kernel, stride, padding; channels unused). argmax receives
// the flat in-plane index of each output's maximum: as torch, the first maximum in scan order, and
// a NaN wins (the last one met). One output row at a time, window tap by window tap, over the
// output columns that tap reads inside the image.
template <class T>
void max_pool_forward(const nn::conv2d_shape& s, const pool_dims& d, const T* x, T* y, std::int32_t* argmax) {
  parallel_for(d.n * d.c, std::int64_t{d.oh} * d.ow * s.kernel_h * s.kernel_w, [&](std::int64_t nc) {
    const T* plane = x + nc * d.h * d.w;
    T* out = y + nc * d.oh * d.ow;
    std::int32_t* arg = argmax + nc * d.oh * d.ow;
    for (int oy = 0; oy < d.oh; ++oy) {
      T* best = out + oy * d.ow;
      std::int32_t* at = arg + oy * d.ow;
      for (int ox = 0; ox < d.ow; ++ox) best[ox] = -std::numeric_limits<T>::infinity(), at[ox] = -1;
      for_each_row_tap(s, d.h, d.w, d.ow, oy, [&](int, int iy, int lo, int hi, int start) {
        max_pool_tap(plane + iy * d.w, best, at, lo, hi, s.stride_w, start, iy * d.w);
      });
    }
  });
}

template <class T>
void max_pool_backward(const pool_dims& d, const std::int32_t* argmax, const T* dy, T* dx) {
  parallel_for(d.n * d.c, std::int64_t{d.h} * d.w, [&](std::int64_t nc) {
    T* plane = dx + nc * d.h * d.w;
    for (int i = 0; i < d.h * d.w; ++i) plane[i] = T(0);
    const T* g = dy + nc * d.oh * d.ow;
    const std::int32_t* arg = argmax + nc * d.oh * d.ow;
    for (int o = 0; o < d.oh * d.ow; ++o)
      if (arg[o] >= 0) plane[arg[o]] += g[o];
  });
}

// Average over the window, padding counted as zeros (count_include_pad=True).
template <class T>
void avg_pool_forward(const nn::conv2d_shape& s, const pool_dims& d, const T* x, T* y) {
  const T inv = T(1) / T(s.kernel_h * s.kernel_w);
  parallel_for(d.n * d.c, std::int64_t{d.oh} * d.ow * s.kernel_h * s.kernel_w, [&](std::int64_t nc) {
    const T* plane = x + nc * d.h * d.w;
    T* out = y + nc * d.oh * d.ow;
    for (int oy = 0; oy < d.oh; ++oy)
      for (int ox = 0; ox < d.ow; ++ox) {
        T sum = 0;
        for (int kh = 0; kh < s.kernel_h; ++kh) {
          const int iy = oy * s.stride_h - s.pad_h + kh;
          if (iy < 0 || iy >= d.h) continue;
          for (int kw = 0; kw < s.kernel_w; ++kw) {
            const int ix = ox * s.stride_w - s.pad_w + kw;
            if (ix >= 0 && ix < d.w) sum += plane[iy * d.w + ix];
          }
        }
        out[oy * d.ow + ox] = sum * inv;
      }
  });
}

template <class T>
void avg_pool_backward(const nn::conv2d_shape& s, const pool_dims& d, const T* dy, T* dx) {
  const T inv = T(1) / T(s.kernel_h * s.kernel_w);
  parallel_for(d.n * d.c, std::int64_t{d.oh} * d.ow * s.kernel_h * s.kernel_w, [&](std::int64_t nc) {
    T* plane = dx + nc * d.h * d.w;
    for (int i = 0; i < d.h * d.w; ++i) plane[i] = T(0);
    const T* g = dy + nc * d.oh * d.ow;
    for (int oy = 0; oy < d.oh; ++oy)
      for (int ox = 0; ox < d.ow; ++ox) {
        const T v = g[oy * d.ow + ox] * inv;
        for (int kh = 0; kh < s.kernel_h; ++kh) {
          const int iy = oy * s.stride_h - s.pad_h + kh;
          if (iy < 0 || iy >= d.h) continue;
          for (int kw = 0; kw < s.kernel_w; ++kw) {
            const int ix = ox * s.stride_w - s.pad_w + kw;
            if (ix >= 0 && ix < d.w) plane[iy * d.w + ix] += v;
          }
        }
      }
  });
}

// y[n][c] = mean of x[n][c] over the plane; dx = dy / plane everywhere.
template <class T>
void global_avg_pool_forward(std::int64_t planes, std::int64_t plane, const T* x, T* y) {
  parallel_for(planes, plane, [&](std::int64_t nc) {
    double sum = 0;
    const T* p = x + nc * plane;
    for (std::int64_t i = 0; i < plane; ++i) sum += p[i];
    y[nc] = T(sum / double(plane));
  });
}

template <class T>
void global_avg_pool_backward(std::int64_t planes, std::int64_t plane, const T* dy, T* dx) {
  parallel_for(planes, plane, [&](std::int64_t nc) {
    const T v = dy[nc] / T(plane);
    T* p = dx + nc * plane;
    for (std::int64_t i = 0; i < plane; ++i) p[i] = v;
  });
}

}  // namespace tailor::backend::cpu_detail
