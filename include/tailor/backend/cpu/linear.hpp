#pragma once
// Fully connected layer, torch.nn.Linear layout: weight is out x in, y = x W^T + b.
#include <cstdint>

#include "gemm.hpp"
#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

template <class T>
void linear_forward(int n, int in, int out, const T* x, const T* w, const T* b, T* y) {
  gemm<T>(false, true, n, out, in, T(1), x, in, w, in, T(0), y, out);
  if (b)
    parallel_for(n, out, [&](std::int64_t i) {
      for (int o = 0; o < out; ++o) y[i * out + o] += b[o];
    });
}

// Accumulates dw += dy^T x and db += column sums of dy; writes dx = dy W when dx is given.
template <class T>
void linear_backward(int n, int in, int out, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  gemm<T>(true, false, out, in, n, T(1), dy, out, x, in, T(1), dw, in);
  if (db)
    parallel_for(out, n, [&](std::int64_t o) {
      T sum = 0;
      for (int i = 0; i < n; ++i) sum += dy[std::int64_t{i} * out + o];
      db[o] += sum;
    });
  if (dx) gemm<T>(false, false, n, in, out, T(1), dy, out, w, in, T(0), dx, in);
}

}  // namespace tailor::backend::cpu_detail
