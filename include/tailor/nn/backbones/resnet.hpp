#pragma once
// ResNet-18 and ResNet-34 (basic blocks) exactly as torchvision builds them: same layers, same
// parameter names, so torchvision/timm weights load by name (timm's ResNets use torchvision's names
// and the same layers: the convention option changes nothing here). Width multiplier at run time (1.0 is
// torchvision's 64-128-256-512); the classifier ("fc") is the task's head, not part of the backbone.
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../backbone.hpp"
#include "../blocks/resnet_parts.hpp"

namespace tailor::nn {

template <Backend B>
using resnet_backbone = unit_backbone<B, resnet_stem<B>, resnet_layer<B>>;

template <Backend B>
resnet_backbone<B> make_resnet(int depth, const backbone_options& o = {}) {
  std::array<int, 4> blocks;
  if (depth == 18) blocks = {2, 2, 2, 2};
  else if (depth == 34) blocks = {3, 4, 6, 3};
  else throw error(failure_code::invalid_argument, fmt::format("resnet: depth {} is not supported (18 or 34)", depth));
  if (!(o.width > 0)) throw error(failure_code::invalid_argument, fmt::format("resnet: width must be positive, got {}", o.width));
  auto ch = [&](int c) { return std::max(8, int(c * o.width + 0.5)); };
  resnet_backbone<B> net;
  net.add_unit("", resnet_stem<B>(ch(64)), ch(64), 4);
  const int widths[4] = {ch(64), ch(128), ch(256), ch(512)};
  int in = ch(64);
  for (int i = 0; i < 4; ++i) {
    const int stride = i == 0 ? 1 : 2;
    net.add_unit(fmt::format("layer{}", i + 1), resnet_layer<B>(in, widths[i], blocks[i], stride), widths[i], stride);
    in = widths[i];
  }
  return net;
}

// Compile-time tag for the customizer: tailor::nn::resnet<18>.
template <int Depth>
struct resnet {
  static_assert(Depth == 18 || Depth == 34, "tailor: resnet<Depth> is built for 18 and 34 (basic blocks)");
  static constexpr std::string_view name = Depth == 18 ? "resnet18" : "resnet34";
  static constexpr std::string_view head_name = "fc";
  template <Backend B>
  static auto make(const backbone_options& o = {}) {
    return make_resnet<B>(Depth, o);
  }
};

}  // namespace tailor::nn
