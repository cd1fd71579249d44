#pragma once
// Squeeze-and-excitation as torchvision's SqueezeExcitation (MobileNetV3): global average pool,
// fc1 (1x1 conv with bias) -> ReLU -> fc2 (1x1 conv with bias) -> hard-sigmoid, and the input's
// channels scaled by the result. Parameters fc1.weight, fc1.bias, fc2.weight, fc2.bias.
#include "../activation_kind.hpp"
#include "../concepts.hpp"
#include "../parameter.hpp"
#include "activation.hpp"
#include "conv2d.hpp"
#include "pooling.hpp"

namespace tailor::nn {

template <Backend B>
class squeeze_excitation {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  squeeze_excitation() = default;
  squeeze_excitation(int channels, int squeeze_channels, activation_kind inner = activation_kind::relu,
                     activation_kind gate = activation_kind::hard_sigmoid)
      : fc1_(pointwise(channels, squeeze_channels), true),
        fc2_(pointwise(squeeze_channels, channels), true),
        inner_(inner),
        gate_(gate) {}

  void init(rng& r) {
    fc1_.init(r);
    fc2_.init(r);
  }

  tensor forward(tensor x, bool training) {
    tensor s = pool_.forward(x, training);  // copy: x is kept for the scaling
    s = fc1_.forward(std::move(s), training);
    s = inner_.forward(std::move(s), training);
    s = fc2_.forward(std::move(s), training);
    s = gate_.forward(std::move(s), training);
    tensor y;
    B::scale_channels(x, s, y);
    if (training) {
      input_ = std::move(x);
      scale_ = std::move(s);
    }
    return y;
  }

  tensor backward(const tensor& dy) {
    tensor dx, ds;
    B::scale_channels_backward(input_, scale_, dy, dx, ds);
    ds = gate_.backward(ds);
    ds = fc2_.backward(ds);
    ds = inner_.backward(ds);
    ds = fc1_.backward(ds);
    B::add_inplace(dx, pool_.backward(ds));
    return dx;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    fc1_.visit_parameters(join_name(prefix, "fc1"), f);
    fc2_.visit_parameters(join_name(prefix, "fc2"), f);
  }
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  void release_cache() {
    input_ = scale_ = tensor();
    fc1_.release_cache();
    fc2_.release_cache();
    inner_.release_cache();
    gate_.release_cache();
  }

 private:
  static conv2d_shape pointwise(int in, int out) {
    conv2d_shape s;
    s.in_channels = in;
    s.out_channels = out;
    return s;
  }
  global_avg_pool<B> pool_;
  conv2d<B> fc1_, fc2_;
  activation<B> inner_, gate_;
  tensor input_, scale_;
};

}  // namespace tailor::nn
