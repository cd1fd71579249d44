#pragma once
// What loading a saved model for analyze needs whatever its task: its weights file, and its
// backbone (named as text) as a tag, so that a program builds the network at run time. This is
// the one place that maps the library's backbone names to their tags.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../nn/backbones/mobilenet_v3.hpp"
#include "../nn/backbones/resnet.hpp"
#include "../nn/backbones/small_cnn.hpp"
#include "model.hpp"

namespace tailor::detail {

// make(std::type_identity<Tag>{}) for the backbone called `name` (the small CNN only when
// WithSmallCnn: it has no stride 8/16/32 maps for a detector); an error naming the model and the
// backbones known otherwise.
template <bool WithSmallCnn, class Make>
auto make_for_backbone(std::string_view model, std::string_view name, Make&& make) {
  if (name == nn::resnet<18>::name) return make(std::type_identity<nn::resnet<18>>{});
  if (name == nn::resnet<34>::name) return make(std::type_identity<nn::resnet<34>>{});
  if (name == nn::mobilenet_v3_small::name) return make(std::type_identity<nn::mobilenet_v3_small>{});
  if (name == nn::mobilenet_v3_large::name) return make(std::type_identity<nn::mobilenet_v3_large>{});
  if constexpr (WithSmallCnn)
    if (name == nn::small_cnn::name) return make(std::type_identity<nn::small_cnn>{});
  throw error(failure_code::invalid_argument,
              fmt::format("the model '{}' uses the backbone '{}', which this program does not know (resnet18, resnet34, "
                          "mobilenet_v3_small, mobilenet_v3_large{})",
                          model, name, WithSmallCnn ? ", small_cnn" : ""));
}

// The weights file of a model that has some (succeeded, or cancelled after a trial completed);
// otherwise an error that says what to do.
inline std::filesystem::path weights_to_analyze(const workspace& ws, const model_object& m) {
  const auto weights = model_dir(ws, m.name) / "weights.safetensors";
  std::error_code ec;
  if (m.status == model_status::failed || !std::filesystem::is_regular_file(weights, ec))
    throw error(failure_code::invalid_argument,
                fmt::format("the model '{}' is {}{} and has no weights to analyze with; {}", m.name, to_string(m.status),
                            m.failure ? fmt::format(" ({})", to_string(*m.failure)) : std::string(),
                            m.status == model_status::training ? "wait for its training to finish"
                                                               : "train it ('tailor model train')"));
  return weights;
}

}  // namespace tailor::detail
