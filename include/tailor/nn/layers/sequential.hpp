#pragma once
// A flat pack of layers run one after the other: sequential<conv2d<B>, batch_norm2d<B>, activation<B>>.
// The network lives in one std::tuple, so template depth does not grow with the number of layers
// (unlike one nested template per layer). Parameters are named by position, "0", "1", ..., as
// torch.nn.Sequential names them.
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "../concepts.hpp"
#include "../init.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

namespace detail {
template <class L>
concept has_init = requires(L& l, rng& r) { l.init(r); };
template <class L>
concept has_release = requires(L& l) { l.release_cache(); };
}  // namespace detail

template <class... Layers>
class sequential {
  static_assert(sizeof...(Layers) > 0, "tailor: sequential<> needs at least one layer");
  static_assert((check_layer<Layers>() && ...));

 public:
  using backend = typename std::tuple_element_t<0, std::tuple<Layers...>>::backend;
  using tensor = typename backend::tensor;
  static_assert((std::is_same_v<typename Layers::backend, backend> && ...),
                "tailor: every layer of a sequential<> must use the same backend");

  sequential() = default;
  explicit sequential(Layers... layers) : layers_(std::move(layers)...) {}

  void init(rng& r) {
    std::apply([&](auto&... l) { (init_one(l, r), ...); }, layers_);
  }

  tensor forward(tensor x, bool training) {
    std::apply([&](auto&... l) { ((x = l.forward(std::move(x), training)), ...); }, layers_);
    return x;
  }

  tensor backward(const tensor& dy) {
    tensor g = dy;
    constexpr std::size_t n = sizeof...(Layers);
    [&]<std::size_t... I>(std::index_sequence<I...>) { ((g = std::get<n - 1 - I>(layers_).backward(g)), ...); }(
        std::index_sequence_for<Layers...>{});
    return g;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    visit_each([&](auto& l, std::size_t i) { l.visit_parameters(join_name(prefix, std::to_string(i)), f); });
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    visit_each([&](auto& l, std::size_t i) { l.visit_buffers(join_name(prefix, std::to_string(i)), f); });
  }
  void release_cache() {
    visit_each([](auto& l, std::size_t) {
      if constexpr (detail::has_release<std::remove_cvref_t<decltype(l)>>) l.release_cache();
    });
  }

  template <std::size_t I>
  auto& get() {
    return std::get<I>(layers_);
  }

 private:
  template <class L>
  static void init_one(L& l, rng& r) {
    if constexpr (detail::has_init<L>) l.init(r);
  }
  template <class F>
  void visit_each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(layers_), I), ...); }(std::index_sequence_for<Layers...>{});
  }

  std::tuple<Layers...> layers_;
};

}  // namespace tailor::nn
