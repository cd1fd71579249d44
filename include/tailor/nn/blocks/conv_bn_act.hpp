#pragma once
// conv -> batch norm -> activation, torchvision's Conv2dNormActivation: parameters "0.weight",
// "1.weight", "1.bias" and the norm's buffers. The activation may be identity (a projection).
#include "../layers/activation.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/conv2d.hpp"

namespace tailor::nn {

struct conv_bn_act_options {
  int in = 0, out = 0, kernel = 3, stride = 1, groups = 1;
  activation_kind act = activation_kind::relu;
  double bn_eps = 1e-5, bn_momentum = 0.1;
};

template <Backend B>
class conv_bn_act {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  conv_bn_act() = default;
  explicit conv_bn_act(const conv_bn_act_options& o)
      : conv_(shape(o)), bn_(o.out, o.bn_eps, o.bn_momentum), act_(o.act) {}

  static conv2d_shape shape(const conv_bn_act_options& o) {
    conv2d_shape s;
    s.in_channels = o.in;
    s.out_channels = o.out;
    s.kernel_h = s.kernel_w = o.kernel;
    s.stride_h = s.stride_w = o.stride;
    s.pad_h = s.pad_w = (o.kernel - 1) / 2;
    s.groups = o.groups;
    return s;
  }

  void init(rng& r) {
    conv_.init(r);
    bn_.init(r);
  }
  tensor forward(tensor x, bool training) {
    if (!training) return bn_.forward_inference(conv_.forward(std::move(x), false), act_.kind());
    return act_.forward(bn_.forward(conv_.forward(std::move(x), training), training), training);
  }
  tensor backward(const tensor& dy, bool need_input_grad = true) {
    return conv_.backward(bn_.backward(act_.backward(dy)), need_input_grad);
  }
  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    conv_.visit_parameters(join_name(prefix, "0"), f);
    bn_.visit_parameters(join_name(prefix, "1"), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    bn_.visit_buffers(join_name(prefix, "1"), f);
  }
  void release_cache() {
    conv_.release_cache();
    bn_.release_cache();
    act_.release_cache();
  }
  int out_channels() const { return conv_.shape().out_channels; }
  int stride() const { return conv_.shape().stride_h; }

 private:
  conv2d<B> conv_;
  batch_norm2d<B> bn_;
  activation<B> act_;
};

}  // namespace tailor::nn
