#pragma once
// One optimisation step at a time for a classification network: the loss (softmax cross-entropy
// with label smoothing, or sigmoid binary cross-entropy for multilabel) and its gradient; the
// checks, backward, clipping, optimizer and schedule are network_optimizer's.
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "network_optimizer.hpp"

namespace tailor::train {

struct classification_train_options : optimization_options {
  double label_smoothing = 0.0;
  bool multilabel = false;
};

template <class Net>
class classification_trainer : public network_optimizer<Net> {
 public:
  using B = typename Net::backend;
  using tensor = typename B::tensor;

  classification_trainer(Net& net, const classification_train_options& o) : network_optimizer<Net>(net, o), o_(o) {}

  // Multiclass step: labels are class indices. The training-mode logits are handed back when
  // asked for (training accuracy without a second forward pass).
  double step(tensor x, const std::vector<std::int32_t>& labels, tensor* logits_out = nullptr) {
    tensor logits = this->net_.forward(std::move(x), true), grad;
    check_labels(labels);
    const double loss = B::softmax_cross_entropy(logits, labels, o_.label_smoothing, grad);
    if (logits_out) *logits_out = std::move(logits);
    return this->apply(loss, [&] { this->net_.backward(grad); });
  }
  // Multilabel step: targets are 0/1, N x C x 1 x 1.
  double step(tensor x, const tensor& targets, tensor* logits_out = nullptr) {
    tensor logits = this->net_.forward(std::move(x), true), grad;
    const double loss = B::sigmoid_binary_cross_entropy(logits, targets, grad);
    if (logits_out) *logits_out = std::move(logits);
    return this->apply(loss, [&] { this->net_.backward(grad); });
  }

 private:
  void check_labels(const std::vector<std::int32_t>& labels) const {
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= this->net_.classes())
        throw error(failure_code::invalid_argument,
                    fmt::format("label {} of sample {} is outside 0..{}", labels[i], i, this->net_.classes() - 1));
  }

  classification_train_options o_;
};

}  // namespace tailor::train
