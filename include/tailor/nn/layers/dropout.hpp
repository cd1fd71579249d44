#pragma once
// Inverted dropout: zeroes each activation with probability p in training and scales the rest by
// 1 / (1 - p); identity in inference. The mask comes from (seed, call count), so a run is repeatable.
#include <cstdint>

#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../concepts.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

template <Backend B>
class dropout {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  dropout() = default;
  explicit dropout(double p, std::uint64_t seed = 0) : p_(p), seed_(seed) {
    if (!(p >= 0.0 && p < 1.0)) throw error(failure_code::invalid_argument, fmt::format("dropout: p must be in [0, 1), got {}", p));
  }
  void reseed(std::uint64_t seed) {
    seed_ = seed;
    calls_ = 0;
  }

  tensor forward(tensor x, bool training) {
    active_ = training && p_ > 0;
    if (!active_) return x;
    tensor y;
    // Each call draws from a fresh stretch of the counter space.
    B::dropout_forward(x, p_, seed_ * 0x9E3779B97F4A7C15ull + (calls_++ << 40), mask_, y);
    return y;
  }
  tensor backward(const tensor& dy) {
    if (!active_) return dy;
    tensor dx;
    B::multiply(dy, mask_, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  double p() const { return p_; }
  void release_cache() { mask_ = tensor(); }

 private:
  double p_ = 0;
  std::uint64_t seed_ = 0, calls_ = 0;
  bool active_ = false;
  tensor mask_;
};

}  // namespace tailor::nn
