#pragma once
// One optimisation step at a time for a detector: the targets of the batch's boxes (FCOS
// assignment on the pyramid of the input's size), the FCOS loss and its gradient; the checks,
// backward, clipping, optimizer and schedule are network_optimizer's.
#include <span>
#include <vector>

#include "../detection/fcos_loss.hpp"
#include "../detection/fcos_targets.hpp"
#include "../detection/head_kind.hpp"
#include "network_optimizer.hpp"

namespace tailor::train {

struct detection_train_options : optimization_options {
  detection::fcos_loss_options loss;
  detection::fcos_target_options targets;
};

namespace detail {

// Either head's trainer takes square inputs and one box list per image.
template <class Tensor>
void check_detection_batch(const char* who, const Tensor& x, std::size_t box_lists) {
  if (x.shape()[3] != x.shape()[2])
    throw error(failure_code::invalid_argument,
                fmt::format("{}: the input is {}x{}; the detector trains on square inputs", who, x.shape()[3], x.shape()[2]));
  if (box_lists != x.shape()[0])
    throw error(failure_code::invalid_argument,
                fmt::format("{}: {} box lists for a batch of {} images", who, box_lists, x.shape()[0]));
}

}  // namespace detail

template <class Net>
class detection_trainer : public network_optimizer<Net> {
 public:
  static constexpr detection::head_kind head = detection::head_kind::fcos;  // the loss it trains
  using B = typename Net::backend;
  using tensor = typename B::tensor;

  detection_trainer(Net& net, const detection_train_options& o) : network_optimizer<Net>(net, o), o_(o) {}

  // boxes[n]: image n's boxes in the input's pixels (the loader's, after augmentation).
  detection::fcos_loss_value step(tensor x, std::span<const std::vector<detection::gt_box>> boxes) {
    detail::check_detection_batch("detection_trainer", x, boxes.size());
    const int size = int(x.shape()[2]);
    const std::vector<detection::level_geometry> levels = detection::pyramid_levels(size, detection::pyramid_strides);
    std::vector<std::vector<detection::point_target>> targets;
    targets.reserve(boxes.size());
    for (const auto& b : boxes) targets.push_back(detection::assign_targets(b, levels, o_.targets));
    auto out = this->net_.forward(std::move(x), true);
    typename Net::outputs grad;
    const auto value = detection::fcos_loss<B>(out, targets, levels, o_.loss, grad);
    this->apply(value.total, [&] { this->net_.backward(grad); });
    return value;
  }

 private:
  detection_train_options o_;
};

}  // namespace tailor::train
