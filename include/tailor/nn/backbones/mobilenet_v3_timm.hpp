#pragma once
// timm's MobileNetV3 files (mobilenetv3_small_050/075/100, mobilenetv3_large_075/100, saved with
// safetensors) into tailor's MobileNetV3, whose names are torchvision's:
//
//   auto net = nn::mobilenet_v3_small::make<B>({.width = 0.5, .convention = nn::weights_convention::timm});
//   nn::load_weights(nn::with_head(net, head, "classifier.3"), "mobilenetv3_small_050.safetensors",
//                    nn::timm_mobilenet_v3_load_options(nn::mobilenet_v3_size::small));
//
// timm names its blocks by stage (blocks.<stage>.<index>); torchvision numbers them in one run
// (features.<n>). Inside a block the parts map one to one:
//   depthwise-separable (the first block):  conv_dw, bn1, se, conv_pw, bn2
//   inverted residual:                      conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3
//   last 1x1 conv (ConvBnAct):              conv, bn1
// and conv_head (a 1x1 convolution with bias after the pooling) is torchvision's classifier.0 (a
// Linear), classifier is classifier.3. timm's ResNets need none of this: their names are torchvision's.
#include <array>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "../safetensors.hpp"
#include "../weights.hpp"
#include "mobilenet_v3.hpp"

namespace tailor::nn {

namespace detail {

// Blocks per stage in timm's arch definition (the last stage is the 1x1 ConvBnAct).
inline std::vector<int> timm_mobilenet_v3_stages(mobilenet_v3_size size) {
  if (size == mobilenet_v3_size::small) return {1, 2, 3, 2, 3, 1};
  return {1, 2, 3, 4, 2, 3, 1};
}

inline bool parse_index(std::string_view s, int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

// "bn1.running_mean" -> {"bn1", "running_mean"}; part is the first component.
inline std::pair<std::string_view, std::string_view> split_first(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return {name, {}};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

}  // namespace detail

// torchvision's name for one of timm's MobileNetV3 tensor names; a name it does not know comes back
// unchanged (and load_weights then lists it as not in the model).
inline std::string timm_mobilenet_v3_name(mobilenet_v3_size size, std::string_view name) {
  const std::string original(name);
  auto [part, rest] = detail::split_first(name);
  if (part == "conv_stem") return fmt::format("features.0.0.{}", rest);
  if (part == "bn1") return fmt::format("features.0.1.{}", rest);
  if (part == "conv_head") return fmt::format("classifier.0.{}", rest);
  if (part == "classifier") return fmt::format("classifier.3.{}", rest);
  if (part != "blocks") return original;
  auto [stage_text, after_stage] = detail::split_first(rest);
  auto [index_text, inner] = detail::split_first(after_stage);
  int stage = 0, index = 0;
  const auto stages = detail::timm_mobilenet_v3_stages(size);
  if (!detail::parse_index(stage_text, stage) || !detail::parse_index(index_text, index) || stage >= int(stages.size()) ||
      index >= stages[std::size_t(stage)])
    return original;
  int flat = index;
  for (int s = 0; s < stage; ++s) flat += stages[std::size_t(s)];
  const int feature = flat + 1;  // features.0 is the stem
  auto [layer, tail] = detail::split_first(inner);
  const auto& rows = detail::mobilenet_v3_rows(size);
  if (flat == int(rows.size())) {  // the last 1x1 ConvBnAct
    if (layer == "conv") return fmt::format("features.{}.0.{}", feature, tail);
    if (layer == "bn1") return fmt::format("features.{}.1.{}", feature, tail);
    return original;
  }
  const auto& row = rows[std::size_t(flat)];
  const bool separable = row.timm_ratio == 1, se = row.block.se;
  auto at = [&](int i, std::string_view sub) { return fmt::format("features.{}.block.{}.{}{}", feature, i, sub, tail); };
  if (layer == "se") {
    auto [se_layer, se_tail] = detail::split_first(tail);
    const int i = separable ? 1 : 2;
    if (se_layer == "conv_reduce") return fmt::format("features.{}.block.{}.fc1.{}", feature, i, se_tail);
    if (se_layer == "conv_expand") return fmt::format("features.{}.block.{}.fc2.{}", feature, i, se_tail);
    return original;
  }
  if (separable) {
    const int project = se ? 2 : 1;
    if (layer == "conv_dw") return at(0, "0.");
    if (layer == "bn1") return at(0, "1.");
    if (layer == "conv_pw") return at(project, "0.");
    if (layer == "bn2") return at(project, "1.");
    return original;
  }
  const int project = se ? 3 : 2;
  if (layer == "conv_pw") return at(0, "0.");
  if (layer == "bn1") return at(0, "1.");
  if (layer == "conv_dw") return at(1, "0.");
  if (layer == "bn2") return at(1, "1.");
  if (layer == "conv_pwl") return at(project, "0.");
  if (layer == "bn3") return at(project, "1.");
  return original;
}

// load_options that read one of timm's MobileNetV3 files: its names mapped to torchvision's and
// conv_head's 1x1 weight taken as classifier.0's matrix. Build the backbone with
// weights_convention::timm so that the widths and norm constants are timm's too.
inline load_options timm_mobilenet_v3_load_options(mobilenet_v3_size size) {
  load_options o;
  o.rename = [size](std::string_view n) { return timm_mobilenet_v3_name(size, n); };
  o.pointwise_as_linear = true;
  return o;
}

// Which library's names a file of weights uses: timm's MobileNetV3 when it has conv_stem.weight,
// torchvision's otherwise (timm's ResNets have torchvision's names).
inline weights_convention detect_weights_convention(const safetensors_file& file) {
  return file.tensors.contains("conv_stem.weight") ? weights_convention::timm : weights_convention::torchvision;
}

}  // namespace tailor::nn
