#pragma once
// The pointwise non-linearities of the supported backbones, chosen at run time (a MobileNetV3 block
// uses ReLU or hard-swish by its configuration row), so one block type serves every row.
#include <string_view>

namespace tailor::nn {

enum class activation_kind { identity, relu, relu6, hard_sigmoid, hard_swish, silu, sigmoid };

constexpr std::string_view to_string(activation_kind k) {
  switch (k) {
    case activation_kind::identity: return "identity";
    case activation_kind::relu: return "relu";
    case activation_kind::relu6: return "relu6";
    case activation_kind::hard_sigmoid: return "hard_sigmoid";
    case activation_kind::hard_swish: return "hard_swish";
    case activation_kind::silu: return "silu";
    case activation_kind::sigmoid: return "sigmoid";
  }
  return "?";
}

}  // namespace tailor::nn
