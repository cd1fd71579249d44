// The engine's speed, like for like with bench/peers/torch_step.py: one SGD step (momentum 0.9,
// weight decay 1e-4, cross-entropy) per iteration on random inputs, and inference, reported as
// images per second (items_per_second). resnet18 and mobilenet_v3_small as torchvision builds them
// with their 1000-class heads; the small CNN (4 x conv-bn-relu, 32..256 channels) with 10 classes;
// and the detector (BM_train_step/det_*, BM_infer/det_*: the customizer's, with the CenterNet-style
// head on the stride-8 level; det_fcos_*: the FCOS head on every level, for comparison); and a
// classifier's answer under each test-time mode (BM_classify/*/plain|mirror_average|mirror_and_zoom).
//
//   build/bin/tailor_bench --benchmark_filter='BM_train_step/resnet18'    (bench/run_train_bench.sh
//   runs every case in its own process, next to the PyTorch peer, and records peak memory)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <type_traits>

#include <tailor/backend/cpu.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/detection/detector_network.hpp>
#include <tailor/detection/centernet_head.hpp>
#include <tailor/detection/detector_predict.hpp>
#include <tailor/detection/head_kind.hpp>
#include <tailor/train/centernet_trainer.hpp>
#include <tailor/task/classification_network.hpp>
#include <tailor/task/classification_predict.hpp>
#include <tailor/train/classification_trainer.hpp>
#include <tailor/train/detection_trainer.hpp>

namespace {

using B = tailor::backend::cpu;

int bench_threads() {
  // TAILOR_BENCH_WINOGRAD=0 puts 3x3 convolutions back on im2col, to compare the two.
  if (const char* w = std::getenv("TAILOR_BENCH_WINOGRAD")) tailor::backend::cpu_detail::winograd_enabled = std::atoi(w) != 0;
  const char* t = std::getenv("TAILOR_BENCH_THREADS");
  return t ? std::atoi(t) : 2;  // the peer runs torch with 2 threads
}

B::tensor random_images(int batch, int size, std::uint64_t seed) {
  auto x = B::tensor::from_shape({std::size_t(batch), 3, std::size_t(size), std::size_t(size)});
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (auto& v : x) v = d(r);
  return x;
}

template <class Tag>
void BM_train_step(benchmark::State& state, int classes, int size, int batch) {
  B::set_num_threads(bench_threads());
  tailor::task::classification_network<Tag, B> net(classes, {}, 1);
  tailor::train::classification_train_options o;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.nesterov = false;
  o.weight_decay = 1e-4;
  o.total_steps = 1 << 20;
  tailor::train::classification_trainer<decltype(net)> trainer(net, o);
  const auto x = random_images(batch, size, 2);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) labels[std::size_t(i)] = i % classes;
  trainer.step(x, labels);  // warm-up: allocations, OpenBLAS threads
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step(x, labels));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = bench_threads();
}

template <class Tag>
void BM_infer(benchmark::State& state, int classes, int size, int batch) {
  B::set_num_threads(bench_threads());
  tailor::task::classification_network<Tag, B> net(classes, {}, 1);
  const auto x = random_images(batch, size, 3);
  benchmark::DoNotOptimize(net.forward(x, false));
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x, false));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = bench_threads();
}

// What a classifier's answer costs under each test_time (docs/automl.md): the batch's
// probabilities over 1, 2 or 4 views of every image, as validation, evaluation and analyze ask;
// items_per_second counts images answered. BM_zoomed: the zoomed view alone, from the prepared batch.
template <class Tag>
void BM_classify(benchmark::State& state, tailor::pipeline::test_time t, int classes, int size, int batch) {
  B::set_num_threads(bench_threads());
  tailor::task::classification_network<Tag, B> net(classes, {}, 1);
  const auto x = random_images(batch, size, 4);
  benchmark::DoNotOptimize(tailor::task::batch_probabilities(net, x, false, t));
  for (auto _ : state) benchmark::DoNotOptimize(tailor::task::batch_probabilities(net, x, false, t));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = bench_threads();
}

void BM_zoomed(benchmark::State& state, int size, int batch) {
  const auto x = random_images(batch, size, 5);
  for (auto _ : state) benchmark::DoNotOptimize(tailor::task::zoomed(x, tailor::pipeline::zoom_area));
  state.SetItemsProcessed(state.iterations() * batch);
}

void register_test_time_cases() {
  using tailor::pipeline::test_time;
  for (const auto t : {test_time::plain, test_time::mirror_average, test_time::mirror_and_zoom})
    benchmark::RegisterBenchmark(
        (std::string("BM_classify/mobilenet_v3_small/96/32/") + tailor::pipeline::test_time_name(t)).c_str(),
        [=](benchmark::State& s) { BM_classify<tailor::nn::mobilenet_v3_small>(s, t, 10, 96, 32); })
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
  benchmark::RegisterBenchmark("BM_zoomed/96/32", [](benchmark::State& s) { BM_zoomed(s, 96, 32); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
}

template <class Tag>
void register_case(const std::string& name, int classes, int size, int batch) {
  const std::string suffix = name + "/" + std::to_string(size) + "/" + std::to_string(batch);
  benchmark::RegisterBenchmark(("BM_train_step/" + suffix).c_str(),
                               [=](benchmark::State& s) { BM_train_step<Tag>(s, classes, size, batch); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
  benchmark::RegisterBenchmark(("BM_infer/" + suffix).c_str(), [=](benchmark::State& s) { BM_infer<Tag>(s, classes, size, batch); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
}

// The detector (docs/detection.md) as the customizer builds it (the CenterNet-style head on the
// stride-8 level), or with the FCOS head on every level: one AdamW step of the head's loss on
// random images with three boxes each of 3 classes; inference includes the decoding (and NMS), so
// batch 1 is analyze's latency per image at that input size.
tailor::detection::detector_options detector_options_for(bool centernet) {
  tailor::detection::detector_options o;
  o.head_levels = tailor::detection::head_levels_of(centernet ? tailor::detection::head_kind::centernet
                                                              : tailor::detection::head_kind::fcos);
  return o;
}

template <class Tag, template <class> class Trainer>
void BM_train_step_detector(benchmark::State& state, int size, int batch) {
  B::set_num_threads(bench_threads());
  constexpr bool centernet = std::is_same_v<Trainer<int>, tailor::train::centernet_trainer<int>>;
  tailor::detection::detector_network<Tag, B> net(3, detector_options_for(centernet), 1);
  tailor::train::detection_train_options o;
  o.optimizer = tailor::train::optimizer_kind::adamw;
  o.lr = 1e-3;
  o.total_steps = 1 << 20;
  Trainer<decltype(net)> trainer(net, o);
  const auto x = random_images(batch, size, 4);
  std::vector<std::vector<tailor::detection::gt_box>> boxes(static_cast<std::size_t>(batch));
  const float s = float(size);
  for (auto& b : boxes)
    b = {{{0.1f * s, 0.1f * s, 0.3f * s, 0.35f * s}, 0},
         {{0.5f * s, 0.2f * s, 0.9f * s, 0.7f * s}, 1},
         {{0.2f * s, 0.6f * s, 0.3f * s, 0.68f * s}, 2}};
  trainer.step(x, boxes);
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step(x, boxes).total);
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = bench_threads();
}

template <class Tag, class Decoding>
void BM_infer_detector(benchmark::State& state, int size, int batch) {
  B::set_num_threads(bench_threads());
  constexpr bool centernet = std::is_same_v<Decoding, tailor::detection::centernet_decode_options>;
  tailor::detection::detector_network<Tag, B> net(3, detector_options_for(centernet), 1);
  const auto x = random_images(batch, size, 5);
  const Decoding d;
  benchmark::DoNotOptimize(tailor::detection::predict_boxes(net, x, d));
  for (auto _ : state) benchmark::DoNotOptimize(tailor::detection::predict_boxes(net, x, d));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = bench_threads();
}

template <class Tag, template <class> class Trainer = tailor::train::centernet_trainer,
          class Decoding = tailor::detection::centernet_decode_options>
void register_detector_case(const std::string& name, int size, int train_batch) {
  const std::string prefix = "det_" + name + "/" + std::to_string(size) + "/";
  benchmark::RegisterBenchmark(("BM_train_step/" + prefix + std::to_string(train_batch)).c_str(),
                               [=](benchmark::State& s) { BM_train_step_detector<Tag, Trainer>(s, size, train_batch); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
  for (int batch : {1, train_batch})
    benchmark::RegisterBenchmark(("BM_infer/" + prefix + std::to_string(batch)).c_str(),
                                 [=](benchmark::State& s) { BM_infer_detector<Tag, Decoding>(s, size, batch); })
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
}

}  // namespace

int main(int argc, char** argv) {
  register_case<tailor::nn::resnet<18>>("resnet18", 1000, 128, 32);
  register_case<tailor::nn::mobilenet_v3_small>("mobilenet_v3_small", 1000, 224, 32);
  register_case<tailor::nn::small_cnn>("small_cnn", 10, 64, 64);
  register_test_time_cases();
  register_detector_case<tailor::nn::mobilenet_v3_small>("mobilenet_v3_small", 160, 8);
  register_detector_case<tailor::nn::mobilenet_v3_small, tailor::train::detection_trainer, tailor::detection::decode_options>(
      "fcos_mobilenet_v3_small", 160, 8);
  register_detector_case<tailor::nn::mobilenet_v3_small>("mobilenet_v3_small", 320, 8);
  register_detector_case<tailor::nn::resnet<18>>("resnet18", 256, 8);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
