#pragma once
// A trainable tensor with its gradient and the flags optimizers read. Layers expose their
// parameters and buffers by torchvision's dotted names ("layer1.0.conv1.weight"), which is what
// optimizers, freezing and the safetensors files key on.
#include <vector>
#include <algorithm>
#include <string>
#include <string_view>

namespace tailor::nn {

template <class B>
struct parameter {
  typename B::array value;
  typename B::array grad;
  bool decay = true;    // weight decay applies (false for norms and biases)
  bool frozen = false;  // excluded from updates and from gradient computation where possible

  void resize(const std::vector<std::size_t>& shape) {
    value.resize(shape);
    grad.resize(shape);
    std::fill(grad.begin(), grad.end(), typename B::value_type(0));
  }
  void zero_grad() { std::fill(grad.begin(), grad.end(), typename B::value_type(0)); }
};

// What a buffer holds, so writers can keep torch's dtypes (num_batches_tracked is int64 there).
enum class buffer_kind { statistic, counter };

// An empty part adds nothing: join_name("backbone", "") is "backbone" (ResNet's stem is the unit
// named "", whose tensors sit at the top level: "conv1.weight", or "backbone.conv1.weight").
inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  if (name.empty()) return std::string(prefix);
  std::string out;
  out.reserve(prefix.size() + 1 + name.size());
  out.append(prefix).append(".").append(name);
  return out;
}

}  // namespace tailor::nn
