#pragma once
// MobileNetV3-Small and -Large exactly as torchvision builds them (features.0 ... features.N,
// classifier.0 as the neck; classifier.3 is the task's head), with the width multiplier applied
// through _make_divisible as torchvision does. Norms use eps 1e-3 and momentum 0.01, as there.
#include <string_view>
#include <vector>

#include "../backbone.hpp"
#include "../blocks/conv_bn_act.hpp"
#include "../blocks/inverted_residual.hpp"
#include "resnet.hpp"  // backbone_options

namespace tailor::nn {

template <Backend B>
using mobilenet_v3_backbone = unit_backbone<B, conv_bn_act<B>, inverted_residual<B>>;

enum class mobilenet_v3_size { small, large };

template <Backend B>
mobilenet_v3_backbone<B> make_mobilenet_v3(mobilenet_v3_size size, const backbone_options& o = {}) {
  using K = activation_kind;
  const K RE = K::relu, HS = K::hard_swish;
  // in, kernel, expanded, out, se, activation, stride (torchvision's _mobilenet_v3_conf)
  const std::vector<inverted_residual_config> small{
      {16, 3, 16, 16, true, RE, 2},   {16, 3, 72, 24, false, RE, 2},  {24, 3, 88, 24, false, RE, 1},
      {24, 5, 96, 40, true, HS, 2},   {40, 5, 240, 40, true, HS, 1},  {40, 5, 240, 40, true, HS, 1},
      {40, 5, 120, 48, true, HS, 1},  {48, 5, 144, 48, true, HS, 1},  {48, 5, 288, 96, true, HS, 2},
      {96, 5, 576, 96, true, HS, 1},  {96, 5, 576, 96, true, HS, 1}};
  const std::vector<inverted_residual_config> large{
      {16, 3, 16, 16, false, RE, 1},    {16, 3, 64, 24, false, RE, 2},    {24, 3, 72, 24, false, RE, 1},
      {24, 5, 72, 40, true, RE, 2},     {40, 5, 120, 40, true, RE, 1},    {40, 5, 120, 40, true, RE, 1},
      {40, 3, 240, 80, false, HS, 2},   {80, 3, 200, 80, false, HS, 1},   {80, 3, 184, 80, false, HS, 1},
      {80, 3, 184, 80, false, HS, 1},   {80, 3, 480, 112, true, HS, 1},   {112, 3, 672, 112, true, HS, 1},
      {112, 5, 672, 160, true, HS, 2},  {160, 5, 960, 160, true, HS, 1},  {160, 5, 960, 160, true, HS, 1}};
  if (!(o.width > 0)) throw error(failure_code::invalid_argument, fmt::format("mobilenet_v3: width must be positive, got {}", o.width));
  auto adjust = [&](int c) { return make_divisible(c * o.width); };
  const double eps = 1e-3, momentum = 0.01;
  mobilenet_v3_backbone<B> net;
  const auto& rows = size == mobilenet_v3_size::small ? small : large;
  const int first = adjust(rows.front().in);
  net.add_unit("features.0", conv_bn_act<B>({3, first, 3, 2, 1, HS, eps, momentum}), first, 2);
  int i = 1;
  for (auto row : rows) {
    row.in = adjust(row.in);
    row.expanded = adjust(row.expanded);
    row.out = adjust(row.out);
    net.add_unit(fmt::format("features.{}", i++), inverted_residual<B>(row, eps, momentum), row.out, row.stride);
  }
  const int last_in = adjust(rows.back().out), last_out = 6 * last_in;
  net.add_unit(fmt::format("features.{}", i), conv_bn_act<B>({last_in, last_out, 1, 1, 1, HS, eps, momentum}), last_out, 1);
  // torchvision's last_channel: adjust_channels(1024 or 1280), i.e. scaled by the width too
  // (_mobilenet_v3_conf: 1024 -> 256 for the small model at width_mult 0.25).
  if (!(o.dropout >= 0.0 && o.dropout < 1.0))
    throw error(failure_code::invalid_argument, fmt::format("mobilenet_v3: dropout must be in [0, 1), got {}", o.dropout));
  net.set_neck({adjust(size == mobilenet_v3_size::small ? 1024 : 1280), HS, o.dropout, "classifier.0"});
  return net;
}

struct mobilenet_v3_small {
  static constexpr std::string_view name = "mobilenet_v3_small";
  static constexpr std::string_view head_name = "classifier.3";
  template <Backend B>
  static auto make(const backbone_options& o = {}) {
    return make_mobilenet_v3<B>(mobilenet_v3_size::small, o);
  }
};

struct mobilenet_v3_large {
  static constexpr std::string_view name = "mobilenet_v3_large";
  static constexpr std::string_view head_name = "classifier.3";
  template <Backend B>
  static auto make(const backbone_options& o = {}) {
    return make_mobilenet_v3<B>(mobilenet_v3_size::large, o);
  }
};

}  // namespace tailor::nn
