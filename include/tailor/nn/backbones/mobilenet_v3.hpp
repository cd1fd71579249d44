#pragma once
// MobileNetV3-Small and -Large exactly as torchvision builds them (features.0 ... features.N,
// classifier.0 as the neck; classifier.3 is the task's head), with the width multiplier applied
// through _make_divisible as torchvision does, or as timm builds them (same layers, other widths
// below width 1 and other norm constants; backbone_options::convention).
#include <string_view>
#include <vector>

#include "../backbone.hpp"
#include "../blocks/conv_bn_act.hpp"
#include "../blocks/inverted_residual.hpp"

namespace tailor::nn {

template <Backend B>
using mobilenet_v3_backbone = unit_backbone<B, conv_bn_act<B>, inverted_residual<B>>;

enum class mobilenet_v3_size { small, large };

namespace detail {

// One row of torchvision's _mobilenet_v3_conf at width 1, with timm's expansion ratio for the
// same block (timm's arch strings: "ir_r1_k3_s2_e4.5_c24_nre" ...; 1 for its first, depthwise-
// separable block). At width 1 both give the same widths; below it they round differently.
struct mobilenet_v3_row {
  inverted_residual_config block;
  double timm_ratio;
};

inline const std::vector<mobilenet_v3_row>& mobilenet_v3_rows(mobilenet_v3_size size) {
  using K = activation_kind;
  const K RE = K::relu, HS = K::hard_swish;
  // in, kernel, expanded, out, se, activation, stride; timm's ratio
  static const std::vector<mobilenet_v3_row> small{
      {{16, 3, 16, 16, true, RE, 2}, 1},   {{16, 3, 72, 24, false, RE, 2}, 4.5}, {{24, 3, 88, 24, false, RE, 1}, 3.67},
      {{24, 5, 96, 40, true, HS, 2}, 4},   {{40, 5, 240, 40, true, HS, 1}, 6},   {{40, 5, 240, 40, true, HS, 1}, 6},
      {{40, 5, 120, 48, true, HS, 1}, 3},  {{48, 5, 144, 48, true, HS, 1}, 3},   {{48, 5, 288, 96, true, HS, 2}, 6},
      {{96, 5, 576, 96, true, HS, 1}, 6},  {{96, 5, 576, 96, true, HS, 1}, 6}};
  static const std::vector<mobilenet_v3_row> large{
      {{16, 3, 16, 16, false, RE, 1}, 1},     {{16, 3, 64, 24, false, RE, 2}, 4},     {{24, 3, 72, 24, false, RE, 1}, 3},
      {{24, 5, 72, 40, true, RE, 2}, 3},      {{40, 5, 120, 40, true, RE, 1}, 3},     {{40, 5, 120, 40, true, RE, 1}, 3},
      {{40, 3, 240, 80, false, HS, 2}, 6},    {{80, 3, 200, 80, false, HS, 1}, 2.5},  {{80, 3, 184, 80, false, HS, 1}, 2.3},
      {{80, 3, 184, 80, false, HS, 1}, 2.3},  {{80, 3, 480, 112, true, HS, 1}, 6},    {{112, 3, 672, 112, true, HS, 1}, 6},
      {{112, 5, 672, 160, true, HS, 2}, 6},   {{160, 5, 960, 160, true, HS, 1}, 6},   {{160, 5, 960, 160, true, HS, 1}, 6}};
  return size == mobilenet_v3_size::small ? small : large;
}

}  // namespace detail

// MobileNetV3 under either convention (backbone_options::convention); the tensor names are
// torchvision's under both (timm's files load through timm_mobilenet_v3_load_options).
//   torchvision: every width, last_channel included, is _make_divisible(width * w); the expanded
//                widths are scaled from the table; norms eps 1e-3, momentum 0.01.
//   timm:        the stem stays 16 wide below w = 0.75 (fix_stem); each expanded width is
//                make_divisible(scaled input * ratio); the head (conv_head, our classifier.0)
//                stays 1024 / 1280 wide at every w; norms eps 1e-5, momentum 0.1 (torch's defaults).
template <Backend B>
mobilenet_v3_backbone<B> make_mobilenet_v3(mobilenet_v3_size size, const backbone_options& o = {}) {
  const auto HS = activation_kind::hard_swish;
  if (!(o.width > 0)) throw error(failure_code::invalid_argument, fmt::format("mobilenet_v3: width must be positive, got {}", o.width));
  if (!(o.dropout >= 0.0 && o.dropout < 1.0))
    throw error(failure_code::invalid_argument, fmt::format("mobilenet_v3: dropout must be in [0, 1), got {}", o.dropout));
  const bool timm = o.convention == weights_convention::timm;
  auto adjust = [&](int c) { return make_divisible(c * o.width); };
  const double eps = timm ? 1e-5 : 1e-3, momentum = timm ? 0.1 : 0.01;
  const auto& rows = detail::mobilenet_v3_rows(size);
  mobilenet_v3_backbone<B> net;
  const int stem = timm && o.width < 0.75 ? 16 : adjust(16);
  net.add_unit("features.0", conv_bn_act<B>({3, stem, 3, 2, 1, HS, eps, momentum}), stem, 2);
  int in = stem, i = 1;
  for (const auto& [row, ratio] : rows) {
    inverted_residual_config c = row;
    c.in = in;
    c.out = adjust(row.out);
    c.expanded = !timm ? adjust(row.expanded) : ratio == 1 ? in : make_divisible(in * ratio);
    net.add_unit(fmt::format("features.{}", i++), inverted_residual<B>(c, eps, momentum), c.out, c.stride);
    in = c.out;
  }
  // torchvision: 6 x the last block's width; timm: make_divisible(576 or 960 x w). Equal for every w
  // these tables give, but each follows its own rule.
  const int last = timm ? adjust(6 * rows.back().block.out) : 6 * in;
  net.add_unit(fmt::format("features.{}", i), conv_bn_act<B>({in, last, 1, 1, 1, HS, eps, momentum}), last, 1);
  const int head = size == mobilenet_v3_size::small ? 1024 : 1280;
  net.set_neck({timm ? head : adjust(head), HS, o.dropout, "classifier.0"});
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
