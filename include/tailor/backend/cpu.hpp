#pragma once
// backend::cpu — the CPU compute policy: xtensor containers for ownership and shapes, OpenBLAS
// GEMM for convolutions and linear layers, and hand-written loops over data() for the rest (one
// file per op in backend/cpu/), all on one pool of threads (cpu/thread_pool.hpp). Layers call only the static functions below, so a CUDA policy with
// the same members slots in without touching layers, backbones or tasks.
//
// Layout: NCHW. Measured on this 2-core machine (docs/performance.md, "Tensor layout"): with im2col
// + GEMM, NCHW lets a 1x1 convolution of one image use its input as the GEMM operand with no copy
// and writes outputs in place, and it is torch's own layout, so torchvision weights load as they are.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "cpu/activation.hpp"
#include "cpu/batch_norm.hpp"
#include "cpu/caching_allocator.hpp"
#include "cpu/conv2d.hpp"
#include "cpu/gemm.hpp"
#include "cpu/linear.hpp"
#include "cpu/losses.hpp"
#include "cpu/optimizer_kernels.hpp"
#include "cpu/parallel.hpp"
#include "cpu/pooling.hpp"

namespace tailor::backend {

template <class T>
struct cpu_t {
  using value_type = T;
  // Activations, N x C x H x W, contiguous row-major, from the caching allocator.
  using tensor = xt::xtensor<T, 4, xt::layout_type::row_major, cpu_detail::caching_allocator<T>>;
  using array = xt::xarray<T>;  // parameters and buffers, with torch's shapes
  using index_tensor = xt::xtensor<std::int32_t, 4, xt::layout_type::row_major, cpu_detail::caching_allocator<std::int32_t>>;
  static constexpr std::string_view name = "cpu";

  // Per-layer state a backend may keep between calls (cuDNN algorithm choices, later). The CPU
  // backend keeps none: its im2col columns go to one scratch buffer per thread, shared by all
  // layers since they run one after another (one buffer per layer cost resnet18 ~300 MB).
  struct workspace {};
  static std::vector<T>& scratch() {
    static thread_local std::vector<T> buffer;
    return buffer;
  }

  static void set_num_threads(int n) { cpu_detail::set_num_threads(n); }
  // Hands the activation memory kept for reuse back to the system.
  static void release_cached_memory() { cpu_detail::block_cache::instance().release(); }
  static int num_threads() { return cpu_detail::num_threads(); }

  static void conv2d_forward(const nn::conv2d_shape& s, const tensor& x, const array& w, const array* bias, tensor& y,
                             workspace& ws) {
    (void)ws;
    cpu_detail::conv2d_forward<T>(s, x, w, bias ? bias->data() : nullptr, y, scratch());
  }
  static void conv2d_backward(const nn::conv2d_shape& s, const tensor& x, const array& w, const tensor& dy, tensor* dx,
                              array* dw, array* db, workspace& ws) {
    (void)ws;
    cpu_detail::conv2d_backward<T>(s, x, w, dy, dx, dw ? dw->data() : nullptr, db ? db->data() : nullptr, scratch());
  }

  static cpu_detail::batch_norm_dims bn_dims(const tensor& x) {
    return {std::int64_t(x.shape()[0]), std::int64_t(x.shape()[1]), std::int64_t(x.shape()[2] * x.shape()[3])};
  }
  static void batch_norm_forward_train(const tensor& x, const array& gamma, const array& beta, double eps, tensor& y,
                                       array& mean, array& invstd, array& var) {
    y.resize(x.shape());
    cpu_detail::batch_norm_forward_train<T>(bn_dims(x), x.data(), gamma.data(), beta.data(), eps, y.data(), mean.data(),
                                            invstd.data(), var.data());
  }
  // y may be x (in place); `act` follows the normalisation in the same pass.
  static void batch_norm_forward_eval(const tensor& x, const array& gamma, const array& beta, const array& running_mean,
                                      const array& running_var, double eps, tensor& y,
                                      nn::activation_kind act = nn::activation_kind::identity) {
    y.resize(x.shape());
    cpu_detail::batch_norm_forward_eval<T>(bn_dims(x), x.data(), gamma.data(), beta.data(), running_mean.data(),
                                           running_var.data(), eps, y.data(), act);
  }
  static void batch_norm_backward(const tensor& x, const tensor& dy, bool batch_statistics, const array& gamma,
                                  const array& mean, const array& invstd, tensor* dx, array* dgamma, array* dbeta) {
    if (dx) dx->resize(x.shape());
    cpu_detail::batch_norm_backward<T>(bn_dims(x), batch_statistics, x.data(), dy.data(), gamma.data(), mean.data(),
                                       invstd.data(), dx ? dx->data() : nullptr, dgamma ? dgamma->data() : nullptr,
                                       dbeta ? dbeta->data() : nullptr);
  }

  // running = (1 - momentum) * running + momentum * batch, with the unbiased variance (as torch).
  static void batch_norm_update_running(array& running_mean, array& running_var, const array& mean, const array& var,
                                        double momentum, std::int64_t count) {
    const double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
    for (std::size_t c = 0; c < running_mean.size(); ++c) {
      running_mean.data()[c] = T((1 - momentum) * running_mean.data()[c] + momentum * mean.data()[c]);
      running_var.data()[c] = T((1 - momentum) * running_var.data()[c] + momentum * var.data()[c] * unbias);
    }
  }

  // Inverted dropout: mask = keep / (1 - p), keep drawn from a counter-based hash of (seed, index),
  // so the mask is the same for any number of threads.
  static void dropout_forward(const tensor& x, double p, std::uint64_t seed, tensor& mask, tensor& y) {
    mask.resize(x.shape());
    y.resize(x.shape());
    const T scale = T(1.0 / (1.0 - p));
    const std::uint64_t threshold = static_cast<std::uint64_t>(p * 18446744073709551616.0);
    cpu_detail::for_blocks(std::int64_t(x.size()), [&](std::int64_t b, std::int64_t e) {
      for (auto i = b; i < e; ++i) {
        const T m = cpu_detail::splitmix64(seed + std::uint64_t(i)) >= threshold ? scale : T(0);
        mask.data()[i] = m;
        y.data()[i] = x.data()[i] * m;
      }
    });
  }
  static void multiply(const tensor& a, const tensor& b, tensor& y) {
    y.resize(a.shape());
    cpu_detail::for_blocks(std::int64_t(a.size()), [&](std::int64_t s, std::int64_t e) {
      for (auto i = s; i < e; ++i) y.data()[i] = a.data()[i] * b.data()[i];
    });
  }

  static void activation_forward(nn::activation_kind k, const tensor& x, tensor& y) {
    y.resize(x.shape());
    cpu_detail::activation_forward<T>(k, x.data(), y.data(), std::int64_t(x.size()));
  }
  using mask_tensor = xt::xtensor<std::uint8_t, 4, xt::layout_type::row_major, cpu_detail::caching_allocator<std::uint8_t>>;
  static constexpr bool keeps_mask(nn::activation_kind k) { return cpu_detail::keeps_mask(k); }
  // In place (x becomes f(x)) with a one-byte mask for backward; for keeps_mask(k) kinds only.
  static void activation_forward_masked(nn::activation_kind k, tensor& x, mask_tensor& mask) {
    mask.resize(x.shape());
    cpu_detail::activation_forward_masked<T>(k, x.data(), mask.data(), std::int64_t(x.size()));
  }
  static void activation_backward_masked(nn::activation_kind k, const mask_tensor& mask, const tensor& dy, tensor& dx) {
    dx.resize(dy.shape());
    cpu_detail::activation_backward_masked<T>(k, mask.data(), dy.data(), dx.data(), std::int64_t(dy.size()));
  }
  static void activation_backward(nn::activation_kind k, const tensor& x, const tensor& dy, tensor& dx) {
    dx.resize(x.shape());
    cpu_detail::activation_backward<T>(k, x.data(), dy.data(), dx.data(), std::int64_t(x.size()));
  }

  using shape4 = typename tensor::shape_type;
  static cpu_detail::pool_dims pool(const nn::conv2d_shape& s, const shape4& x) {
    const int h = int(x[2]), w = int(x[3]);
    return {std::int64_t(x[0]), std::int64_t(x[1]), h, w, s.out_h(h), s.out_w(w)};
  }
  static void max_pool_forward(const nn::conv2d_shape& s, const tensor& x, tensor& y, index_tensor& argmax) {
    const auto d = pool(s, x.shape());
    y.resize({x.shape()[0], x.shape()[1], std::size_t(d.oh), std::size_t(d.ow)});
    argmax.resize(y.shape());
    cpu_detail::max_pool_forward<T>(s, d, x.data(), y.data(), argmax.data());
  }
  static void max_pool_backward(const nn::conv2d_shape& s, const shape4& x_shape, const index_tensor& argmax,
                                const tensor& dy, tensor& dx) {
    dx.resize(x_shape);
    cpu_detail::max_pool_backward<T>(pool(s, x_shape), argmax.data(), dy.data(), dx.data());
  }
  static void avg_pool_forward(const nn::conv2d_shape& s, const tensor& x, tensor& y) {
    const auto d = pool(s, x.shape());
    y.resize({x.shape()[0], x.shape()[1], std::size_t(d.oh), std::size_t(d.ow)});
    cpu_detail::avg_pool_forward<T>(s, d, x.data(), y.data());
  }
  static void avg_pool_backward(const nn::conv2d_shape& s, const shape4& x_shape, const tensor& dy, tensor& dx) {
    dx.resize(x_shape);
    cpu_detail::avg_pool_backward<T>(s, pool(s, x_shape), dy.data(), dx.data());
  }
  static void global_avg_pool_forward(const tensor& x, tensor& y) {
    y.resize({x.shape()[0], x.shape()[1], 1, 1});
    cpu_detail::global_avg_pool_forward<T>(std::int64_t(x.shape()[0] * x.shape()[1]),
                                           std::int64_t(x.shape()[2] * x.shape()[3]), x.data(), y.data());
  }
  static void global_avg_pool_backward(const shape4& x_shape, const tensor& dy, tensor& dx) {
    dx.resize(x_shape);
    cpu_detail::global_avg_pool_backward<T>(std::int64_t(x_shape[0] * x_shape[1]), std::int64_t(x_shape[2] * x_shape[3]),
                                            dy.data(), dx.data());
  }

  // x is N x in (any trailing shape flattened), y is N x out x 1 x 1.
  static void linear_forward(const tensor& x, const array& w, const array* b, tensor& y) {
    const int n = int(x.shape()[0]), in = int(x.size() / x.shape()[0]), out = int(w.shape()[0]);
    y.resize({std::size_t(n), std::size_t(out), 1, 1});
    cpu_detail::linear_forward<T>(n, in, out, x.data(), w.data(), b ? b->data() : nullptr, y.data());
  }
  static void linear_backward(const tensor& x, const array& w, const tensor& dy, tensor* dx, array* dw, array* db) {
    const int n = int(x.shape()[0]), in = int(x.size() / x.shape()[0]), out = int(w.shape()[0]);
    if (dx) dx->resize(x.shape());
    cpu_detail::linear_backward<T>(n, in, out, x.data(), w.data(), dy.data(), dx ? dx->data() : nullptr,
                                   dw ? dw->data() : nullptr, db ? db->data() : nullptr);
  }

  // Losses on logits N x C x 1 x 1: the mean loss, and d loss / d logits in grad.
  static double softmax_cross_entropy(const tensor& logits, const std::vector<std::int32_t>& labels, double smoothing, tensor& grad) {
    grad.resize(logits.shape());
    return cpu_detail::softmax_cross_entropy<T>(int(logits.shape()[0]), int(logits.size() / logits.shape()[0]), logits.data(),
                                                labels.data(), smoothing, grad.data());
  }
  static double sigmoid_binary_cross_entropy(const tensor& logits, const tensor& targets, tensor& grad) {
    grad.resize(logits.shape());
    return cpu_detail::sigmoid_binary_cross_entropy<T>(int(logits.shape()[0]), int(logits.size() / logits.shape()[0]),
                                                       logits.data(), targets.data(), grad.data());
  }

  // Optimizer steps on one parameter (state arrays have the parameter's shape).
  static void sgd_update(array& p, const array& grad, array& momentum_buffer, double lr, double momentum,
                         double weight_decay, bool nesterov, bool first_step) {
    cpu_detail::sgd_update<T>(std::int64_t(p.size()), p.data(), grad.data(), momentum_buffer.data(), lr, momentum,
                              weight_decay, nesterov, first_step);
  }
  static void adamw_update(array& p, const array& grad, array& m, array& v, double lr, double beta1, double beta2,
                           double eps, double weight_decay, std::int64_t step) {
    cpu_detail::adamw_update<T>(std::int64_t(p.size()), p.data(), grad.data(), m.data(), v.data(), lr, beta1, beta2, eps,
                                weight_decay, step);
  }
  static double squared_norm(const array& a) { return cpu_detail::squared_norm<T>(std::int64_t(a.size()), a.data()); }
  static void scale(array& a, double k) { cpu_detail::scale<T>(std::int64_t(a.size()), a.data(), k); }

  // a += b, elementwise (residual connections, gradient fan-in).
  static void add_inplace(tensor& a, const tensor& b) {
    T* pa = a.data();
    const T* pb = b.data();
    cpu_detail::for_blocks(std::int64_t(a.size()), [&](std::int64_t s, std::int64_t e) {
      for (auto i = s; i < e; ++i) pa[i] += pb[i];
    });
  }
  // x[n][c] *= s[n][c] for every pixel (squeeze-and-excitation); s is N x C x 1 x 1.
  static void scale_channels(const tensor& x, const tensor& s, tensor& y) {
    y.resize(x.shape());
    const std::int64_t planes = std::int64_t(x.shape()[0] * x.shape()[1]), plane = std::int64_t(x.shape()[2] * x.shape()[3]);
    cpu_detail::parallel_for(planes, plane, [&](std::int64_t nc) {
      const T k = s.data()[nc];
      const T* p = x.data() + nc * plane;
      T* q = y.data() + nc * plane;
      for (std::int64_t i = 0; i < plane; ++i) q[i] = p[i] * k;
    });
  }
  // Backward of scale_channels: dx = dy * s, ds[n][c] = sum over the plane of dy * x.
  static void scale_channels_backward(const tensor& x, const tensor& s, const tensor& dy, tensor& dx, tensor& ds) {
    dx.resize(x.shape());
    ds.resize(s.shape());
    const std::int64_t planes = std::int64_t(x.shape()[0] * x.shape()[1]), plane = std::int64_t(x.shape()[2] * x.shape()[3]);
    cpu_detail::parallel_for(planes, plane, [&](std::int64_t nc) {
      const T k = s.data()[nc];
      const T* p = x.data() + nc * plane;
      const T* g = dy.data() + nc * plane;
      T* q = dx.data() + nc * plane;
      T sum = 0;
      for (std::int64_t i = 0; i < plane; ++i) {
        q[i] = g[i] * k;
        sum += g[i] * p[i];
      }
      ds.data()[nc] = sum;
    });
  }

  // Nearest-neighbour upsampling by an integer factor (a feature pyramid's top-down path), and
  // its backward: each input pixel's gradient is the sum over the factor x factor block it fed.
  static void upsample_nearest_forward(const tensor& x, int factor, tensor& y) {
    const std::size_t h = x.shape()[2], w = x.shape()[3], f = std::size_t(factor);
    y.resize({x.shape()[0], x.shape()[1], h * f, w * f});
    const std::int64_t planes = std::int64_t(x.shape()[0] * x.shape()[1]);
    cpu_detail::parallel_for(planes, std::int64_t(h * w * f * f), [&](std::int64_t nc) {
      const T* p = x.data() + nc * h * w;
      T* q = y.data() + nc * h * w * f * f;
      for (std::size_t i = 0; i < h * f; ++i)
        for (std::size_t j = 0; j < w * f; ++j) q[i * w * f + j] = p[(i / f) * w + j / f];
    });
  }
  static void upsample_nearest_backward(const tensor& dy, int factor, tensor& dx) {
    const std::size_t f = std::size_t(factor), h = dy.shape()[2] / f, w = dy.shape()[3] / f;
    dx.resize({dy.shape()[0], dy.shape()[1], h, w});
    const std::int64_t planes = std::int64_t(dy.shape()[0] * dy.shape()[1]);
    cpu_detail::parallel_for(planes, std::int64_t(h * w * f * f), [&](std::int64_t nc) {
      const T* g = dy.data() + nc * h * w * f * f;
      T* q = dx.data() + nc * h * w;
      std::fill(q, q + h * w, T(0));
      for (std::size_t i = 0; i < h * f; ++i)
        for (std::size_t j = 0; j < w * f; ++j) q[(i / f) * w + j / f] += g[i * w * f + j];
    });
  }
};

using cpu = cpu_t<float>;

}  // namespace tailor::backend
