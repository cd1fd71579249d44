#pragma once
// How fast this machine trains, against a fixed reference: the factor that turns busy seconds here
// into calibrated compute seconds (budget::compute_time). The workload is a short, fixed piece of
// real training — the small CNN at width 0.5 on a 16 x 3 x 64 x 64 batch, forward, backward and an
// SGD step, 4 steps — timed best of `repeats` with the backend's threads. The reference machine is
// the 2-core VM tailor is developed on, where the workload takes calibration_reference_seconds
// (docs/automl.md): there the factor is 1 and a budget of 5 minutes is about 5 busy minutes; a
// machine twice as fast has factor 2 and spends the same budget in half the time.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "../backend/cpu.hpp"
#include "../nn/backbones/small_cnn.hpp"
#include "../task/classification_network.hpp"
#include "../train/classification_trainer.hpp"

namespace tailor::automl {

// The workload's time on the reference machine: 0.247-0.282 s in five runs of calibrate(5) with 2
// threads (Release, -march=native); the quickest is taken as the machine's speed.
inline constexpr double calibration_reference_seconds = 0.25;

struct calibration {
  double factor = 1.0;            // reference / measured: > 1 on a machine faster than the reference
  double measured_seconds = 0.0;  // the workload's best time here
  double reference_seconds = calibration_reference_seconds;
  int threads = 1;
};

template <class B = backend::cpu>
calibration calibrate(int repeats = 7) {
  using tensor = typename B::tensor;
  constexpr std::size_t batch = 16, side = 64;
  constexpr int steps = 4;
  nn::backbone_options o;
  o.width = 0.5;
  task::classification_network<nn::small_cnn, B> net(10, o, 20241126);
  train::classification_train_options t;
  t.lr = 0.01;
  t.total_steps = std::int64_t(steps) * (repeats + 1);
  train::classification_trainer trainer(net, t);
  tensor x = tensor::from_shape({batch, 3, side, side});
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (auto& v : x) {  // fixed pseudo-random pixels (no data dependence in the timing)
    state = backend::cpu_detail::splitmix64(state);
    v = typename B::value_type(double(state >> 11) * 0x1.0p-53 - 0.5);
  }
  std::vector<std::int32_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = std::int32_t(i % 10);
  double best = 1e300;
  for (int rep = 0; rep <= repeats; ++rep) {  // the first round warms caches and the thread pool
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) trainer.step(x, labels);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) best = std::min(best, seconds);
  }
  calibration c;
  c.measured_seconds = best;
  c.factor = calibration_reference_seconds / best;
  c.threads = backend::cpu_detail::num_threads();
  return c;
}

}  // namespace tailor::automl
