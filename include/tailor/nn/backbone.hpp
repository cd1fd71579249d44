#pragma once
// What every backbone is: a run of named units (a ResNet layer, a MobileNetV3 block, ...) with
// known output widths and strides, then global average pooling and an optional "neck" (MobileNetV3's
// Linear + hard-swish + dropout before its classifier). It gives
//   - forward(x) -> pooled features N x F x 1 x 1 and backward(d pooled),
//   - forward_maps(x) -> the feature maps at strides 8, 16 and 32 (for detection heads) and
//     backward_maps(grads of those maps [, d pooled]),
//   - freeze_stages(k): the first k stages (runs of units of one stride) keep their weights and
//     running statistics, run in inference mode and are not back-propagated through.
// Units are held in a std::variant, so a backbone of any depth is one flat type.
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "concepts.hpp"
#include "layers/activation.hpp"
#include "layers/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/pooling.hpp"

namespace tailor::nn {

// Whose recipe a backbone follows where the libraries that publish weights differ. torchvision and
// timm build the same ResNets; their MobileNetV3s differ in channel rounding at reduced widths, the
// stem and head widths, and the norms' eps and momentum (see make_mobilenet_v3).
enum class weights_convention { torchvision, timm };

struct backbone_options {
  double width = 1.0;    // channel multiplier
  double dropout = 0.2;  // MobileNetV3's classifier dropout (torchvision's default); unused by the others
  weights_convention convention = weights_convention::torchvision;
};

template <Backend B>
struct feature_maps {
  std::array<typename B::tensor, 3> maps;  // strides 8, 16, 32 (or the nearest the backbone has)
  std::array<int, 3> strides{};
  std::array<int, 3> channels{};
};

// Linear -> activation -> dropout after the pooling (MobileNetV3's classifier.0..2).
struct neck_options {
  int out = 0;
  activation_kind act = activation_kind::hard_swish;
  double dropout = 0.2;
  std::string name = "classifier.0";
};

template <Backend B, class... Units>
class unit_backbone {
 public:
  using backend = B;
  using tensor = typename B::tensor;
  using unit = std::variant<Units...>;

  void add_unit(std::string name, unit u, int out_channels, int stride) {
    total_stride_ *= stride;
    units_.push_back({std::move(name), std::move(u), out_channels, total_stride_});
  }
  void set_neck(const neck_options& o) {
    neck_linear_.emplace(units_.back().channels, o.out);
    neck_act_.emplace(o.act);
    neck_dropout_.emplace(o.dropout);
    neck_name_ = o.name;
  }

  void init(rng& r) {
    for (auto& u : units_) std::visit([&](auto& v) { v.init(r); }, u.body);
    if (neck_linear_) {  // torchvision's mobilenet_v3: Linear weights N(0, 0.01), zero bias
      normal(neck_linear_->weight().value, 0.01, r);
      constant(neck_linear_->bias().value, 0.0);
    }
  }

  int feature_dim() const { return neck_linear_ ? neck_linear_->out_features() : units_.back().channels; }
  std::size_t unit_count() const { return units_.size(); }

  tensor forward(tensor x, bool training) {
    x = run_units(std::move(x), training, nullptr);
    x = pool_.forward(std::move(x), training);
    if (neck_linear_) {
      x = neck_linear_->forward(std::move(x), training);
      x = neck_act_->forward(std::move(x), training);
      x = neck_dropout_->forward(std::move(x), training);
    }
    return x;
  }

  void backward(const tensor& d_pooled) {
    tensor g = d_pooled;
    if (neck_linear_) g = neck_linear_->backward(neck_act_->backward(neck_dropout_->backward(g)));
    back_units(pool_.backward(g), {});
  }

  feature_maps<B> forward_maps(tensor x, bool training) {
    feature_maps<B> out;
    const auto taps = tap_units();
    for (int i = 0; i < 3; ++i) {
      out.strides[i] = units_[taps[i]].stride;
      out.channels[i] = units_[taps[i]].channels;
    }
    run_units(std::move(x), training, &out);
    return out;
  }
  void backward_maps(const std::array<const tensor*, 3>& grads) { back_units(std::nullopt, grads); }
  // The strides and channels forward_maps will give, known before any forward pass (a detection
  // neck sizes its layers from them).
  std::pair<std::array<int, 3>, std::array<int, 3>> feature_map_layout() const {
    std::pair<std::array<int, 3>, std::array<int, 3>> layout;
    const auto taps = tap_units();
    for (int i = 0; i < 3; ++i) {
      layout.first[i] = units_[taps[i]].stride;
      layout.second[i] = units_[taps[i]].channels;
    }
    return layout;
  }

  // Stages are runs of units with the same output stride; freezing k of them freezes those units.
  void freeze_stages(int k) {
    frozen_units_ = 0;
    int stage = 0;
    for (std::size_t i = 0; i < units_.size(); ++i) {
      if (i > 0 && units_[i].stride != units_[i - 1].stride) ++stage;
      if (stage < k) frozen_units_ = i + 1;
    }
    for (std::size_t i = 0; i < units_.size(); ++i)
      std::visit([&](auto& v) { v.visit_parameters(units_[i].name, [&](const std::string&, parameter<B>& p) { p.frozen = i < frozen_units_; }); },
                 units_[i].body);
  }
  // Whether any parameter still trains (a network back-propagates into the backbone only then).
  bool any_trainable() {
    bool any = false;
    visit_parameters("", [&](const std::string&, parameter<B>& p) { any = any || !p.frozen; });
    return any;
  }
  int stage_count() const {
    int stages = units_.empty() ? 0 : 1;
    for (std::size_t i = 1; i < units_.size(); ++i) stages += units_[i].stride != units_[i - 1].stride;
    return stages;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    for (auto& u : units_) std::visit([&](auto& v) { v.visit_parameters(join_name(prefix, u.name), f); }, u.body);
    if (neck_linear_) neck_linear_->visit_parameters(join_name(prefix, neck_name_), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    for (auto& u : units_) std::visit([&](auto& v) { v.visit_buffers(join_name(prefix, u.name), f); }, u.body);
  }
  void release_cache() {
    for (auto& u : units_) std::visit([](auto& v) { v.release_cache(); }, u.body);
    if (neck_linear_) {
      neck_linear_->release_cache();
      neck_act_->release_cache();
      neck_dropout_->release_cache();
    }
  }
  void reseed_dropout(std::uint64_t seed) {
    if (neck_dropout_) neck_dropout_->reseed(seed);
  }

 private:
  struct named_unit {
    std::string name;
    unit body;
    int channels = 0, stride = 1;
  };

  // The last unit at each of the strides 8, 16, 32 (or the deepest unit when the net is shallower).
  std::array<std::size_t, 3> tap_units() const {
    std::array<std::size_t, 3> taps{};
    const int wanted[3] = {8, 16, 32};
    for (int t = 0; t < 3; ++t) {
      taps[t] = 0;
      for (std::size_t i = 0; i < units_.size(); ++i)
        if (units_[i].stride <= wanted[t]) taps[t] = i;
    }
    return taps;
  }

  tensor run_units(tensor x, bool training, feature_maps<B>* maps) {
    if (units_.empty()) throw error(failure_code::invalid_argument, "backbone has no units");
    const auto taps = tap_units();
    for (std::size_t i = 0; i < units_.size(); ++i) {
      const bool train_unit = training && i >= frozen_units_;
      x = std::visit([&](auto& v) { return v.forward(std::move(x), train_unit); }, units_[i].body);
      if (maps)
        for (int t = 0; t < 3; ++t)
          if (taps[t] == i) maps->maps[t] = x;
      if (maps && i == taps[2]) break;  // nothing above the stride-32 map is needed
    }
    return x;
  }

  // Back-propagates from the top (d_top: the gradient at the last unit's output) and/or the map
  // gradients, down to the first trainable unit.
  void back_units(std::optional<tensor> d_top, const std::array<const tensor*, 3>& map_grads) {
    const auto taps = tap_units();
    std::optional<tensor> g = std::move(d_top);
    for (std::size_t i = units_.size(); i-- > frozen_units_;) {
      for (int t = 0; t < 3; ++t)
        if (taps[t] == i && map_grads[t]) {
          if (g) B::add_inplace(*g, *map_grads[t]);
          else g = *map_grads[t];
        }
      if (!g) continue;  // no gradient reaches this unit yet (above the deepest map)
      const bool need_dx = i > frozen_units_;
      g = std::visit([&](auto& v) { return v.backward(*g, need_dx); }, units_[i].body);
    }
  }

  std::vector<named_unit> units_;
  int total_stride_ = 1;
  std::size_t frozen_units_ = 0;
  global_avg_pool<B> pool_;
  std::optional<linear<B>> neck_linear_;
  std::optional<activation<B>> neck_act_;
  std::optional<dropout<B>> neck_dropout_;
  std::string neck_name_;
};

}  // namespace tailor::nn
