#pragma once
// One optimisation step at a time for a classification network: loss (softmax cross-entropy with
// label smoothing, or sigmoid binary cross-entropy for multilabel), backward, gradient clipping,
// the optimizer (SGD or AdamW) and the cosine schedule. A non-finite or exploding loss stops the
// run with failure_code::training_diverged and advice, before the weights are touched.
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

struct classification_train_options {
  optimizer_kind optimizer = optimizer_kind::sgd;
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 1e-4;
  double label_smoothing = 0.0;
  double clip_norm = 0.0;  // 0: no clipping
  std::int64_t warmup_steps = 0, total_steps = 1;
  bool multilabel = false;
  // A loss above explode_factor x max(1, first loss) counts as divergence.
  double explode_factor = 100.0;
};

template <class Net>
class classification_trainer {
 public:
  using B = typename Net::backend;
  using tensor = typename B::tensor;

  classification_trainer(Net& net, const classification_train_options& o)
      : net_(net), o_(o), schedule_{o.lr, o.warmup_steps, o.total_steps} {
    if (o.optimizer == optimizer_kind::sgd) opt_.template emplace<sgd<B>>(sgd_options{o.momentum, o.weight_decay, o.nesterov});
    else opt_.template emplace<adamw<B>>(adamw_options{0.9, 0.999, 1e-8, o.weight_decay});
  }

  // Multiclass step: labels are class indices. The training-mode logits are handed back when
  // asked for (training accuracy without a second forward pass).
  double step(tensor x, const std::vector<std::int32_t>& labels, tensor* logits_out = nullptr) {
    tensor logits = net_.forward(std::move(x), true), grad;
    check_labels(labels);
    const double loss = B::softmax_cross_entropy(logits, labels, o_.label_smoothing, grad);
    if (logits_out) *logits_out = std::move(logits);
    return finish(loss, grad);
  }
  // Multilabel step: targets are 0/1, N x C x 1 x 1.
  double step(tensor x, const tensor& targets, tensor* logits_out = nullptr) {
    tensor logits = net_.forward(std::move(x), true), grad;
    const double loss = B::sigmoid_binary_cross_entropy(logits, targets, grad);
    if (logits_out) *logits_out = std::move(logits);
    return finish(loss, grad);
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

 private:
  void check_labels(const std::vector<std::int32_t>& labels) const {
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= net_.classes())
        throw error(failure_code::invalid_argument,
                    fmt::format("label {} of sample {} is outside 0..{}", labels[i], i, net_.classes() - 1));
  }

  double finish(double loss, const tensor& grad) {
    if (!std::isfinite(loss))
      throw error(failure_code::training_diverged,
                  fmt::format("the training loss became {} at step {} (learning rate {:.3g}): lower the learning rate, "
                              "enable gradient clipping, or check the images and labels",
                              loss, steps_, learning_rate()));
    if (steps_ == 0) first_loss_ = loss;
    if (loss > o_.explode_factor * std::max(1.0, first_loss_))
      throw error(failure_code::training_diverged,
                  fmt::format("the training loss exploded to {:.4g} at step {} (it started at {:.4g}; learning rate "
                              "{:.3g}): lower the learning rate or enable gradient clipping",
                              loss, steps_, first_loss_, learning_rate()));
    zero_grad(net_);
    net_.backward(grad);
    grad_norm_ = clip_grad_norm<B>(net_, o_.clip_norm);
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
  classification_train_options o_;
  cosine_schedule schedule_;
  std::variant<std::monostate, sgd<B>, adamw<B>> opt_;
  std::int64_t steps_ = 0;
  double first_loss_ = 0, grad_norm_ = 0;
};

}  // namespace tailor::train
