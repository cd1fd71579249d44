#pragma once
// The detector: a backbone's feature maps at strides 8, 16 and 32, a light feature pyramid (FPN:
// 1x1 lateral convolutions, nearest-neighbour top-down path, 3x3 output convolutions) and an
// FCOS-style anchor-free head on each level: two towers of conv-BN-ReLU, one for classification and
// one for the box, then three 3x3 predictions per point: class logits (C) from the first, box
// distances (4: left, top, right, bottom; the distance in input pixels is stride * exp(value)) and
// a centerness logit (1) from the second, as FCOS places them.
//
// Each level has its own head. FCOS shares one head across levels; with the CPU layers keeping
// their inputs for backward, sharing means three caches per layer, and on the small datasets this
// library trains on, per-level heads (as YOLOv8's) train as well. The neck and head start from
// scratch; the backbone's parameters keep their classification names (no prefix), so the same
// pretrained safetensors file loads into a classifier or a detector.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../nn/backbone.hpp"
#include "../nn/blocks/conv_bn_act.hpp"
#include "../nn/concepts.hpp"
#include "../nn/init.hpp"
#include "../nn/layers/conv2d.hpp"
#include "../nn/layers/upsample.hpp"
#include "../task/classification_network.hpp"  // BackboneTag

namespace tailor::detection {

struct detector_options {
  int fpn_channels = 64;  // width of the pyramid and the heads
  int head_convs = 2;     // conv-BN-ReLU layers in each of a level's two towers before the predictions
  // The levels that have an output convolution and a head, finest first: 3 for the FCOS head, 1 for
  // the CenterNet-style head, which reads the stride-8 level only (the coarser levels still feed it
  // through the top-down path). Outputs of levels without a head are empty.
  int head_levels = 3;
  nn::backbone_options backbone;
  double prior_probability = 0.01;  // the class logits start at this probability (focal loss's prior)
};

inline constexpr int pyramid_level_count = 3;
inline constexpr std::array<int, 3> pyramid_strides{8, 16, 32};
// The input side must be a multiple of the coarsest stride, so that each level is exactly twice
// the next one and the top-down path adds maps of equal size.
inline constexpr int input_multiple = 32;

// A box logit becomes a distance of stride * exp(value); the value is clamped to this range first
// (its gradient is zero outside), so that an early wild prediction cannot overflow.
inline constexpr float box_logit_limit = 8.0f;

inline float box_distance(float logit, int stride) { return float(stride) * std::exp(std::clamp(logit, -box_logit_limit, box_logit_limit)); }

template <nn::Backend B>
struct detector_outputs {
  using tensor = typename B::tensor;
  std::array<tensor, 3> class_logits;  // N x C x H_l x W_l
  std::array<tensor, 3> box_logits;    // N x 4 x H_l x W_l: distance = stride * exp(value)
  std::array<tensor, 3> centerness;    // N x 1 x H_l x W_l logits
};

template <class Tag, nn::Backend B>
class detector_network {
  static_assert(task::BackboneTag<Tag>, "tailor: the backbone must be a tag with name, head_name and make<Backend>() "
                                        "(tailor::nn::resnet<18>, nn::mobilenet_v3_small, ...)");

 public:
  using backend = B;
  using tensor = typename B::tensor;
  using backbone_type = decltype(Tag::template make<B>());
  using outputs = detector_outputs<B>;
  static constexpr std::string_view backbone_name = Tag::name;

  detector_network(int classes, const detector_options& o = {}, std::uint64_t seed = 0)
      : backbone_(Tag::template make<B>(o.backbone)), classes_(classes), up_{nn::upsample_nearest<B>(2), nn::upsample_nearest<B>(2)} {
    if (classes < 1) throw error(failure_code::invalid_argument, fmt::format("detector: {} classes; a detector needs at least one", classes));
    if (o.fpn_channels < 1 || o.head_convs < 0 || o.head_levels < 1 || o.head_levels > 3)
      throw error(failure_code::invalid_argument,
                  fmt::format("detector: fpn_channels {}, head_convs {} and head_levels {} must be positive (head_levels at "
                              "most 3)",
                              o.fpn_channels, o.head_convs, o.head_levels));
    head_levels_ = o.head_levels;
    const auto [strides, channels] = backbone_.feature_map_layout();
    if (strides != pyramid_strides)
      throw error(failure_code::invalid_argument,
                  fmt::format("detector: the backbone {} gives feature maps at strides {}, {}, {}; a detector needs 8, 16 "
                              "and 32 (choose resnet or mobilenet_v3)",
                              Tag::name, strides[0], strides[1], strides[2]));
    const int f = o.fpn_channels;
    for (int l = 0; l < 3; ++l) {
      level_parts& p = parts_[l];
      p.lateral = nn::conv2d<B>(conv_shape(channels[l], f, 1), true);
      if (l >= head_levels_) continue;
      p.output = nn::conv2d<B>(conv_shape(f, f, 3), true);
      for (int k = 0; k < o.head_convs; ++k) {
        nn::conv_bn_act_options t;
        t.in = t.out = f;
        t.kernel = 3;
        p.class_tower.emplace_back(t);
        p.box_tower.emplace_back(t);
      }
      p.classes = nn::conv2d<B>(conv_shape(f, classes, 3), true);
      p.box = nn::conv2d<B>(conv_shape(f, 4, 3), true);
      p.centerness = nn::conv2d<B>(conv_shape(f, 1, 3), true);
    }
    nn::rng r(seed);
    backbone_.init(r);
    // FCOS's init: the pyramid and towers as convolutions usually are, the predictions N(0, 0.01)
    // with the class bias at the prior, so that the focal loss starts from rare positives.
    const double prior_bias = -std::log((1 - o.prior_probability) / o.prior_probability);
    for (int l = 0; l < 3; ++l) {
      level_parts& p = parts_[l];
      p.lateral.init(r);
      if (l >= head_levels_) continue;
      p.output.init(r);
      for (auto& t : p.class_tower) t.init(r);
      for (auto& t : p.box_tower) t.init(r);
      for (auto* c : {&p.classes, &p.box, &p.centerness}) {
        nn::normal(c->weight().value, 0.01, r);
        nn::constant(c->bias().value, 0.0);
      }
      nn::constant(p.classes.bias().value, prior_bias);
    }
  }

  outputs forward(tensor x, bool training) {
    const std::size_t h = x.shape()[2], w = x.shape()[3];
    if (h % input_multiple || w % input_multiple)
      throw error(failure_code::invalid_argument,
                  fmt::format("detector: the input is {}x{}; its sides must be multiples of {}", w, h, input_multiple));
    auto maps = backbone_.forward_maps(std::move(x), training);
    std::array<tensor, 3> inner;
    inner[2] = parts_[2].lateral.forward(std::move(maps.maps[2]), training);
    for (int l = 1; l >= 0; --l) {
      inner[l] = parts_[l].lateral.forward(std::move(maps.maps[l]), training);
      B::add_inplace(inner[l], up_[l].forward(inner[l + 1], training));
    }
    outputs out;
    for (int l = 0; l < head_levels_; ++l) {
      level_parts& p = parts_[l];
      tensor t = p.output.forward(std::move(inner[l]), training);
      tensor c = t;
      for (auto& layer : p.class_tower) c = layer.forward(std::move(c), training);
      out.class_logits[l] = p.classes.forward(std::move(c), training);
      for (auto& layer : p.box_tower) t = layer.forward(std::move(t), training);
      out.box_logits[l] = p.box.forward(t, training);
      out.centerness[l] = p.centerness.forward(std::move(t), training);
    }
    return out;
  }

  // The gradients of the loss with respect to forward's outputs (after forward(x, true)).
  void backward(const outputs& d) {
    std::array<tensor, 3> d_inner;
    for (int l = 0; l < head_levels_; ++l) {
      level_parts& p = parts_[l];
      tensor g = p.box.backward(d.box_logits[l]);
      B::add_inplace(g, p.centerness.backward(d.centerness[l]));
      for (auto it = p.box_tower.rbegin(); it != p.box_tower.rend(); ++it) g = it->backward(g);
      tensor c = p.classes.backward(d.class_logits[l]);
      for (auto it = p.class_tower.rbegin(); it != p.class_tower.rend(); ++it) c = it->backward(c);
      B::add_inplace(g, c);
      d_inner[l] = p.output.backward(g);
    }
    // The top-down path in reverse: level l's sum fed level l + 1 through the upsampling (a level
    // without a head gets its gradient from there alone).
    for (int l = 0; l < 2; ++l) {
      tensor g = up_[l].backward(d_inner[l]);
      if (l + 1 < head_levels_) B::add_inplace(d_inner[l + 1], g);
      else d_inner[l + 1] = std::move(g);
    }
    const bool backbone_trains = backbone_.any_trainable();
    std::array<tensor, 3> d_maps;
    for (int l = 0; l < 3; ++l) d_maps[l] = parts_[l].lateral.backward(d_inner[l], backbone_trains);
    if (backbone_trains) backbone_.backward_maps({&d_maps[0], &d_maps[1], &d_maps[2]});
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    backbone_.visit_parameters(prefix, f);
    for (int l = 0; l < 3; ++l) {
      level_parts& p = parts_[l];
      p.lateral.visit_parameters(nn::join_name(prefix, fmt::format("fpn.lateral.{}", l)), f);
      if (l >= head_levels_) continue;
      p.output.visit_parameters(nn::join_name(prefix, fmt::format("fpn.output.{}", l)), f);
      const std::string head = nn::join_name(prefix, fmt::format("head.{}", l));
      for (std::size_t k = 0; k < p.class_tower.size(); ++k) {
        p.class_tower[k].visit_parameters(nn::join_name(head, fmt::format("class_tower.{}", k)), f);
        p.box_tower[k].visit_parameters(nn::join_name(head, fmt::format("box_tower.{}", k)), f);
      }
      p.classes.visit_parameters(nn::join_name(head, "classes"), f);
      p.box.visit_parameters(nn::join_name(head, "box"), f);
      p.centerness.visit_parameters(nn::join_name(head, "centerness"), f);
    }
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    backbone_.visit_buffers(prefix, f);
    for (int l = 0; l < head_levels_; ++l)
      for (std::size_t k = 0; k < parts_[l].class_tower.size(); ++k) {
        parts_[l].class_tower[k].visit_buffers(nn::join_name(prefix, fmt::format("head.{}.class_tower.{}", l, k)), f);
        parts_[l].box_tower[k].visit_buffers(nn::join_name(prefix, fmt::format("head.{}.box_tower.{}", l, k)), f);
      }
  }

  int classes() const { return classes_; }
  int head_levels() const { return head_levels_; }
  backbone_type& backbone() { return backbone_; }
  void release_cache() {
    backbone_.release_cache();
    for (int l = 0; l < 3; ++l) {
      level_parts& p = parts_[l];
      p.lateral.release_cache();
      if (l >= head_levels_) continue;
      p.output.release_cache();
      for (auto& t : p.class_tower) t.release_cache();
      for (auto& t : p.box_tower) t.release_cache();
      p.classes.release_cache();
      p.box.release_cache();
      p.centerness.release_cache();
    }
  }

 private:
  struct level_parts {
    nn::conv2d<B> lateral, output;
    std::vector<nn::conv_bn_act<B>> class_tower, box_tower;
    nn::conv2d<B> classes, box, centerness;
  };

  static nn::conv2d_shape conv_shape(int in, int out, int kernel) {
    nn::conv2d_shape s;
    s.in_channels = in;
    s.out_channels = out;
    s.kernel_h = s.kernel_w = kernel;
    s.pad_h = s.pad_w = kernel / 2;
    return s;
  }

  backbone_type backbone_;
  int classes_ = 0, head_levels_ = 3;
  std::array<level_parts, 3> parts_;
  std::array<nn::upsample_nearest<B>, 2> up_;  // level l + 1 -> level l
};

}  // namespace tailor::detection
