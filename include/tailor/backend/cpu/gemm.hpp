#pragma once
// Row-major GEMM through CBLAS (OpenBLAS): C = alpha * op(A) * op(B) + beta * C, in float or double.
// Double exists so that gradient checks run the very same layer code with 1e-8 finite differences.
#include <cblas.h>

#include <type_traits>

namespace tailor::backend::cpu_detail {

template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
          T* c, int ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "the CPU backend computes in float or double");
  if (m == 0 || n == 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tailor::backend::cpu_detail
