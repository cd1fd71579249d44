#pragma once
// Parameter updates, torch.optim semantics (checked against torch in tests):
//   SGD: g = grad + wd p; buf = momentum buf + g (buf = g on the first step); g = nesterov ? g + momentum buf : buf;
//        p -= lr g
//   AdamW: p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//          p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#include <cmath>
#include <cstdint>

#include "activation.hpp"  // for_blocks

namespace tailor::backend::cpu_detail {

template <class T>
void sgd_update(std::int64_t n, T* p, const T* grad, T* buf, double lr, double momentum, double weight_decay, bool nesterov,
                bool first_step) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    for (auto i = b; i < e; ++i) {
      double g = double(grad[i]) + weight_decay * double(p[i]);
      if (momentum != 0) {
        const double v = first_step ? g : momentum * double(buf[i]) + g;
        buf[i] = T(v);
        g = nesterov ? g + momentum * v : v;
      }
      p[i] = T(double(p[i]) - lr * g);
    }
  });
}

template <class T>
void adamw_update(std::int64_t n, T* p, const T* grad, T* m, T* v, double lr, double beta1, double beta2, double eps,
                  double weight_decay, std::int64_t step) {
  const double c1 = 1 - std::pow(beta1, double(step)), c2 = 1 - std::pow(beta2, double(step));
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    for (auto i = b; i < e; ++i) {
      const double g = grad[i];
      double w = double(p[i]) * (1 - lr * weight_decay);
      const double mi = beta1 * double(m[i]) + (1 - beta1) * g, vi = beta2 * double(v[i]) + (1 - beta2) * g * g;
      m[i] = T(mi);
      v[i] = T(vi);
      w -= lr * (mi / c1) / (std::sqrt(vi / c2) + eps);
      p[i] = T(w);
    }
  });
}

template <class T>
double squared_norm(std::int64_t n, const T* x) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

template <class T>
void scale(std::int64_t n, T* x, double k) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    for (auto i = b; i < e; ++i) x[i] = T(double(x[i]) * k);
  });
}

}  // namespace tailor::backend::cpu_detail
