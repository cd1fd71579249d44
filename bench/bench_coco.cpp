// COCO association file loading throughput, on a generated 80 MB COCO-like detection file
// (bench/coco_like.hpp: 20k images, 300k annotations with segmentation polygons).
//
//   BM_coco_load              tailor::data::read_coco: parse + every check, tables built (ours)
//   BM_simdjson_bare_pass     the physical limit: one simdjson On-Demand pass that reads every
//                             value of the file (all numbers as doubles, all strings) and keeps none
//   BM_simdjson_bare_pass_reused_parser   the same with a parser kept across loads (read_coco
//                             makes one per call, so the pass above is the like-for-like one)
//
// Goals (docs/performance.md): BM_coco_load >= 60% of BM_simdjson_bare_pass in bytes/s, and
// >= 10x the Python peer (bench/peers/pycocotools_load.py) on the same file; bench/run_coco_bench.sh
// runs both and prints the ratios.
//
// Extra flag, handled before Google Benchmark's own: --write-coco=PATH writes the generated file
// to PATH (for the Python peer) and then runs the benchmarks as usual.
#include <simdjson.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_main.hpp"
#include "coco_like.hpp"
#include "tailor/data/coco.hpp"

namespace {

namespace od = simdjson::ondemand;

const std::string& coco_text() {
  static const std::string text = tailor::bench::make_coco_like();
  return text;
}

const simdjson::padded_string& coco_file() {
  static const simdjson::padded_string json(coco_text());
  return json;
}

// The generic full walk: every key, every value, by type. Keys are compared raw by any COCO
// reader (ours included), so the walk touches each key's bytes without unescaping it; string
// values are unescaped, numbers converted to double.
simdjson::error_code walk(od::value value, std::uint64_t& sum) {
  od::json_type type;
  SIMDJSON_TRY(value.type().get(type));
  switch (type) {
    case od::json_type::object: {
      od::object object;
      SIMDJSON_TRY(value.get_object().get(object));
      for (auto field_result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(field_result).get(field));
        sum += static_cast<unsigned char>(field.key().raw()[0]);
        SIMDJSON_TRY(walk(field.value(), sum));
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      SIMDJSON_TRY(value.get_array().get(array));
      for (auto element_result : array) {
        od::value element;
        SIMDJSON_TRY(std::move(element_result).get(element));
        SIMDJSON_TRY(walk(element, sum));
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      double d;
      SIMDJSON_TRY(value.get_double().get(d));
      sum += std::bit_cast<std::uint64_t>(d);
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      SIMDJSON_TRY(value.get_string().get(s));
      sum += s.size();
      return simdjson::SUCCESS;
    }
    case od::json_type::boolean: {
      bool b;
      SIMDJSON_TRY(value.get_bool().get(b));
      sum += b ? 1 : 0;
      return simdjson::SUCCESS;
    }
    case od::json_type::null: {
      bool is_null;
      SIMDJSON_TRY(value.is_null().get(is_null));
      sum += is_null ? 1 : 0;
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

simdjson::error_code bare_pass(od::parser& parser, const simdjson::padded_string& json, std::uint64_t& sum) {
  od::document doc;
  SIMDJSON_TRY(parser.iterate(json).get(doc));
  od::value root;
  SIMDJSON_TRY(doc.get_value().get(root));
  SIMDJSON_TRY(walk(root, sum));
  // Nothing may follow the root (simdjson 3.0 has no document::at_end: a used-up document has
  // no current location).
  const char* rest = nullptr;
  return doc.current_location().get(rest) == simdjson::SUCCESS ? simdjson::TRAILING_CONTENT : simdjson::SUCCESS;
}

void set_file_counters(benchmark::State& state) {
  const auto& json = coco_file();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(json.size()));
  state.counters["file_MB"] = static_cast<double>(json.size()) / 1e6;
}

void BM_coco_load(benchmark::State& state) {
  const auto& json = coco_file();
  {
    // The file must load cleanly, or the timing would measure error reporting.
    auto report = tailor::data::read_coco(json, "coco_like.json");
    if (!report.readable || report.problems.has_errors() || report.dataset.annotations.size() != 300'000 ||
        report.dataset.kind != tailor::data::dataset_kind::detection) {
      state.SkipWithError(tailor::data::summarize(report.problems, "coco_like.json").c_str());
      return;
    }
    state.counters["images"] = static_cast<double>(report.dataset.images.size());
    state.counters["annotations"] = static_cast<double>(report.dataset.annotations.size());
    state.counters["warnings"] = static_cast<double>(report.problems.warning_count());
  }
  for (auto _ : state) {
    auto report = tailor::data::read_coco(json, "coco_like.json");
    benchmark::DoNotOptimize(report.dataset.annotations.data());
    benchmark::ClobberMemory();
  }
  set_file_counters(state);
}

// The bare pass, with a fresh parser per load (as read_coco does) or one parser kept across loads.
void bare_pass_loop(benchmark::State& state, bool reuse_parser) {
  const auto& json = coco_file();
  od::parser kept;
  for (auto _ : state) {
    od::parser fresh;
    std::uint64_t sum = 0;
    if (auto e = bare_pass(reuse_parser ? kept : fresh, json, sum); e != simdjson::SUCCESS) {
      state.SkipWithError(simdjson::error_message(e));
      return;
    }
    benchmark::DoNotOptimize(sum);
  }
  set_file_counters(state);
}

void BM_simdjson_bare_pass(benchmark::State& state) { bare_pass_loop(state, false); }
void BM_simdjson_bare_pass_reused_parser(benchmark::State& state) { bare_pass_loop(state, true); }

// Each load takes a fraction of a second: a longer minimum time gives several iterations.
BENCHMARK(BM_coco_load)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_simdjson_bare_pass)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_simdjson_bare_pass_reused_parser)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

#define TAILOR_STRINGIFY2(x) #x
#define TAILOR_STRINGIFY(x) TAILOR_STRINGIFY2(x)

}  // namespace

int main(int argc, char** argv) {
  auto write = [](const std::string& path) {
    try {
      tailor::bench::write_coco_like(path, coco_text());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_coco: %s\n", e.what());
      return 2;
    }
    std::fprintf(stderr, "bench_coco: wrote %zu bytes to %s\n", coco_text().size(), path.c_str());
    return 0;
  };
  return tailor::bench::benchmark_main(argc, argv, "--write-coco=", write, [] {
    benchmark::AddCustomContext("coco_like_bytes", std::to_string(coco_file().size()));
    benchmark::AddCustomContext("simdjson_stage1", simdjson::get_active_implementation()->name());
    // On-Demand's stage 2 is compiled inline with the flags of this program (fallback without -mavx2).
    benchmark::AddCustomContext("simdjson_ondemand", TAILOR_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION));
  });
}
