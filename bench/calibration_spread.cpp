// How steady the calibration is on this machine (docs/automl.md, "measured over the run"): N
// times, a fresh calibrator's first measurement (7 rounds: their best and their mean), then a
// 12-step piece of the default recipe's training (MobileNetV3-Small, 96 px, batch 32) timed right
// after it. A measurement that tracked the machine would keep training / measurement fixed; the
// spread of each column says how far one measurement at the start of a run can be off, and the
// last line what the mean of every round (what a run's factor becomes) says.
//
//   build/bin/calibration_spread [N=16]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <tailor/automl/calibration.hpp>
#include <tailor/automl/task_part.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>

namespace {

using B = tailor::backend::cpu;
using network = tailor::task::classification_network<tailor::nn::mobilenet_v3_small, B>;

struct training_piece {
  network net{10, tailor::nn::backbone_options{}, 7};
  tailor::train::classification_trainer<network> trainer{net, [] {
                                                           tailor::train::classification_train_options t;
                                                           t.lr = 3e-3;
                                                           t.total_steps = 1 << 30;
                                                           return t;
                                                         }()};
  B::tensor x = tailor::automl::random_batch<B>(32, 96);  // what the customizer's probes time
  std::vector<std::int32_t> labels = std::vector<std::int32_t>(32);
  training_piece() {
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % 10);
  }
  double seconds(int steps) {
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) trainer.step(x, labels);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

struct spread {
  double lo = 1e300, hi = 0;
  void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v); }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(2, std::atoi(argv[1])) : 16;
  training_piece piece;
  (void)piece.seconds(2);  // warm
  tailor::automl::calibrator<B> over_the_run;
  spread best_s, mean_s, piece_s, ratio_s;
  double best_sum = 0, mean_sum = 0;
  std::printf("%4s %9s %9s %9s %14s\n", "", "best of 7", "mean of 7", "12 steps", "steps / mean");
  for (int i = 0; i < n; ++i) {
    tailor::automl::calibrator<B> c;
    double best = 1e300;
    for (int r = 0; r < tailor::automl::calibration_first_rounds; ++r) best = std::min(best, c.round());
    const double mean = c.current().measured_seconds, steps = piece.seconds(12);
    (void)over_the_run.round();
    best_s.add(best), mean_s.add(mean), piece_s.add(steps), ratio_s.add(steps / mean);
    best_sum += best, mean_sum += mean;
    std::printf("%4d %9.4f %9.4f %9.3f %14.2f\n", i + 1, best, mean, steps, steps / mean);
    std::fflush(stdout);
  }
  std::printf("max / min: best of 7 %.2f, mean of 7 %.2f, 12 steps %.2f, steps / mean %.2f\n", best_s.hi / best_s.lo,
              mean_s.hi / mean_s.lo, piece_s.hi / piece_s.lo, ratio_s.hi / ratio_s.lo);
  std::printf("mean of 7 / best of 7, over all: %.3f (the reference moved with it: 0.25 -> %.2f s)\n", mean_sum / best_sum,
              tailor::automl::calibration_reference_seconds);
  const auto run = over_the_run.current();
  std::printf("one round between pieces, as a run does: %d rounds, mean %.4f s, factor %.3f\n", run.rounds,
              run.measured_seconds, run.factor);
}
