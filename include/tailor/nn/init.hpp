#pragma once
// Weight initialisation as torchvision initialises its backbones: Kaiming-normal with fan_out for
// convolutions (resnet, mobilenet_v3), PyTorch's default uniform for linear layers, constants for norms.
#include <cmath>
#include <cstdint>
#include <random>

namespace tailor::nn {

using rng = std::mt19937_64;

// N(0, sqrt(2 / fan_out)), fan_out = out_channels * kernel area / groups... as torch computes it:
// fan_out = size(0) * receptive field, which for grouped convs counts out_channels, not per group.
template <class Array>
void kaiming_normal_fan_out(Array& w, rng& r) {
  const auto& s = w.shape();
  double receptive = 1;
  for (std::size_t i = 2; i < s.size(); ++i) receptive *= double(s[i]);
  const double std_dev = std::sqrt(2.0 / (double(s[0]) * receptive));
  std::normal_distribution<double> d(0.0, std_dev);
  for (auto& v : w) v = static_cast<typename Array::value_type>(d(r));
}

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): nn.Linear's default (kaiming_uniform with a = sqrt(5)).
template <class Array>
void uniform_fan_in(Array& w, std::size_t fan_in, rng& r) {
  const double bound = 1.0 / std::sqrt(double(fan_in == 0 ? 1 : fan_in));
  std::uniform_real_distribution<double> d(-bound, bound);
  for (auto& v : w) v = static_cast<typename Array::value_type>(d(r));
}

template <class Array>
void normal(Array& w, double std_dev, rng& r) {
  std::normal_distribution<double> d(0.0, std_dev);
  for (auto& v : w) v = static_cast<typename Array::value_type>(d(r));
}

template <class Array>
void constant(Array& w, double value) {
  for (auto& v : w) v = static_cast<typename Array::value_type>(value);
}

}  // namespace tailor::nn
