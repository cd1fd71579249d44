#pragma once
// The named requirements of the engine. A type that does not fit fails with one of the
// static_assert messages below instead of a page of template instantiation.
#include <concepts>
#include <string>
#include <utility>

#include "parameter.hpp"

namespace tailor::nn {

// A compute policy (backend::cpu, later backend::cuda): value type, tensor types and the ops.
template <class B>
concept Backend = requires {
  typename B::value_type;
  typename B::tensor;
  typename B::array;
  typename B::workspace;
  { B::name };
} && requires(typename B::tensor& a, const typename B::tensor& b) {
  B::add_inplace(a, b);
  B::set_num_threads(1);
};

// Something that maps a batch forward and its gradient back, and shows its parameters by name.
//   forward(x, training): x is moved in (the layer may keep it for backward); training selects batch
//     statistics and dropout and makes the layer remember what backward needs.
//   backward(dy): after forward(x, true); returns dL/dx and accumulates into parameter gradients.
template <class L>
concept Layer = Backend<typename L::backend> &&
  requires(L& l, typename L::backend::tensor x, const typename L::backend::tensor& dy) {
    { l.forward(std::move(x), true) } -> std::same_as<typename L::backend::tensor>;
    { l.backward(dy) } -> std::same_as<typename L::backend::tensor>;
    l.visit_parameters(std::string{}, [](const std::string&, parameter<typename L::backend>&) {});
  };

template <class L>
constexpr bool check_layer() {
  static_assert(Backend<typename L::backend>, "tailor: a layer's ::backend must model tailor::nn::Backend (e.g. tailor::backend::cpu)");
  static_assert(Layer<L>, "tailor: this type is not a Layer: it needs forward(tensor, bool) -> tensor, backward(const tensor&) -> tensor "
                          "and visit_parameters(prefix, f)");
  return true;
}

}  // namespace tailor::nn
