#pragma once
// Batch normalisation over N, H, W for each channel (NCHW), as torch.nn.BatchNorm2d: biased
// variance to normalise, unbiased variance for the running estimate. Sums are taken in double so
// a 32x64x64 batch does not lose float precision; one thread owns each channel.
#include <cmath>
#include <cstdint>

#include "../../nn/activation_kind.hpp"
#include "activation.hpp"
#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

namespace batch_norm_detail {

// The loops over one plane, apart (restrict) and in fixed lanes so that the compiler vectorises
// them; sums are in double, in the same order on every run.
template <class T>
double sum(const T* __restrict p, std::int64_t n) {
  double lane[4] = {};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) lane[l] += double(p[i + l]);
  for (; i < n; ++i) lane[0] += double(p[i]);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

template <class T>
double centered_squares(const T* __restrict p, std::int64_t n, double mean) {
  double lane[4] = {};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      const double v = double(p[i + l]) - mean;
      lane[l] += v * v;
    }
  for (; i < n; ++i) lane[0] += (double(p[i]) - mean) * (double(p[i]) - mean);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

// sum(g) and sum(g * (p - mean)) over one plane.
template <class T>
void gradient_sums(const T* __restrict p, const T* __restrict g, std::int64_t n, double mean, double& sum_g,
                   double& sum_g_centered) {
  double a[4] = {}, b[4] = {};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      a[l] += double(g[i + l]);
      b[l] += double(g[i + l]) * (double(p[i + l]) - mean);
    }
  for (; i < n; ++i) {
    a[0] += double(g[i]);
    b[0] += double(g[i]) * (double(p[i]) - mean);
  }
  sum_g += (a[0] + a[1]) + (a[2] + a[3]);
  sum_g_centered += (b[0] + b[1]) + (b[2] + b[3]);
}

template <class T>
void scale_shift(const T* __restrict p, T* __restrict q, std::int64_t n, T scale, T shift) {
  for (std::int64_t i = 0; i < n; ++i) q[i] = p[i] * scale + shift;
}

// q = k * (g - a - (p - mean) * c), c = invstd * b.
template <class T>
void input_gradient(const T* __restrict p, const T* __restrict g, T* __restrict q, std::int64_t n, T k, T a, T mean, T c) {
  for (std::int64_t i = 0; i < n; ++i) q[i] = k * (g[i] - a - (p[i] - mean) * c);
}

}  // namespace batch_norm_detail

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
    for (std::int64_t n = 0; n < d.n; ++n) sum += batch_norm_detail::sum(x + (n * d.c + c) * d.plane, d.plane);
    const double mean = sum / double(d.count());
    double sq = 0;
    for (std::int64_t n = 0; n < d.n; ++n)
      sq += batch_norm_detail::centered_squares(x + (n * d.c + c) * d.plane, d.plane, mean);
    const double var = sq / double(d.count()), invstd = 1.0 / std::sqrt(var + eps);
    const T scale = T(gamma[c] * invstd), shift = T(beta[c] - mean * invstd * gamma[c]);
    for (std::int64_t n = 0; n < d.n; ++n)
      batch_norm_detail::scale_shift(x + (n * d.c + c) * d.plane, y + (n * d.c + c) * d.plane, d.plane, scale, shift);
    mean_out[c] = T(mean);
    invstd_out[c] = T(invstd);
    var_out[c] = T(var);
  });
}

// Inference: y = act((x - running_mean) / sqrt(running_var + eps) * gamma + beta), in one pass
// (y may be x: the block of a conv -> norm -> activation runs in place).
template <class T>
void batch_norm_forward_eval(const batch_norm_dims& d, const T* x, const T* gamma, const T* beta, const T* running_mean,
                             const T* running_var, double eps, T* y,
                             nn::activation_kind act = nn::activation_kind::identity) {
  parallel_for(d.n * d.c, d.plane, [&](std::int64_t nc) {
    const std::int64_t c = nc % d.c;
    const double invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
    const T scale = T(gamma[c] * invstd), shift = T(beta[c] - running_mean[c] * invstd * gamma[c]);
    const T* p = x + nc * d.plane;
    T* q = y + nc * d.plane;
    visit_activation<T>(act, [&](auto op) {
      TAILOR_INDEPENDENT_ITERATIONS
      for (std::int64_t i = 0; i < d.plane; ++i) q[i] = op(p[i] * scale + shift);
    });
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
    double sum_dy = 0, sum_dy_centered = 0;
    for (std::int64_t n = 0; n < d.n; ++n)
      batch_norm_detail::gradient_sums(x + (n * d.c + c) * d.plane, dy + (n * d.c + c) * d.plane, d.plane, m, sum_dy,
                                       sum_dy_centered);
    const double sum_dy_xhat = sum_dy_centered * is;
    if (dgamma) dgamma[c] += T(sum_dy_xhat);
    if (dbeta) dbeta[c] += T(sum_dy);
    if (!dx) return;
    const double M = double(d.count()), k = gamma[c] * is;
    const double a = batch_statistics ? sum_dy / M : 0.0, b = batch_statistics ? sum_dy_xhat / M : 0.0;
    for (std::int64_t n = 0; n < d.n; ++n)
      batch_norm_detail::input_gradient(x + (n * d.c + c) * d.plane, dy + (n * d.c + c) * d.plane,
                                        dx + (n * d.c + c) * d.plane, d.plane, T(k), T(a), T(m), T(is * b));
  });
}

}  // namespace tailor::backend::cpu_detail
