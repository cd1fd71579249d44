#pragma once
// BatchNorm2d: weight (gamma), bias (beta), running_mean, running_var, num_batches_tracked, as
// torch. In training it normalises with batch statistics and updates the running ones; in
// inference, or when its statistics are frozen (fine-tuning a pretrained stage), it uses the
// running statistics and its backward treats them as constants.
#include <cstdint>

#include <fmt/format.h>

#include "../../core/error.hpp"
#include "../concepts.hpp"
#include "../init.hpp"
#include "../parameter.hpp"
#include "activation.hpp"

namespace tailor::nn {

template <Backend B>
class batch_norm2d {
 public:
  using backend = B;
  using tensor = typename B::tensor;
  using array = typename B::array;

  batch_norm2d() = default;
  explicit batch_norm2d(int channels, double eps = 1e-5, double momentum = 0.1)
      : channels_(channels), eps_(eps), momentum_(momentum) {
    const std::vector<std::size_t> c{std::size_t(channels)};
    weight_.resize(c);
    bias_.resize(c);
    weight_.decay = bias_.decay = false;
    for (auto* a : {&running_mean_, &running_var_, &mean_, &invstd_, &var_}) a->resize(c);
    num_batches_tracked_.resize({});
    reset();
  }

  void reset() {
    constant(weight_.value, 1.0);
    constant(bias_.value, 0.0);
    constant(running_mean_, 0.0);
    constant(running_var_, 1.0);
    num_batches_tracked_() = 0;
  }
  void init(rng&) { reset(); }

  // Running statistics stay fixed and are used in training too (frozen pretrained norms).
  void freeze_statistics(bool on) { frozen_statistics_ = on; }

  tensor forward(tensor x, bool training) {
    check_channels(x);
    if (!training) {  // inference: in place, nothing kept for backward
      batch_statistics_ = false;
      B::batch_norm_forward_eval(x, weight_.value, bias_.value, running_mean_, running_var_, eps_, x);
      return x;
    }
    tensor y;
    batch_statistics_ = !frozen_statistics_;
    if (batch_statistics_) {
      B::batch_norm_forward_train(x, weight_.value, bias_.value, eps_, y, mean_, invstd_, var_);
      B::batch_norm_update_running(running_mean_, running_var_, mean_, var_, momentum_,
                                   std::int64_t(x.shape()[0] * x.shape()[2] * x.shape()[3]));
      num_batches_tracked_() += 1;
    } else {
      B::batch_norm_forward_eval(x, weight_.value, bias_.value, running_mean_, running_var_, eps_, y);
      for (std::size_t c = 0; c < mean_.size(); ++c) {
        mean_(c) = running_mean_(c);
        invstd_(c) = typename B::value_type(1.0 / std::sqrt(double(running_var_(c)) + eps_));
      }
    }
    input_ = std::move(x);
    return y;
  }

  // Inference followed by an activation, in one pass over x (in place), where the backend offers it.
  tensor forward_inference(tensor x, activation_kind act) {
    if constexpr (requires(tensor& t) {
                    B::batch_norm_forward_eval(t, weight_.value, bias_.value, running_mean_, running_var_, eps_, t, act);
                  }) {
      check_channels(x);
      batch_statistics_ = false;
      B::batch_norm_forward_eval(x, weight_.value, bias_.value, running_mean_, running_var_, eps_, x, act);
      return x;
    } else {
      return activation<B>(act).forward(forward(std::move(x), false), false);
    }
  }

  tensor backward(const tensor& dy, bool need_input_grad = true) {
    tensor dx;
    B::batch_norm_backward(input_, dy, batch_statistics_, weight_.value, mean_, invstd_, need_input_grad ? &dx : nullptr,
                           weight_.frozen ? nullptr : &weight_.grad, bias_.frozen ? nullptr : &bias_.grad);
    return dx;
  }

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    f(join_name(prefix, "bias"), bias_);
  }
  // f(name, array&, buffer_kind)
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    f(join_name(prefix, "running_mean"), running_mean_, buffer_kind::statistic);
    f(join_name(prefix, "running_var"), running_var_, buffer_kind::statistic);
    f(join_name(prefix, "num_batches_tracked"), num_batches_tracked_, buffer_kind::counter);
  }

  int channels() const { return channels_; }
  double eps() const { return eps_; }
  void release_cache() { input_ = tensor(); }

 private:
  void check_channels(const tensor& x) const {
    if (x.shape()[1] != std::size_t(channels_))
      throw error(failure_code::invalid_argument,
                  fmt::format("batch_norm2d: input has {} channels, the layer expects {}", x.shape()[1], channels_));
  }

  int channels_ = 0;
  double eps_ = 1e-5, momentum_ = 0.1;
  bool frozen_statistics_ = false, batch_statistics_ = false;
  parameter<B> weight_, bias_;
  array running_mean_, running_var_, num_batches_tracked_;
  array mean_, invstd_, var_;  // of the last training batch
  tensor input_;
};

}  // namespace tailor::nn
