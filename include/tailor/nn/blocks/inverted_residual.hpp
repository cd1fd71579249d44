#pragma once
// MobileNetV3's inverted residual block, as torchvision builds it from one configuration row
// (kernel, expanded width, output width, squeeze-excitation, activation, stride):
//   block.0  1x1 expansion conv-bn-act (absent when the expanded width equals the input width)
//   block.1  depthwise kxk conv-bn-act with the row's stride
//   block.2  squeeze-excitation (when the row has it)
//   block.3  1x1 projection conv-bn (no activation)
// plus the input when stride is 1 and the widths match.
#include <optional>

#include "../layers/squeeze_excitation.hpp"
#include "conv_bn_act.hpp"

namespace tailor::nn {

// torchvision's _make_divisible: round to a multiple of 8, never more than 10% below the value.
inline int make_divisible(double v, int divisor = 8) {
  int n = std::max(divisor, int(v + divisor / 2.0) / divisor * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

struct inverted_residual_config {
  int in, kernel, expanded, out;
  bool se;
  activation_kind act;
  int stride;
};

template <Backend B>
class inverted_residual {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  inverted_residual() = default;
  explicit inverted_residual(const inverted_residual_config& c, double bn_eps = 1e-3, double bn_momentum = 0.01)
      : residual_(c.stride == 1 && c.in == c.out) {
    if (c.expanded != c.in) expand_.emplace(conv_bn_act_options{c.in, c.expanded, 1, 1, 1, c.act, bn_eps, bn_momentum});
    depthwise_ = conv_bn_act<B>({c.expanded, c.expanded, c.kernel, c.stride, c.expanded, c.act, bn_eps, bn_momentum});
    if (c.se) se_.emplace(c.expanded, make_divisible(c.expanded / 4));
    project_ = conv_bn_act<B>({c.expanded, c.out, 1, 1, 1, activation_kind::identity, bn_eps, bn_momentum});
  }

  void init(rng& r) {
    if (expand_) expand_->init(r);
    depthwise_.init(r);
    if (se_) se_->init(r);
    project_.init(r);
  }

  tensor forward(tensor x, bool training) {
    std::optional<tensor> skip;
    if (residual_) skip = x;
    tensor h = expand_ ? expand_->forward(std::move(x), training) : std::move(x);
    h = depthwise_.forward(std::move(h), training);
    if (se_) h = se_->forward(std::move(h), training);
    h = project_.forward(std::move(h), training);
    if (skip) B::add_inplace(h, *skip);
    return h;
  }

  tensor backward(const tensor& dy, bool need_input_grad = true) {
    tensor g = project_.backward(dy);
    if (se_) g = se_->backward(g);
    g = depthwise_.backward(g, need_input_grad || expand_.has_value());
    if (expand_) g = expand_->backward(g, need_input_grad);
    if (residual_ && need_input_grad) B::add_inplace(g, dy);
    return g;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    visit_parts(prefix, [&](auto& part, const std::string& name) { part.visit_parameters(name, f); });
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    visit_parts(prefix, [&](auto& part, const std::string& name) { part.visit_buffers(name, f); });
  }
  void release_cache() {
    visit_parts("", [](auto& part, const std::string&) { part.release_cache(); });
  }
  int out_channels() const { return project_.out_channels(); }
  int stride() const { return depthwise_.stride(); }

 private:
  // torchvision numbers the parts of "block" consecutively, so the indices shift when a part is absent.
  template <class F>
  void visit_parts(const std::string& prefix, F&& f) {
    int i = 0;
    const std::string block = join_name(prefix, "block");
    if (expand_) f(*expand_, join_name(block, std::to_string(i++)));
    f(depthwise_, join_name(block, std::to_string(i++)));
    if (se_) f(*se_, join_name(block, std::to_string(i++)));
    f(project_, join_name(block, std::to_string(i++)));
  }

  bool residual_ = false;
  std::optional<conv_bn_act<B>> expand_;
  conv_bn_act<B> depthwise_;
  std::optional<squeeze_excitation<B>> se_;
  conv_bn_act<B> project_;
};

}  // namespace tailor::nn
