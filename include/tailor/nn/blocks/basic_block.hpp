#pragma once
// ResNet's basic block (ResNet-18/34), torchvision names: conv1, bn1, conv2, bn2 and, when the
// stride or the width changes, downsample.0 (1x1 conv) and downsample.1 (norm).
//   y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
#include <optional>

#include "../layers/activation.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/conv2d.hpp"

namespace tailor::nn {

template <Backend B>
class basic_block {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  basic_block() = default;
  basic_block(int in, int out, int stride)
      : conv1_(conv(in, out, 3, stride, 1)), bn1_(out), conv2_(conv(out, out, 3, 1, 1)), bn2_(out) {
    if (stride != 1 || in != out) {
      down_conv_.emplace(conv(in, out, 1, stride, 0));
      down_bn_.emplace(out);
    }
  }

  void init(rng& r) {
    conv1_.init(r);
    conv2_.init(r);
    bn1_.init(r);
    bn2_.init(r);
    if (down_conv_) {
      down_conv_->init(r);
      down_bn_->init(r);
    }
  }

  tensor forward(tensor x, bool training) {
    tensor shortcut = down_conv_ ? down_bn_->forward(down_conv_->forward(x, training), training) : x;
    tensor h = training ? relu1_.forward(bn1_.forward(conv1_.forward(std::move(x), true), true), true)
                        : bn1_.forward_inference(conv1_.forward(std::move(x), false), activation_kind::relu);
    h = bn2_.forward(conv2_.forward(std::move(h), training), training);
    B::add_inplace(h, shortcut);
    return relu2_.forward(std::move(h), training);
  }

  tensor backward(const tensor& dy, bool need_input_grad = true) {
    const tensor g = relu2_.backward(dy);  // flows into both branches
    tensor dx = conv1_.backward(bn1_.backward(relu1_.backward(conv2_.backward(bn2_.backward(g)))), need_input_grad);
    if (down_conv_) {
      tensor ds = down_conv_->backward(down_bn_->backward(g), need_input_grad);
      if (need_input_grad) B::add_inplace(dx, ds);
    } else if (need_input_grad) {
      B::add_inplace(dx, g);
    }
    return dx;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    conv1_.visit_parameters(join_name(prefix, "conv1"), f);
    bn1_.visit_parameters(join_name(prefix, "bn1"), f);
    conv2_.visit_parameters(join_name(prefix, "conv2"), f);
    bn2_.visit_parameters(join_name(prefix, "bn2"), f);
    if (down_conv_) {
      down_conv_->visit_parameters(join_name(prefix, "downsample.0"), f);
      down_bn_->visit_parameters(join_name(prefix, "downsample.1"), f);
    }
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    bn1_.visit_buffers(join_name(prefix, "bn1"), f);
    bn2_.visit_buffers(join_name(prefix, "bn2"), f);
    if (down_bn_) down_bn_->visit_buffers(join_name(prefix, "downsample.1"), f);
  }
  void release_cache() {
    conv1_.release_cache();
    conv2_.release_cache();
    bn1_.release_cache();
    bn2_.release_cache();
    relu1_.release_cache();
    relu2_.release_cache();
    if (down_conv_) {
      down_conv_->release_cache();
      down_bn_->release_cache();
    }
  }

 private:
  static conv2d_shape conv(int in, int out, int k, int stride, int pad) {
    conv2d_shape s;
    s.in_channels = in;
    s.out_channels = out;
    s.kernel_h = s.kernel_w = k;
    s.stride_h = s.stride_w = stride;
    s.pad_h = s.pad_w = pad;
    return s;
  }

  conv2d<B> conv1_;
  batch_norm2d<B> bn1_;
  activation<B> relu1_{activation_kind::relu};
  conv2d<B> conv2_;
  batch_norm2d<B> bn2_;
  activation<B> relu2_{activation_kind::relu};
  std::optional<conv2d<B>> down_conv_;
  std::optional<batch_norm2d<B>> down_bn_;
};

}  // namespace tailor::nn
