#pragma once
// Window geometry shared by im2col (conv2d.hpp) and pooling (pooling.hpp).
#include <algorithm>

#include "../../nn/conv2d_shape.hpp"

namespace tailor::backend::cpu_detail {

// The output columns [lo, hi) whose input column ox * stride - pad + offset lies inside [0, w).
inline void valid_columns(int ow, int w, int stride, int start, int& lo, int& hi) {
  // ix = ox * stride + start; need 0 <= ix < w.
  lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
  hi = start >= w ? 0 : std::min(ow, (w - 1 - start) / stride + 1);
  if (hi < lo) hi = lo;
}

// Calls f(tap, iy, lo, hi, start) for each window tap (tap = kh * kernel_w + kw) of output row oy
// whose input row iy lies inside an h x w input: output columns [lo, hi) read input columns
// ox * stride_w + start, all inside the input.
template <class F>
void for_each_row_tap(const nn::conv2d_shape& s, int h, int w, int ow, int oy, F&& f) {
  for (int kh = 0; kh < s.kernel_h; ++kh) {
    const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h;
    if (iy < 0 || iy >= h) continue;
    for (int kw = 0; kw < s.kernel_w; ++kw) {
      const int start = kw * s.dilation_w - s.pad_w;
      int lo, hi;
      valid_columns(ow, w, s.stride_w, start, lo, hi);
      f(kh * s.kernel_w + kw, iy, lo, hi, start);
    }
  }
}

}  // namespace tailor::backend::cpu_detail
