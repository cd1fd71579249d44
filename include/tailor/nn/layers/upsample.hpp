#pragma once
// Nearest-neighbour upsampling by an integer factor (torch's nn.Upsample(mode="nearest")): the
// top-down path of a feature pyramid. No parameters.
#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../concepts.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

template <Backend B>
class upsample_nearest {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  explicit upsample_nearest(int factor = 2) : factor_(factor) {
    if (factor < 1) throw error(failure_code::invalid_argument, fmt::format("upsample_nearest: factor {} must be at least 1", factor));
  }

  tensor forward(tensor x, bool) {
    if (factor_ == 1) return x;
    tensor y;
    B::upsample_nearest_forward(x, factor_, y);
    return y;
  }
  tensor backward(const tensor& dy) {
    if (factor_ == 1) return dy;
    if (dy.shape()[2] % std::size_t(factor_) || dy.shape()[3] % std::size_t(factor_))
      throw error(failure_code::invalid_argument, fmt::format("upsample_nearest: gradient of {}x{} is not a multiple of the "
                                                              "factor {}", dy.shape()[2], dy.shape()[3], factor_));
    tensor dx;
    B::upsample_nearest_backward(dy, factor_, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  void release_cache() {}
  int factor() const { return factor_; }

 private:
  int factor_ = 2;
};

}  // namespace tailor::nn
