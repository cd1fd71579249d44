#pragma once
// Linear (fully connected) layer on N x C x H x W input flattened per sample (this also serves as
// "flatten"): weight (out, in), bias (out), as torch.nn.Linear. Output N x out x 1 x 1.
#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../concepts.hpp"
#include "../init.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

template <Backend B>
class linear {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  linear() = default;
  linear(int in_features, int out_features, bool with_bias = true)
      : in_(in_features), out_(out_features), has_bias_(with_bias) {
    if (in_features <= 0 || out_features <= 0)
      throw error(failure_code::invalid_argument, fmt::format("linear: features must be positive (in {}, out {})", in_features, out_features));
    weight_.resize({std::size_t(out_), std::size_t(in_)});
    if (has_bias_) {
      bias_.resize({std::size_t(out_)});
      bias_.decay = false;
    }
  }

  // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  void init(rng& r) {
    uniform_fan_in(weight_.value, std::size_t(in_), r);
    if (has_bias_) uniform_fan_in(bias_.value, std::size_t(in_), r);
  }

  tensor forward(tensor x, bool training) {
    const std::size_t per_sample = x.shape()[0] ? x.size() / x.shape()[0] : 0;
    if (per_sample != std::size_t(in_))
      throw error(failure_code::invalid_argument,
                  fmt::format("linear: input has {} features per sample ({}x{}x{}), the layer expects {}", per_sample,
                              x.shape()[1], x.shape()[2], x.shape()[3], in_));
    tensor y;
    B::linear_forward(x, weight_.value, has_bias_ ? &bias_.value : nullptr, y);
    if (training) input_ = std::move(x);
    return y;
  }
  tensor backward(const tensor& dy, bool need_input_grad = true) {
    tensor dx;
    B::linear_backward(input_, weight_.value, dy, need_input_grad ? &dx : nullptr, weight_.frozen ? nullptr : &weight_.grad,
                       has_bias_ && !bias_.frozen ? &bias_.grad : nullptr);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    if (has_bias_) f(join_name(prefix, "bias"), bias_);
  }
  template <class F>
  void visit_buffers(const std::string&, F&&) {}

  int in_features() const { return in_; }
  int out_features() const { return out_; }
  parameter<B>& weight() { return weight_; }
  parameter<B>& bias() { return bias_; }
  void release_cache() { input_ = tensor(); }

 private:
  int in_ = 0, out_ = 0;
  bool has_bias_ = true;
  parameter<B> weight_, bias_;
  tensor input_;
};

}  // namespace tailor::nn
