#pragma once
// What every task's trainer does after it has a loss and the gradient of its outputs: check the
// loss (a non-finite or exploding loss stops the run with failure_code::training_diverged and
// advice, before the weights are touched), back-propagate, clip the gradient norm, and take one
// step of the optimizer (SGD or AdamW) at the cosine schedule's learning rate. The task's trainer
// (classification_trainer, detection_trainer) owns the loss; this owns the steps.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"

namespace tailor::train {

enum class optimizer_kind { sgd, adamw };

struct optimization_options {
  optimizer_kind optimizer = optimizer_kind::sgd;
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 1e-4;
  double clip_norm = 0.0;  // 0: no clipping
  std::int64_t warmup_steps = 0, total_steps = 1;
  // A loss above explode_factor x max(1, first loss) counts as divergence.
  double explode_factor = 100.0;
};

template <class Net>
class network_optimizer {
 public:
  using B = typename Net::backend;

  network_optimizer(Net& net, const optimization_options& o)
      : net_(net), oo_(o), schedule_{o.lr, o.warmup_steps, o.total_steps} {
    if (o.optimizer == optimizer_kind::sgd) opt_.template emplace<sgd<B>>(sgd_options{o.momentum, o.weight_decay, o.nesterov});
    else opt_.template emplace<adamw<B>>(adamw_options{0.9, 0.999, 1e-8, o.weight_decay});
  }

  std::int64_t steps() const { return steps_; }
  double learning_rate() const { return schedule_.at(steps_); }
  // A shorter (or longer) run from here on: the schedule's last step moves, never before now.
  void set_total_steps(std::int64_t total) { schedule_.total = std::max(total, steps_); }
  double last_grad_norm() const { return grad_norm_; }
  // Checkpoint support: the optimizer's state slot for a key (nullptr if it keeps no such state),
  // and the counters a resumed run continues from.
  typename B::array* optimizer_state_slot(const std::string& key, const std::vector<std::size_t>& shape, std::int64_t steps) {
    return std::visit([&](auto& o) -> typename B::array* {
      if constexpr (std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) return nullptr;
      else return o.state_slot(key, shape, steps);
    }, opt_);
  }
  double first_loss() const { return first_loss_; }
  void restore_counters(std::int64_t steps, double first_loss) {
    steps_ = steps;
    first_loss_ = first_loss;
  }
  template <class F>
  void visit_optimizer_state(F&& f) {
    std::visit([&](auto& o) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) o.visit_state(f);
    }, opt_);
  }

 protected:
  // One step from a loss: backward() must accumulate the gradients of the loss into the network's
  // parameters (they are zeroed first). Returns the loss.
  template <class Backward>
  double apply(double loss, Backward&& backward) {
    if (!std::isfinite(loss))
      throw error(failure_code::training_diverged,
                  fmt::format("the training loss became {} at step {} (learning rate {:.3g}): lower the learning rate, "
                              "enable gradient clipping, or check the images and labels",
                              loss, steps_, learning_rate()));
    if (steps_ == 0) first_loss_ = loss;
    if (loss > oo_.explode_factor * std::max(1.0, first_loss_))
      throw error(failure_code::training_diverged,
                  fmt::format("the training loss exploded to {:.4g} at step {} (it started at {:.4g}; learning rate "
                              "{:.3g}): lower the learning rate or enable gradient clipping",
                              loss, steps_, first_loss_, learning_rate()));
    zero_grad(net_);
    backward();
    grad_norm_ = clip_grad_norm<B>(net_, oo_.clip_norm);
    if (!std::isfinite(grad_norm_))
      throw error(failure_code::training_diverged,
                  fmt::format("the gradients became non-finite at step {}: lower the learning rate (was {:.3g})", steps_,
                              learning_rate()));
    const double lr = learning_rate();
    std::visit([&](auto& o) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) o.step(net_, lr);
    }, opt_);
    ++steps_;
    return loss;
  }

  Net& net_;

 private:
  optimization_options oo_;
  cosine_schedule schedule_;
  std::variant<std::monostate, sgd<B>, adamw<B>> opt_;
  std::int64_t steps_ = 0;
  double first_loss_ = 0, grad_norm_ = 0;
};

}  // namespace tailor::train
