// Image input pipeline throughput: decode + resize to the network input size, against a plain
// full-size TurboJPEG decode as the reference peer. Goal: BM_decode_resize_224 >= 0.9x BM_decode_full
// in images/s (docs/performance.md).
#include <benchmark/benchmark.h>
#include <turbojpeg.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tailor/data/image_decode.hpp"
#include "tailor/data/image_encode.hpp"
#include "tailor/data/image_resize.hpp"

namespace {

using tailor::data::image;

// Photo-like 640x480 content: gradients, a few filled shapes, mild noise (so that the entropy
// coder has real work, unlike on a flat synthetic image). JPEG quality 90, 4:2:0.
const std::vector<std::vector<std::uint8_t>>& corpus() {
  static const auto files = [] {
    std::vector<std::vector<std::uint8_t>> out;
    std::mt19937 rng(2024);
    std::normal_distribution<float> noise(0.f, 6.f);
    for (int n = 0; n < 32; ++n) {
      image img(640, 480);
      std::uniform_real_distribution<float> u(0.f, 1.f);
      const float base[3] = {u(rng) * 255, u(rng) * 255, u(rng) * 255};
      const float gx[3] = {u(rng) - 0.5f, u(rng) - 0.5f, u(rng) - 0.5f};
      struct disk {
        float x, y, r, c[3];
      };
      std::vector<disk> disks;
      for (int k = 0; k < 6; ++k)
        disks.push_back({u(rng) * 640, u(rng) * 480, 20 + u(rng) * 120, {u(rng) * 255, u(rng) * 255, u(rng) * 255}});
      for (int y = 0; y < 480; ++y) {
        std::uint8_t* row = img.row(y);
        for (int x = 0; x < 640; ++x) {
          float px[3];
          for (int c = 0; c < 3; ++c) px[c] = base[c] + gx[c] * static_cast<float>(x - y) * 0.4f;
          for (const auto& d : disks)
            if ((x - d.x) * (x - d.x) + (y - d.y) * (y - d.y) < d.r * d.r)
              for (int c = 0; c < 3; ++c) px[c] = d.c[c] + 20.f * std::sin(static_cast<float>(x + y) * 0.05f);
          for (int c = 0; c < 3; ++c)
            row[x * 3 + c] = static_cast<std::uint8_t>(std::clamp(px[c] + noise(rng), 0.f, 255.f));
        }
      }
      out.push_back(tailor::data::encode_jpeg(img, 90));
    }
    return out;
  }();
  return files;
}

// The peer: what a plain TurboJPEG user does to get pixels (full size, RGB, default flags).
void BM_decode_full(benchmark::State& state) {
  const auto& files = corpus();
  tjhandle tj = tjInitDecompress();
  std::vector<std::uint8_t> pixels(640 * 480 * 3);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& f = files[i++ % files.size()];
    int w = 0, h = 0, sub = 0, cs = 0;
    tjDecompressHeader3(tj, f.data(), static_cast<unsigned long>(f.size()), &w, &h, &sub, &cs);
    pixels.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    if (tjDecompress2(tj, f.data(), static_cast<unsigned long>(f.size()), pixels.data(), w, 0, h, TJPF_RGB, 0) != 0)
      state.SkipWithError(tjGetErrorStr2(tj));
    benchmark::DoNotOptimize(pixels.data());
  }
  tjDestroy(tj);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_decode_full);

void BM_decode_resize_224(benchmark::State& state) {
  const auto& files = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& f = files[i++ % files.size()];
    image img = tailor::data::decode_resized(f, "bench.jpg", 224, 224);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_decode_resize_224);

// The same result through the slow path: full decode, then resize (what decode_resized avoids).
void BM_decode_full_then_resize_224(benchmark::State& state) {
  const auto& files = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& f = files[i++ % files.size()];
    image img = tailor::data::resize(tailor::data::decode_image(f, "bench.jpg"), 224, 224);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_decode_full_then_resize_224);

void BM_resize_area_640x480_to_224(benchmark::State& state) {
  const image src = tailor::data::decode_image(corpus()[0], "bench.jpg");
  for (auto _ : state) {
    image img = tailor::data::resize(src, 224, 224);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_resize_area_640x480_to_224);

}  // namespace

BENCHMARK_MAIN();
