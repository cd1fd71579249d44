#pragma once
// Row-major GEMM through CBLAS (OpenBLAS): C = alpha * op(A) * op(B) + beta * C, in float or double.
// Double exists so that gradient checks run the very same layer code with 1e-8 finite differences.
//
// Threads: the BLAS runs single-threaded and large products are split into column (or row)
// blocks over the backend's own pool (thread_pool.hpp). Two pools that each spin while waiting
// (OpenBLAS's and another) starve each other on a busy 2-core machine, so there is one, and every
// element of C is computed by one BLAS call.
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

template <class T>
void gemm_serial(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
                 T beta, T* c, int ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "the CPU backend computes in float or double");
  if (m <= 0 || n <= 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Below this many multiply-adds a product runs on one thread.
inline constexpr double gemm_parallel_threshold = double(1 << 21);

// Before the first BLAS call from the pool: the BLAS itself stays on one thread.
inline void keep_blas_single_threaded() {
  static const bool done = (set_blas_threads(1), true);
  (void)done;
}

template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
          T* c, int ldc) {
  keep_blas_single_threaded();
  const int threads = num_threads();
  if (threads <= 1 || double(m) * n * k < gemm_parallel_threshold)
    return gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  constexpr int align = 16;
  if (n >= threads * align) {  // column blocks: C[:, j0:j1] = op(A) op(B)[:, j0:j1]
    const int block = (n + threads - 1) / threads / align * align + align;
    const int blocks = (n + block - 1) / block;
    parallel_for(blocks, std::int64_t(1) << 30, [&](std::int64_t t) {
      const int j0 = int(t) * block, cols = std::min(block, n - j0);
      const T* bj = trans_b ? b + std::int64_t(j0) * ldb : b + j0;
      gemm_serial(trans_a, trans_b, m, cols, k, alpha, a, lda, bj, ldb, beta, c + j0, ldc);
    });
  } else {  // row blocks: C[i0:i1, :] = op(A)[i0:i1, :] op(B)
    const int block = (m + threads - 1) / threads;
    const int blocks = (m + block - 1) / block;
    parallel_for(blocks, std::int64_t(1) << 30, [&](std::int64_t t) {
      const int i0 = int(t) * block, rows = std::min(block, m - i0);
      const T* ai = trans_a ? a + i0 : a + std::int64_t(i0) * lda;
      gemm_serial(trans_a, trans_b, rows, n, k, alpha, ai, lda, b, ldb, beta, c + std::int64_t(i0) * ldc, ldc);
    });
  }
}

}  // namespace tailor::backend::cpu_detail
