// The measurement behind the CPU backend's NCHW layout (docs/performance.md, "Tensor layout"):
// a convolution's forward pass lowered to im2col + one GEMM, in NCHW (the backend's own code) and
// in NHWC (im2col rows are contiguous runs of C channels; the GEMM writes NHWC directly), for the
// convolution shapes of resnet18 at 128x128 with batch 32. Single-threaded, so the layouts compare
// on the same footing.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include <tailor/backend/cpu.hpp>

namespace {

using B = tailor::backend::cpu;
namespace cd = tailor::backend::cpu_detail;

struct conv_case {
  int c, oc, k, stride, h;  // input channels, output channels, kernel, stride, input size
};
constexpr conv_case cases[] = {{3, 64, 7, 2, 128}, {64, 64, 3, 1, 32}, {128, 256, 3, 2, 16}, {256, 256, 3, 1, 8}, {256, 512, 1, 2, 8}};
constexpr int batch = 32;

tailor::nn::conv2d_shape shape_of(const conv_case& c) {
  tailor::nn::conv2d_shape s;
  s.in_channels = c.c;
  s.out_channels = c.oc;
  s.kernel_h = s.kernel_w = c.k;
  s.stride_h = s.stride_w = c.stride;
  s.pad_h = s.pad_w = c.k / 2;
  return s;
}

void fill(float* p, std::size_t n) {
  std::mt19937 r(1);
  std::normal_distribution<float> d;
  for (std::size_t i = 0; i < n; ++i) p[i] = d(r);
}

void BM_conv_nchw(benchmark::State& state) {
  B::set_num_threads(1);
  const auto c = cases[state.range(0)];
  const auto s = shape_of(c);
  B::tensor x = B::tensor::from_shape({batch, std::size_t(c.c), std::size_t(c.h), std::size_t(c.h)}), y;
  B::array w = B::array::from_shape({std::size_t(c.oc), std::size_t(c.c), std::size_t(c.k), std::size_t(c.k)});
  fill(x.data(), x.size());
  fill(w.data(), w.size());
  std::vector<float> scratch;
  for (auto _ : state) {
    cd::conv2d_forward<float>(s, x, w, nullptr, y, scratch);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_conv_nhwc(benchmark::State& state) {
  B::set_num_threads(1);
  const auto c = cases[state.range(0)];
  const auto s = shape_of(c);
  const int oh = s.out_h(c.h), ow = s.out_w(c.h), K = c.k * c.k * c.c;
  std::vector<float> x(std::size_t(batch) * c.h * c.h * c.c), w(std::size_t(c.oc) * K), y(std::size_t(batch) * oh * ow * c.oc);
  fill(x.data(), x.size());
  fill(w.data(), w.size());
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, cd::conv_chunk_elements / K);
  std::vector<float> col(std::size_t(std::min<std::int64_t>(rows_per_chunk, std::int64_t(batch) * oh * ow)) * K);
  const std::int64_t rows = std::int64_t(batch) * oh * ow;
  for (auto _ : state) {
    for (std::int64_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
      const std::int64_t r1 = std::min(rows, r0 + rows_per_chunk);
      for (std::int64_t r = r0; r < r1; ++r) {  // one output pixel: its KxKxC patch, C contiguous
        const int n = int(r / (oh * ow)), oy = int(r / ow % oh), ox = int(r % ow);
        float* out = col.data() + (r - r0) * K;
        for (int kh = 0; kh < c.k; ++kh) {
          const int iy = oy * c.stride - s.pad_h + kh;
          for (int kw = 0; kw < c.k; ++kw, out += c.c) {
            const int ix = ox * c.stride - s.pad_w + kw;
            if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.h) std::fill(out, out + c.c, 0.f);
            else std::copy_n(x.data() + ((std::size_t(n) * c.h + iy) * c.h + ix) * c.c, c.c, out);
          }
        }
      }
      cd::gemm_serial<float>(false, true, int(r1 - r0), c.oc, K, 1.f, col.data(), K, w.data(), K, 0.f,
                             y.data() + r0 * c.oc, c.oc);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgName("case")->DenseRange(0, int(std::size(cases)) - 1)->Unit(benchmark::kMillisecond)->MinTime(1.0);
}

}  // namespace

BENCHMARK(BM_conv_nchw)->Apply(args);
BENCHMARK(BM_conv_nhwc)->Apply(args);
BENCHMARK_MAIN();
