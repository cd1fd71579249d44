#pragma once
// Batch normalisation over N, H, W for each channel (NCHW), as torch.nn.BatchNorm2d: biased
// variance to normalise, unbiased variance for the running estimate. Sums are taken in double so
// a 32x64x64 batch does not lose float precision; one thread owns each channel.
#include <cmath>
#include <cstdint>

#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

struct batch_norm_dims {
  std::int64_t n = 0, c = 0, plane = 0;
  std::int64_t count() const { return n * plane; }
};

// Training: normalise with the batch statistics; writes mean and inverse std per channel and the
// biased variance (for the running update).
template <class T>
void batch_norm_forward_train(const batch_norm_dims& d, const T* x, const T* gamma, const T* beta, double eps, T* y,
                              T* mean_out, T* invstd_out, T* var_out) {
  parallel_for(d.c, 2 * d.count(), [&](std::int64_t c) {
    double sum = 0;
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* p = x + (n * d.c + c) * d.plane;
      for (std::int64_t i = 0; i < d.plane; ++i) sum += p[i];
    }
    const double mean = sum / double(d.count());
    double sq = 0;
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* p = x + (n * d.c + c) * d.plane;
      for (std::int64_t i = 0; i < d.plane; ++i) sq += (p[i] - mean) * (p[i] - mean);
    }
    const double var = sq / double(d.count()), invstd = 1.0 / std::sqrt(var + eps);
    const T scale = T(gamma[c] * invstd), shift = T(beta[c] - mean * invstd * gamma[c]);
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* p = x + (n * d.c + c) * d.plane;
      T* q = y + (n * d.c + c) * d.plane;
      for (std::int64_t i = 0; i < d.plane; ++i) q[i] = p[i] * scale + shift;
    }
    mean_out[c] = T(mean);
    invstd_out[c] = T(invstd);
    var_out[c] = T(var);
  });
}

// Inference: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
template <class T>
void batch_norm_forward_eval(const batch_norm_dims& d, const T* x, const T* gamma, const T* beta, const T* running_mean,
                             const T* running_var, double eps, T* y) {
  parallel_for(d.n * d.c, d.plane, [&](std::int64_t nc) {
    const std::int64_t c = nc % d.c;
    const double invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
    const T scale = T(gamma[c] * invstd), shift = T(beta[c] - running_mean[c] * invstd * gamma[c]);
    const T* p = x + nc * d.plane;
    T* q = y + nc * d.plane;
    for (std::int64_t i = 0; i < d.plane; ++i) q[i] = p[i] * scale + shift;
  });
}

// Backward. With batch statistics (training) the mean and variance depend on x:
//   dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat));
// with fixed statistics (a frozen, eval-mode norm) dx = dy * gamma * invstd.
// Accumulates dgamma += sum(dy * xhat), dbeta += sum(dy).
template <class T>
void batch_norm_backward(const batch_norm_dims& d, bool batch_statistics, const T* x, const T* dy, const T* gamma,
                         const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta) {
  parallel_for(d.c, 2 * d.count(), [&](std::int64_t c) {
    const double m = mean[c], is = invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* p = x + (n * d.c + c) * d.plane;
      const T* g = dy + (n * d.c + c) * d.plane;
      for (std::int64_t i = 0; i < d.plane; ++i) {
        sum_dy += g[i];
        sum_dy_xhat += g[i] * (p[i] - m) * is;
      }
    }
    if (dgamma) dgamma[c] += T(sum_dy_xhat);
    if (dbeta) dbeta[c] += T(sum_dy);
    if (!dx) return;
    const double M = double(d.count()), k = gamma[c] * is;
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* p = x + (n * d.c + c) * d.plane;
      const T* g = dy + (n * d.c + c) * d.plane;
      T* q = dx + (n * d.c + c) * d.plane;
      if (batch_statistics) {
        const double a = sum_dy / M, b = sum_dy_xhat / M;
        for (std::int64_t i = 0; i < d.plane; ++i) q[i] = T(k * (g[i] - a - (p[i] - m) * is * b));
      } else {
        for (std::int64_t i = 0; i < d.plane; ++i) q[i] = T(k * g[i]);
      }
    }
  });
}

}  // namespace tailor::backend::cpu_detail
