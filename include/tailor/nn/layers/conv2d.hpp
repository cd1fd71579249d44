#pragma once
// conv2d layer: any kernel, stride, padding, dilation and groups (depthwise included), optional
// bias. Parameters: weight (out, in/groups, kh, kw) and bias (out), torch's names and shapes.
#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../concepts.hpp"
#include "../conv2d_shape.hpp"
#include "../init.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

template <Backend B>
class conv2d {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  conv2d() = default;
  explicit conv2d(const conv2d_shape& s, bool with_bias = false) : shape_(s), has_bias_(with_bias) {
    s.validate();
    weight_.resize({std::size_t(s.out_channels), std::size_t(s.in_per_group()), std::size_t(s.kernel_h), std::size_t(s.kernel_w)});
    if (has_bias_) {
      bias_.resize({std::size_t(s.out_channels)});
      bias_.decay = false;
    }
  }

  // Kaiming-normal (fan_out), zero bias: torchvision's init for resnet and mobilenet_v3.
  void init(rng& r) {
    kaiming_normal_fan_out(weight_.value, r);
    if (has_bias_) constant(bias_.value, 0.0);
  }

  tensor forward(tensor x, bool training) {
    if (x.shape()[1] != std::size_t(shape_.in_channels))
      throw error(failure_code::invalid_argument,
                  fmt::format("conv2d: input has {} channels, the layer expects {}", x.shape()[1], shape_.in_channels));
    shape_.check_input(int(x.shape()[2]), int(x.shape()[3]));
    tensor y;
    B::conv2d_forward(shape_, x, weight_.value, has_bias_ ? &bias_.value : nullptr, y, workspace_);
    if (training) input_ = std::move(x);
    return y;
  }

  // need_input_grad = false for the first layer of a network (nobody needs d/d image).
  tensor backward(const tensor& dy, bool need_input_grad = true) {
    tensor dx;
    B::conv2d_backward(shape_, input_, weight_.value, dy, need_input_grad ? &dx : nullptr,
                       weight_.frozen ? nullptr : &weight_.grad, has_bias_ && !bias_.frozen ? &bias_.grad : nullptr,
                       workspace_);
    return dx;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    if (has_bias_) f(join_name(prefix, "bias"), bias_);
  }
  template <class F>
  void visit_buffers(const std::string&, F&&) {}

  const conv2d_shape& shape() const { return shape_; }
  parameter<B>& weight() { return weight_; }
  parameter<B>& bias() { return bias_; }
  void release_cache() { input_ = tensor(); }

 private:
  conv2d_shape shape_;
  bool has_bias_ = false;
  parameter<B> weight_, bias_;
  tensor input_;
  typename B::workspace workspace_;
};

}  // namespace tailor::nn
