#pragma once
// The small CNN for fast tests and tiny datasets: 4 x [3x3 conv (no bias) -> batch norm -> ReLU]
// with 32, 64, 128, 256 channels (times the width) and strides 1, 2, 2, 2, then global average
// pooling; the classifier ("classifier") is the task's head. Its feature maps are at strides 2, 4, 8.
#include <string_view>

#include "../backbone.hpp"
#include "../blocks/conv_bn_act.hpp"

namespace tailor::nn {

template <Backend B>
using small_cnn_backbone = unit_backbone<B, conv_bn_act<B>>;

template <Backend B>
small_cnn_backbone<B> make_small_cnn(const backbone_options& o = {}) {
  if (!(o.width > 0)) throw error(failure_code::invalid_argument, fmt::format("small_cnn: width must be positive, got {}", o.width));
  small_cnn_backbone<B> net;
  const int widths[4] = {32, 64, 128, 256}, strides[4] = {1, 2, 2, 2};
  int in = 3;
  for (int i = 0; i < 4; ++i) {
    const int out = std::max(4, int(widths[i] * o.width + 0.5));
    net.add_unit(fmt::format("features.{}", i), conv_bn_act<B>({in, out, 3, strides[i], 1, activation_kind::relu}), out, strides[i]);
    in = out;
  }
  return net;
}

struct small_cnn {
  static constexpr std::string_view name = "small_cnn";
  static constexpr std::string_view head_name = "classifier";
  template <Backend B>
  static auto make(const backbone_options& o = {}) {
    return make_small_cnn<B>(o);
  }
};

}  // namespace tailor::nn
