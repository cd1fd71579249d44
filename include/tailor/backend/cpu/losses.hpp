#pragma once
// Classification losses on logits (N x C), each returning the mean loss and writing d loss / d logits:
//   softmax cross-entropy with label smoothing (torch.nn.CrossEntropyLoss(label_smoothing=e)):
//     q = (1 - e) one_hot(y) + e / C,  loss = mean_i -sum_c q_c log softmax(z_i)_c,  grad = (p - q) / N
//   sigmoid binary cross-entropy (torch.nn.BCEWithLogitsLoss, mean over N*C elements):
//     loss = max(z, 0) - z y + log(1 + exp(-|z|)),  grad = (sigmoid(z) - y) / (N C)
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "activation.hpp"  // sigmoid

namespace tailor::backend::cpu_detail {

template <class T>
double softmax_cross_entropy(int n, int c, const T* logits, const std::int32_t* labels, double smoothing, T* grad) {
  double total = 0;
  for (int i = 0; i < n; ++i) {
    const T* z = logits + std::int64_t{i} * c;
    T* g = grad + std::int64_t{i} * c;
    const double zmax = *std::max_element(z, z + c);
    double sum = 0;
    for (int k = 0; k < c; ++k) sum += std::exp(double(z[k]) - zmax);
    const double log_sum = std::log(sum) + zmax;
    double loss = 0;
    for (int k = 0; k < c; ++k) {
      const double q = (k == labels[i] ? 1.0 - smoothing : 0.0) + smoothing / c;
      const double log_p = double(z[k]) - log_sum;
      loss -= q * log_p;
      g[k] = T((std::exp(log_p) - q) / n);
    }
    total += loss;
  }
  return total / n;
}

template <class T>
double sigmoid_binary_cross_entropy(int n, int c, const T* logits, const T* targets, T* grad) {
  const std::int64_t count = std::int64_t{n} * c;
  double total = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const double z = logits[i], y = targets[i];
    total += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
    grad[i] = T((sigmoid(z) - y) / double(count));
  }
  return total / double(count);
}

}  // namespace tailor::backend::cpu_detail
