#pragma once
// How fast this machine trains, against a fixed reference: the factor that turns busy seconds here
// into calibrated compute seconds (budget::compute_time). The workload is a short, fixed piece of
// real training — the small CNN at width 0.5 on a 16 x 3 x 64 x 64 batch, forward, backward and an
// SGD step, 4 steps a round — with the backend's threads. The reference machine is the 2-core VM
// tailor is developed on, where a round takes calibration_reference_seconds on average
// (docs/automl.md): there the factor is 1 and a budget of 5 minutes is about 5 busy minutes; a
// machine twice as fast has factor 2 and spends the same budget in half the time.
//
// The speed of a shared machine wanders over seconds: one measurement of a few rounds in a row
// varies by +-15% on the VM while a 9-second epoch of training varies by 3%. So the factor is the
// mean of all the rounds timed so far, and the customizer times one more round every few busy
// seconds of training (calibrator::round), so that a run's factor is a mean over the run and not
// one moment's. (Measured: two runs in a row still got factors 8-13% apart in three pairs of
// five, docs/quality.md.)
#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

#include "../backend/cpu.hpp"
#include "../nn/backbones/small_cnn.hpp"
#include "../task/classification_network.hpp"
#include "../train/classification_trainer.hpp"

namespace tailor::automl {

// A round's mean time on the reference machine (see docs/automl.md for how it was measured).
inline constexpr double calibration_reference_seconds = 0.27;

struct calibration {
  double factor = 1.0;            // reference / measured: > 1 on a machine faster than the reference
  double measured_seconds = 0.0;  // a round's mean time here
  double reference_seconds = calibration_reference_seconds;
  int threads = 1;
  int rounds = 0;  // how many rounds the mean is over (0: given, not measured)
};

// The workload, built once; round() times one more round and folds it into the mean.
template <class B = backend::cpu>
class calibrator {
 public:
  static constexpr std::size_t batch = 16, side = 64;
  static constexpr int steps = 4;

  calibrator() : net_(10, options(), 20241126), trainer_(net_, train_options()), x_(tensor::from_shape({batch, 3, side, side})) {
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    for (auto& v : x_) {  // fixed pseudo-random pixels (no data dependence in the timing)
      state = backend::cpu_detail::splitmix64(state);
      v = typename B::value_type(double(state >> 11) * 0x1.0p-53 - 0.5);
    }
    labels_.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) labels_[i] = std::int32_t(i % 10);
    (void)time_round();  // warms caches and the thread pool; not counted
  }

  // Times one round (about calibration_reference_seconds / factor) and returns its seconds.
  double round() {
    const double seconds = time_round();
    sum_ += seconds;
    ++rounds_;
    return seconds;
  }

  // `count` more rounds, then the measurement so far.
  calibration measure(int count) {
    for (int i = 0; i < count; ++i) (void)round();
    return current();
  }

  int rounds() const { return rounds_; }

  calibration current() const {
    calibration c;
    c.rounds = rounds_;
    c.measured_seconds = rounds_ ? sum_ / rounds_ : 0.0;
    c.factor = rounds_ ? calibration_reference_seconds / c.measured_seconds : 1.0;
    c.threads = backend::cpu_detail::num_threads();
    return c;
  }

 private:
  using tensor = typename B::tensor;
  using network = task::classification_network<nn::small_cnn, B>;

  static nn::backbone_options options() {
    nn::backbone_options o;
    o.width = 0.5;
    return o;
  }
  static train::classification_train_options train_options() {
    train::classification_train_options t;
    t.lr = 0.01;
    t.total_steps = std::numeric_limits<std::int32_t>::max();  // rounds keep coming while a run lasts
    return t;
  }
  double time_round() {
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) trainer_.step(x_, labels_);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  network net_;
  train::classification_trainer<network> trainer_;
  tensor x_;
  std::vector<std::int32_t> labels_;
  double sum_ = 0;
  int rounds_ = 0;
};

// A factor that is given, not measured (another run's, so that two runs are charged alike): the
// round time it stands for, and 0 rounds.
inline calibration given_calibration(double factor) {
  calibration c;
  c.factor = factor;
  c.measured_seconds = c.reference_seconds / factor;
  c.threads = backend::cpu_detail::num_threads();
  return c;
}

// The rounds of a first measurement (about 1.5 s on the reference machine).
inline constexpr int calibration_first_rounds = 7;

// One measurement now: the mean of `rounds` rounds after a warm-up round.
template <class B = backend::cpu>
calibration calibrate(int rounds = calibration_first_rounds) {
  return calibrator<B>().measure(rounds);
}

}  // namespace tailor::automl
