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

template <class T>
void activation_forward(nn::activation_kind k, const T* x, T* y, std::int64_t n) {
  using nn::activation_kind;
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    switch (k) {
      case activation_kind::identity: std::copy(x + b, x + e, y + b); break;
      case activation_kind::relu: for (auto i = b; i < e; ++i) y[i] = x[i] > T(0) ? x[i] : T(0); break;
      case activation_kind::relu6: for (auto i = b; i < e; ++i) y[i] = std::min(std::max(x[i], T(0)), T(6)); break;
      case activation_kind::hard_sigmoid:
        for (auto i = b; i < e; ++i) y[i] = std::min(std::max(x[i] + T(3), T(0)), T(6)) / T(6);
        break;
      case activation_kind::hard_swish:
        for (auto i = b; i < e; ++i) y[i] = x[i] * std::min(std::max(x[i] + T(3), T(0)), T(6)) / T(6);
        break;
      case activation_kind::silu: for (auto i = b; i < e; ++i) y[i] = x[i] * sigmoid(x[i]); break;
      case activation_kind::sigmoid: for (auto i = b; i < e; ++i) y[i] = sigmoid(x[i]); break;
    }
  });
}

// dx = dy * f'(x). At the kinks the derivative is the one torch uses (0 at x = 0 for ReLU).
template <class T>
void activation_backward(nn::activation_kind k, const T* x, const T* dy, T* dx, std::int64_t n) {
  using nn::activation_kind;
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    switch (k) {
      case activation_kind::identity: std::copy(dy + b, dy + e, dx + b); break;
      case activation_kind::relu: for (auto i = b; i < e; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0); break;
      case activation_kind::relu6: for (auto i = b; i < e; ++i) dx[i] = (x[i] > T(0) && x[i] < T(6)) ? dy[i] : T(0); break;
      case activation_kind::hard_sigmoid:
        for (auto i = b; i < e; ++i) dx[i] = (x[i] > T(-3) && x[i] < T(3)) ? dy[i] / T(6) : T(0);
        break;
      case activation_kind::hard_swish:
        for (auto i = b; i < e; ++i)
          dx[i] = x[i] < T(-3) ? T(0) : x[i] > T(3) ? dy[i] : dy[i] * (T(2) * x[i] + T(3)) / T(6);
        break;
      case activation_kind::silu:
        for (auto i = b; i < e; ++i) {
          const T s = sigmoid(x[i]);
          dx[i] = dy[i] * s * (T(1) + x[i] * (T(1) - s));
        }
        break;
      case activation_kind::sigmoid:
        for (auto i = b; i < e; ++i) {
          const T s = sigmoid(x[i]);
          dx[i] = dy[i] * s * (T(1) - s);
        }
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
        for (auto i = b; i < e; ++i) {
          const bool on = x[i] > T(0);
          mask[i] = on;
          x[i] = on ? x[i] : T(0);
        }
        break;
      case activation_kind::relu6:
        for (auto i = b; i < e; ++i) {
          mask[i] = x[i] > T(0) && x[i] < T(6);
          x[i] = std::min(std::max(x[i], T(0)), T(6));
        }
        break;
      case activation_kind::hard_sigmoid:
        for (auto i = b; i < e; ++i) {
          mask[i] = x[i] > T(-3) && x[i] < T(3);
          x[i] = std::min(std::max(x[i] + T(3), T(0)), T(6)) / T(6);
        }
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
    for (auto i = b; i < e; ++i) dx[i] = mask[i] ? dy[i] * slope : T(0);
  });
}

}  // namespace tailor::backend::cpu_detail
