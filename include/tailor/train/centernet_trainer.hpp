#pragma once
// One optimisation step of a detector with the CenterNet-style head (detection/centernet_head.hpp):
// the heatmap and box targets of the batch on the finest level, the loss and its gradient; the
// checks, backward, clipping, optimizer and schedule are network_optimizer's. It takes the same
// options as detection_trainer (the FCOS loss and target options do not apply), so that
// fit_detector<Net, centernet_trainer> trains it with everything else unchanged.
#include <span>
#include <vector>

#include "../detection/centernet_head.hpp"
#include "detection_trainer.hpp"  // detection_train_options

namespace tailor::train {

template <class Net>
class centernet_trainer : public network_optimizer<Net> {
 public:
  static constexpr detection::head_kind head = detection::head_kind::centernet;  // the loss it trains
  using B = typename Net::backend;
  using tensor = typename B::tensor;

  centernet_trainer(Net& net, const detection_train_options& o, const detection::centernet_options& c = {})
      : network_optimizer<Net>(net, o), o_(c) {}

  // boxes[n]: image n's boxes in the input's pixels (the loader's, after augmentation).
  detection::centernet_loss_value step(tensor x, std::span<const std::vector<detection::gt_box>> boxes) {
    detail::check_detection_batch("centernet_trainer", x, boxes.size());
    const int size = int(x.shape()[2]);
    const int stride = detection::pyramid_strides[detection::centernet_level], cells = size / stride;
    std::vector<detection::centernet_targets> targets;
    targets.reserve(boxes.size());
    for (const auto& b : boxes)
      targets.push_back(detection::make_centernet_targets(b, this->net_.classes(), cells, cells, stride, o_));
    auto out = this->net_.forward(std::move(x), true);
    typename Net::outputs grad;
    const auto value = detection::centernet_loss<B>(out, targets, o_, grad);
    this->apply(value.total, [&] { this->net_.backward(grad); });
    return value;
  }

 private:
  detection::centernet_options o_;
};

}  // namespace tailor::train
