#pragma once
// Window geometry shared by im2col (conv2d.hpp) and pooling (pooling.hpp).
#include <algorithm>

namespace tailor::backend::cpu_detail {

// The output columns [lo, hi) whose input column ox * stride - pad + offset lies inside [0, w).
inline void valid_columns(int ow, int w, int stride, int start, int& lo, int& hi) {
  // ix = ox * stride + start; need 0 <= ix < w.
  lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
  hi = start >= w ? 0 : std::min(ow, (w - 1 - start) / stride + 1);
  if (hi < lo) hi = lo;
}

}  // namespace tailor::backend::cpu_detail
