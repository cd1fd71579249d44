// Classification metrics (tailor/eval/classification.hpp) on 100,000 samples x 1,000 classes,
// generated deterministically, multiclass and multilabel:
//
//   BM_full_report/<kind>    a fresh accumulator fed in batches of 1,000 rows, then report():
//                            top-1/top-5 accuracy, precision/recall/F1 at top1, top5 and
//                            thres=0.5, macro AP, tag-wise AP, 11-point mAP, ROC AUC and, for
//                            multiclass, tag-wise accuracy, balanced accuracy, ECE and the
//                            1000 x 1000 confusion matrix (the time a user waits)
//   BM_add_only/<kind>       the streaming part alone (the batches, no report)
//   BM_average_precision/<kind>  average_precision(macro) alone on a filled accumulator
//
// The scores are about 800 MB; one data set is kept at a time. Run:
//   build/bin/bench_classification_metrics
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "tailor/eval/classification.hpp"

namespace {

using tailor::eval::averaging;
using tailor::eval::classification_accumulator;
using tailor::eval::classification_kind;

constexpr std::size_t samples = 100'000;
constexpr std::size_t classes = 1'000;
constexpr std::size_t batch_rows = 1'000;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t x = (state += 0x9E3779B97F4A7C15ull);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
double uniform(std::uint64_t& state) { return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53; }

// One data set held inside a filled accumulator (its stored scores are the input of the other
// benchmarks), plus the targets: multiclass labels, or each row's positive classes.
struct data_set {
  classification_kind kind;
  std::unique_ptr<classification_accumulator> filled;
  std::vector<std::int32_t> labels;           // multiclass
  std::vector<std::vector<std::uint32_t>> positives;  // multilabel

  explicit data_set(classification_kind k) : kind(k) {
    std::uint64_t rng = k == classification_kind::multiclass ? 42 : 4242;
    filled = std::make_unique<classification_accumulator>(classes, kind);
    filled->reserve(samples);
    std::vector<double> scores(batch_rows * classes);
    std::vector<std::int32_t> targets;
    if (k == classification_kind::multiclass) labels.reserve(samples);
    for (std::size_t first = 0; first < samples; first += batch_rows) {
      targets.clear();
      for (std::size_t r = 0; r < batch_rows; ++r) {
        double* row = scores.data() + r * classes;
        if (k == classification_kind::multiclass) {
          // Probabilities: noise, the true class lifted by a random margin, normalized.
          const auto y = static_cast<std::int32_t>(splitmix64(rng) % classes);
          for (std::size_t c = 0; c < classes; ++c) row[c] = uniform(rng) * uniform(rng);
          row[y] += 60.0 * uniform(rng);
          double sum = 0;
          for (std::size_t c = 0; c < classes; ++c) sum += row[c];
          for (std::size_t c = 0; c < classes; ++c) row[c] /= sum;
          labels.push_back(y);
          targets.push_back(y);
        } else {
          // About 3 tags a row; sigmoid-like scores: negatives mostly near 0, tags in [0.2, 1].
          std::vector<std::uint32_t> tags;
          const std::size_t count = 1 + splitmix64(rng) % 5;
          for (std::size_t t = 0; t < count; ++t) tags.push_back(static_cast<std::uint32_t>(splitmix64(rng) % classes));
          std::sort(tags.begin(), tags.end());
          tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
          for (std::size_t c = 0; c < classes; ++c) {
            const double u = uniform(rng);
            const double u2 = u * u, u4 = u2 * u2;
            row[c] = u4 * u4;  // u^8: most negatives near 0
          }
          for (auto t : tags) row[t] = 0.2 + 0.8 * uniform(rng);
          std::vector<std::int32_t> dense(classes, 0);
          for (auto t : tags) dense[t] = 1;
          targets.insert(targets.end(), dense.begin(), dense.end());
          positives.push_back(std::move(tags));
        }
      }
      filled->add(scores, targets);
    }
  }

  std::span<const double> batch_scores(std::size_t first) const {
    return filled->scores().subspan(first * classes, batch_rows * classes);
  }
};

const data_set& data(classification_kind kind) {
  static std::unique_ptr<data_set> held;
  if (!held || held->kind != kind) {
    held.reset();  // free one before building the other
    held = std::make_unique<data_set>(kind);
  }
  return *held;
}

classification_kind kind_of(const benchmark::State& state) {
  return state.range(0) == 0 ? classification_kind::multiclass : classification_kind::multilabel;
}

// Feeds every batch of `d` to `acc`. Dense multilabel targets are built outside the timing.
void feed(benchmark::State& state, const data_set& d, classification_accumulator& acc) {
  std::vector<std::int32_t> dense;
  for (std::size_t first = 0; first < samples; first += batch_rows) {
    if (d.kind == classification_kind::multiclass) {
      acc.add(d.batch_scores(first), std::span<const std::int32_t>(d.labels).subspan(first, batch_rows));
    } else {
      state.PauseTiming();
      dense.assign(batch_rows * classes, 0);
      for (std::size_t r = 0; r < batch_rows; ++r)
        for (auto t : d.positives[first + r]) dense[r * classes + t] = 1;
      state.ResumeTiming();
      acc.add(d.batch_scores(first), dense);
    }
  }
}

void BM_full_report(benchmark::State& state) {
  const auto kind = kind_of(state);
  const auto& d = data(kind);
  for (auto _ : state) {
    classification_accumulator acc(classes, kind);  // top-1, top-5, thres=0.5, macro
    acc.reserve(samples);
    feed(state, d, acc);
    auto report = acc.report();
    benchmark::DoNotOptimize(report);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * samples));
  state.SetLabel(std::string(to_string(kind)));
}

void BM_add_only(benchmark::State& state) {
  const auto kind = kind_of(state);
  const auto& d = data(kind);
  for (auto _ : state) {
    classification_accumulator acc(classes, kind);
    acc.reserve(samples);
    feed(state, d, acc);
    benchmark::DoNotOptimize(acc.num_samples());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * samples));
  state.SetLabel(std::string(to_string(kind)));
}

void BM_average_precision(benchmark::State& state) {
  const auto kind = kind_of(state);
  const auto& d = data(kind);
  for (auto _ : state) {
    double ap = d.filled->average_precision(averaging::macro);
    benchmark::DoNotOptimize(ap);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * samples));
  state.SetLabel(std::string(to_string(kind)));
}

// 0: multiclass, 1: multilabel; grouped by kind so each data set is built once.
BENCHMARK(BM_full_report)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_add_only)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_average_precision)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();
BENCHMARK(BM_full_report)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_add_only)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_average_precision)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
