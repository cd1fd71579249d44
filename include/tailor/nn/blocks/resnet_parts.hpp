#pragma once
// The two kinds of unit a torchvision ResNet is made of: the stem (conv1 7x7/2, bn1, relu,
// maxpool 3x3/2 — parameters at the top level, "conv1.weight", "bn1.weight") and a layer
// ("layer1" ... "layer4": a run of basic blocks, "layer2.0.conv1.weight").
#include <vector>

#include "../layers/pooling.hpp"
#include "basic_block.hpp"
#include "conv_bn_act.hpp"

namespace tailor::nn {

template <Backend B>
class resnet_stem {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  resnet_stem() = default;
  explicit resnet_stem(int width) : conv_(conv_bn_act<B>::shape({3, width, 7, 2})), bn_(width) {}

  void init(rng& r) {
    conv_.init(r);
    bn_.init(r);
  }
  tensor forward(tensor x, bool training) {
    return pool_.forward(relu_.forward(bn_.forward(conv_.forward(std::move(x), training), training), training), training);
  }
  tensor backward(const tensor& dy, bool need_input_grad = true) {
    return conv_.backward(bn_.backward(relu_.backward(pool_.backward(dy))), need_input_grad);
  }
  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    conv_.visit_parameters(join_name(prefix, "conv1"), f);
    bn_.visit_parameters(join_name(prefix, "bn1"), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    bn_.visit_buffers(join_name(prefix, "bn1"), f);
  }
  void release_cache() {
    conv_.release_cache();
    bn_.release_cache();
    relu_.release_cache();
    pool_.release_cache();
  }

 private:
  conv2d<B> conv_;
  batch_norm2d<B> bn_;
  activation<B> relu_{activation_kind::relu};
  max_pool2d<B> pool_{3, 2, 1};
};

template <Backend B>
class resnet_layer {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  resnet_layer() = default;
  resnet_layer(int in, int out, int blocks, int stride) {
    for (int i = 0; i < blocks; ++i) blocks_.emplace_back(i == 0 ? in : out, out, i == 0 ? stride : 1);
  }
  void init(rng& r) {
    for (auto& b : blocks_) b.init(r);
  }
  tensor forward(tensor x, bool training) {
    for (auto& b : blocks_) x = b.forward(std::move(x), training);
    return x;
  }
  tensor backward(const tensor& dy, bool need_input_grad = true) {
    tensor g = dy;
    for (std::size_t i = blocks_.size(); i-- > 0;) g = blocks_[i].backward(g, need_input_grad || i > 0);
    return g;
  }
  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    for (std::size_t i = 0; i < blocks_.size(); ++i) blocks_[i].visit_parameters(join_name(prefix, std::to_string(i)), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    for (std::size_t i = 0; i < blocks_.size(); ++i) blocks_[i].visit_buffers(join_name(prefix, std::to_string(i)), f);
  }
  void release_cache() {
    for (auto& b : blocks_) b.release_cache();
  }

 private:
  std::vector<basic_block<B>> blocks_;
};

}  // namespace tailor::nn
