#pragma once
// A backbone plus a linear classification head on its pooled features: the whole network a
// classifier trains. Parameter names are torchvision's (the backbone's own, the head at the tag's
// head_name: "fc" for resnet, "classifier.3" for mobilenet_v3), so a torchvision state dict of a
// model with the same class count loads whole.
#include <cstdint>
#include <string>

#include "../nn/backbone.hpp"
#include "../nn/backbones/resnet.hpp"
#include "../nn/concepts.hpp"
#include "../nn/init.hpp"
#include "../nn/layers/linear.hpp"

namespace tailor::task {

// A backbone tag: tailor::nn::resnet<18>, nn::mobilenet_v3_small, nn::small_cnn, ...
template <class Tag>
concept BackboneTag = requires {
  { Tag::name } -> std::convertible_to<std::string_view>;
  { Tag::head_name } -> std::convertible_to<std::string_view>;
};

template <class Tag, nn::Backend B>
class classification_network {
  static_assert(BackboneTag<Tag>, "tailor: the backbone must be a tag with name, head_name and make<Backend>() "
                                  "(tailor::nn::resnet<18>, nn::mobilenet_v3_small, nn::small_cnn, ...)");

 public:
  using backend = B;
  using tensor = typename B::tensor;
  using backbone_type = decltype(Tag::template make<B>());
  static constexpr std::string_view backbone_name = Tag::name;

  classification_network(int classes, const nn::backbone_options& o = {}, std::uint64_t seed = 0)
      : backbone_(Tag::template make<B>(o)), head_(backbone_.feature_dim(), classes) {
    nn::rng r(seed);
    backbone_.init(r);
    // torchvision: resnet's fc keeps Linear's default init; mobilenet_v3's classifier N(0, 0.01).
    if (Tag::head_name == std::string_view("classifier.3")) {
      nn::normal(head_.weight().value, 0.01, r);
      nn::constant(head_.bias().value, 0.0);
    } else {
      head_.init(r);
    }
  }

  tensor forward(tensor x, bool training) { return head_.forward(backbone_.forward(std::move(x), training), training); }
  void backward(const tensor& d_logits) {
    const bool backbone_trains = backbone_.any_trainable();
    tensor g = head_.backward(d_logits, backbone_trains);
    if (backbone_trains) backbone_.backward(g);
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    backbone_.visit_parameters(prefix, f);
    head_.visit_parameters(nn::join_name(prefix, std::string(Tag::head_name)), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    backbone_.visit_buffers(prefix, f);
  }

  int classes() const { return head_.out_features(); }
  backbone_type& backbone() { return backbone_; }
  nn::linear<B>& head() { return head_; }
  void release_cache() {
    backbone_.release_cache();
    head_.release_cache();
  }

 private:
  backbone_type backbone_;
  nn::linear<B> head_;
};

}  // namespace tailor::task
