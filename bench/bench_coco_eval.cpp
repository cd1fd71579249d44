// COCO bbox evaluation speed, on a generated case shaped like COCO val2017 with a detector's
// output (bench/coco_like.hpp, make_detection_case: 5,000 images, 36,000 ground-truth boxes of 80
// categories with ~1% crowd regions, 100 detections per image = 500,000, fixed seed).
//
//   BM_evaluate_bbox        tailor::eval::evaluate_bbox(gt, dets): evaluate + accumulate +
//                           summarize, one thread (pycocotools' COCOeval does the same work)
//   BM_detection_report     make_detection_report: what `tailor eval` computes (the COCO run above,
//                           vision-evaluation's mAP at 0.3/0.5/0.75 with maxDets 300, and
//                           precision/recall at score 0.5, IoU 0.5)
//   BM_accumulator_add      detection_accumulator::add, image by image (the streaming path's copy)
//
// Goal (docs/performance.md): BM_evaluate_bbox under 0.5 s. bench/run_coco_bench.sh runs it next
// to pycocotools (bench/peers/pycocotools_eval.py) on the same files and checks that the 12
// numbers are identical.
//
// Extra flag, handled before Google Benchmark's own: --write-case=DIR writes DIR/gt.json,
// DIR/results.json and DIR/tailor_stats.json (our 12 numbers, with 17 significant digits), then
// runs the benchmarks as usual (--benchmark_filter=none to skip them).
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench_main.hpp"
#include "coco_like.hpp"
#include "tailor/data/coco.hpp"
#include "tailor/eval/coco_detection.hpp"
#include "tailor/eval/detection_report.hpp"

namespace {

struct eval_case {
  tailor::bench::detection_case files;
  tailor::data::coco_dataset gt;
  std::vector<tailor::eval::detection> dets;
  std::string error;
};

// Generated and parsed once (not timed): the ground truth as `tailor eval` reads it (sizes not
// required), the detections by read_coco_results from the same text the Python peer reads.
const eval_case& the_case() {
  static const eval_case c = [] {
    eval_case c;
    c.files = tailor::bench::make_detection_case();
    auto report = tailor::data::read_coco(std::string_view(c.files.ground_truth), "gt.json",
                                          {.kind = tailor::data::dataset_kind::detection,
                                           .units = tailor::data::box_units::pixels,
                                           .require_image_sizes = false});
    if (!report.readable || report.problems.has_errors()) {
      c.error = tailor::data::summarize(report.problems, "gt.json");
      return c;
    }
    c.gt = std::move(report.dataset);
    c.dets = tailor::eval::read_coco_results(c.files.results, "results.json");
    return c;
  }();
  return c;
}

void set_counters(benchmark::State& state, const eval_case& c) {
  state.counters["images"] = static_cast<double>(c.gt.images.size());
  state.counters["gt_boxes"] = static_cast<double>(c.gt.annotations.size());
  state.counters["crowd"] = static_cast<double>(c.files.crowd_boxes);
  state.counters["detections"] = static_cast<double>(c.dets.size());
  state.counters["dets_per_s"] =
      benchmark::Counter(static_cast<double>(c.dets.size()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_evaluate_bbox(benchmark::State& state) {
  const auto& c = the_case();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  double ap = 0;
  for (auto _ : state) {
    const auto r = tailor::eval::evaluate_bbox(c.gt, c.dets);
    ap = r.stats[0];
    benchmark::DoNotOptimize(r.precision.data());
  }
  state.counters["AP"] = ap;
  set_counters(state, c);
}

void BM_detection_report(benchmark::State& state) {
  const auto& c = the_case();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  for (auto _ : state) {
    const auto r = tailor::eval::make_detection_report(c.gt, c.dets);
    benchmark::DoNotOptimize(r.map.map.data());
  }
  set_counters(state, c);
}

void BM_accumulator_add(benchmark::State& state) {
  const auto& c = the_case();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  // The detections come image by image (100 each) in the results file.
  for (auto _ : state) {
    tailor::eval::detection_accumulator acc(c.gt);
    for (std::size_t i = 0; i < c.dets.size(); i += 100)
      acc.add(std::span(c.dets).subspan(i, std::min<std::size_t>(100, c.dets.size() - i)));
    benchmark::DoNotOptimize(acc.size());
  }
  set_counters(state, c);
}

BENCHMARK(BM_evaluate_bbox)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_detection_report)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_accumulator_add)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void write_text(const std::filesystem::path& path, const std::string& text) { tailor::bench::write_coco_like(path, text); }

int write_case(const std::filesystem::path& dir) {
  try {
    const auto& c = the_case();
    if (!c.error.empty()) throw std::runtime_error(c.error);
    std::filesystem::create_directories(dir);
    write_text(dir / "gt.json", c.files.ground_truth);
    write_text(dir / "results.json", c.files.results);
    const auto r = tailor::eval::evaluate_bbox(c.gt, c.dets);
    std::string stats = "{\"stats\": [";
    for (std::size_t i = 0; i < 12; ++i) stats += fmt::format("{}{:.17g}", i ? ", " : "", r.stats[i]);
    stats += fmt::format("], \"images\": {}, \"annotations\": {}, \"crowd\": {}, \"detections\": {}}}\n", c.gt.images.size(),
                         c.gt.annotations.size(), c.files.crowd_boxes, c.dets.size());
    write_text(dir / "tailor_stats.json", stats);
    std::fprintf(stderr, "bench_coco_eval: wrote gt.json (%zu bytes), results.json (%zu bytes) and tailor_stats.json to %s\n",
                 c.files.ground_truth.size(), c.files.results.size(), dir.string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_coco_eval: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tailor::bench::benchmark_main(argc, argv, "--write-case=", write_case, [] {});
}
