#pragma once
// Pointwise activations over contiguous memory, forward and backward (the backward reads the
// forward's input). Definitions as in torch.nn: ReLU6 = min(max(x, 0), 6), Hardsigmoid =
// ReLU6(x + 3) / 6, Hardswish = x * Hardsigmoid(x), SiLU = x * sigmoid(x).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../../nn/activation_kind.hpp"
#include "parallel.hpp"

namespace tailor::backend::cpu_detail {

inline constexpr std::int64_t elementwise_block = 1 << 14;

// The loops below may run in place (y == x) and write a byte mask (which may alias anything), so
// the compiler must be told that iterations are independent before it vectorises them.
#if defined(__clang__)
#define TAILOR_INDEPENDENT_ITERATIONS _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define TAILOR_INDEPENDENT_ITERATIONS _Pragma("GCC ivdep")
#else
#define TAILOR_INDEPENDENT_ITERATIONS
#endif

// y[i] = f(x[i]) over [b, e).
template <class T, class F>
void map_elements(const T* x, T* y, std::int64_t b, std::int64_t e, F f) {
  TAILOR_INDEPENDENT_ITERATIONS
  for (auto i = b; i < e; ++i) y[i] = f(x[i]);
}

// dx[i] = f(x[i], dy[i]) over [b, e).
template <class T, class F>
void map_gradient(const T* x, const T* dy, T* dx, std::int64_t b, std::int64_t e, F f) {
  TAILOR_INDEPENDENT_ITERATIONS
  for (auto i = b; i < e; ++i) dx[i] = f(x[i], dy[i]);
}

// In place: mask[i] = on(x[i]), x[i] = f(x[i]) over [b, e).
template <class T, class On, class F>
void map_masked(T* x, std::uint8_t* mask, std::int64_t b, std::int64_t e, On on, F f) {
  TAILOR_INDEPENDENT_ITERATIONS
  for (auto i = b; i < e; ++i) {
    const T v = x[i];
    mask[i] = on(v) ? 1 : 0;
    x[i] = f(v);
  }
}

// Runs body(begin, end) over [0, n) in blocks, one block per task.
template <class F>
void for_blocks(std::int64_t n, F&& body) {
  const std::int64_t blocks = (n + elementwise_block - 1) / elementwise_block;
  parallel_for(blocks, elementwise_block, [&](std::int64_t b) { body(b * elementwise_block, std::min(n, (b + 1) * elementwise_block)); });
}

template <class T>
T sigmoid(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

// Calls f(op) with op the element function of kind k (T -> T), so that a loop can apply any
// activation with the kind switched once, outside the loop.
template <class T, class F>
void visit_activation(nn::activation_kind k, F&& f) {
  using nn::activation_kind;
  switch (k) {
    case activation_kind::identity: f([](T v) { return v; }); break;
    case activation_kind::relu: f([](T v) { return v > T(0) ? v : T(0); }); break;
    case activation_kind::relu6: f([](T v) { return std::min(std::max(v, T(0)), T(6)); }); break;
    case activation_kind::hard_sigmoid: f([](T v) { return std::min(std::max(v + T(3), T(0)), T(6)) / T(6); }); break;
    case activation_kind::hard_swish: f([](T v) { return v * std::min(std::max(v + T(3), T(0)), T(6)) / T(6); }); break;
    case activation_kind::silu: f([](T v) { return v * sigmoid(v); }); break;
    case activation_kind::sigmoid: f([](T v) { return sigmoid(v); }); break;
  }
}

template <class T>
void activation_forward(nn::activation_kind k, const T* x, T* y, std::int64_t n) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    visit_activation<T>(k, [&](auto op) { map_elements(x, y, b, e, op); });
  });
}

// dx = dy * f'(x). At the kinks the derivative is the one torch uses (0 at x = 0 for ReLU).
template <class T>
void activation_backward(nn::activation_kind k, const T* x, const T* dy, T* dx, std::int64_t n) {
  using nn::activation_kind;
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    switch (k) {
      case activation_kind::identity: std::copy(dy + b, dy + e, dx + b); break;
      case activation_kind::relu: map_gradient(x, dy, dx, b, e, [](T v, T g) { return v > T(0) ? g : T(0); }); break;
      case activation_kind::relu6:
        map_gradient(x, dy, dx, b, e, [](T v, T g) { return (v > T(0) && v < T(6)) ? g : T(0); });
        break;
      case activation_kind::hard_sigmoid:
        map_gradient(x, dy, dx, b, e, [](T v, T g) { return (v > T(-3) && v < T(3)) ? g / T(6) : T(0); });
        break;
      case activation_kind::hard_swish:
        map_gradient(x, dy, dx, b, e, [](T v, T g) {
          return v < T(-3) ? T(0) : v > T(3) ? g : g * (T(2) * v + T(3)) / T(6);
        });
        break;
      case activation_kind::silu:
        map_gradient(x, dy, dx, b, e, [](T v, T g) {
          const T sv = sigmoid(v);
          return g * sv * (T(1) + v * (T(1) - sv));
        });
        break;
      case activation_kind::sigmoid:
        map_gradient(x, dy, dx, b, e, [](T v, T g) {
          const T sv = sigmoid(v);
          return g * sv * (T(1) - sv);
        });
        break;
    }
  });
}

// ReLU, ReLU6 and hard-sigmoid are piecewise linear with one non-zero slope, so their backward only
// needs to know where x was inside the linear piece: one byte per element instead of the input.
constexpr bool keeps_mask(nn::activation_kind k) {
  return k == nn::activation_kind::relu || k == nn::activation_kind::relu6 || k == nn::activation_kind::hard_sigmoid;
}

// In place: x becomes f(x) and mask[i] = 1 where the slope is non-zero.
template <class T>
void activation_forward_masked(nn::activation_kind k, T* x, std::uint8_t* mask, std::int64_t n) {
  using nn::activation_kind;
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    switch (k) {
      case activation_kind::relu:
        map_masked(x, mask, b, e, [](T v) { return v > T(0); }, [](T v) { return v > T(0) ? v : T(0); });
        break;
      case activation_kind::relu6:
        map_masked(x, mask, b, e, [](T v) { return v > T(0) && v < T(6); },
                   [](T v) { return std::min(std::max(v, T(0)), T(6)); });
        break;
      case activation_kind::hard_sigmoid:
        map_masked(x, mask, b, e, [](T v) { return v > T(-3) && v < T(3); },
                   [](T v) { return std::min(std::max(v + T(3), T(0)), T(6)) / T(6); });
        break;
      default: break;
    }
  });
}

// dx = dy * slope where the mask is set (slope 1, or 1/6 for hard-sigmoid).
template <class T>
void activation_backward_masked(nn::activation_kind k, const std::uint8_t* mask, const T* dy, T* dx, std::int64_t n) {
  const T slope = k == nn::activation_kind::hard_sigmoid ? T(1) / T(6) : T(1);
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    TAILOR_INDEPENDENT_ITERATIONS
    for (auto i = b; i < e; ++i) dx[i] = mask[i] ? dy[i] * slope : T(0);
  });
}

}  // namespace tailor::backend::cpu_detail
