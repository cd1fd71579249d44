#pragma once
// What one training (a fold, or the final run on all the images) charges to the budget, and
// whether its next step, or its next validation batch, still fits. The customizer feeds it the
// busy seconds between two asks; it keeps the slowest step and batch seen, how much slower than
// the probe the steps run, and a reserve that pays for validating what was trained, so that a
// training the budget stops is still validated (and kept) instead of lost.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tailor::automl {

template <class Budget>
class fold_meter {
 public:
  // probe_step: the probe's seconds for one training step of this configuration;
  // probe_image: the probe's evaluation seconds per image; validation_images: how many the
  // validation scores (0 for a run on all the images, which has none), in batches of
  // validation_batch.
  fold_meter(Budget& budget, double probe_step, double probe_image, std::size_t validation_images,
             std::size_t validation_batch)
      : budget_(budget),
        probe_step_(probe_step),
        worst_step_(probe_step),
        worst_image_(probe_image),
        reserve_(validation_images == 0 ? 0.0 : probe_image * double(validation_images) * 1.5 + 0.1),
        images_(validation_images),
        batch_size_(std::max<std::size_t>(1, validation_batch)) {}

  // A training step's busy seconds (the first step's, with the start-up, does not say how fast
  // steps run): charges them; says whether the next step still leaves the validation's reserve.
  bool step(double seconds) {
    budget_.charge(seconds);
    if (std::exchange(stepped_, true)) {
      worst_step_ = std::max(worst_step_, seconds);
      busy_training_ += seconds;
      ++training_steps_;
      slowdown_ = std::max(1.0, busy_training_ / double(training_steps_) / std::max(probe_step_, 1e-9));
    }
    return next_step_fits();
  }
  bool next_step_fits() const { return budget_.can_afford(1.5 * worst_step_ + reserve()); }

  // Training is over: the seconds since the last ask belong to the last step (charged as one);
  // from now on, asks are about validation batches.
  void start_validation(double last_step_seconds) {
    budget_.charge(last_step_seconds);
    validating_ = true;
  }
  bool validating() const { return validating_; }

  // The busy seconds since the last ask while validating (the batch before, with the loader's
  // work; the first ask comes before any batch ran): charges them; says whether the next batch
  // fits, at the slowest rate per image seen (the last batch may be smaller than the others).
  bool batch(double seconds) {
    budget_.charge(seconds);
    if (std::exchange(batched_, true)) {
      const std::size_t ran = next_batch();
      if (ran > 0) worst_image_ = std::max(worst_image_, seconds / double(ran));
      validated_ += ran;
    }
    return budget_.can_afford(1.5 * worst_image_ * double(std::max<std::size_t>(1, next_batch())));
  }

  // What the validation is kept for: grows with the measured slowdown, since steps that run
  // slower than the probe said (a busy machine) make the validation slower too.
  double reserve() const { return reserve_ * slowdown_; }
  // Busy seconds the training may still spend: what is left, less the reserve and two slow
  // steps' margin (what a replan plans with).
  double left_for_training() const { return budget_.left() / budget_.units(1.0) - reserve() - 2 * worst_step_; }
  double slowdown() const { return slowdown_; }
  double worst_step() const { return worst_step_; }

 private:
  std::size_t next_batch() const { return std::min(batch_size_, images_ - std::min(images_, validated_)); }

  Budget& budget_;
  double probe_step_, worst_step_, worst_image_, reserve_;
  std::size_t images_, batch_size_, validated_ = 0;
  double slowdown_ = 1.0, busy_training_ = 0;
  std::int64_t training_steps_ = 0;
  bool validating_ = false, stepped_ = false, batched_ = false;
};

}  // namespace tailor::automl
