#pragma once
// Loops of the CPU backend run on OpenMP threads when the library is built with OpenMP (the
// tailor::tailor target links it when CMake finds it) and serially otherwise. Every loop hands each
// index to exactly one thread and no index reads another's result, so results do not depend on the
// number of threads; GEMM threads are OpenBLAS's own (set together by set_num_threads).
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <dlfcn.h>

namespace tailor::backend::cpu_detail {

// Below this much work (indices x cost per index, in element operations) a parallel region costs
// more than it saves; on a loaded machine its spinning threads cost far more.
inline constexpr std::int64_t parallel_threshold = std::int64_t{1} << 16;

// body(i) for i in [0, n); cost_per_index estimates the element operations of one index.
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_index, F&& body) {
#if defined(_OPENMP)
  if (n > 1 && n * cost_per_index >= parallel_threshold && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#else
  (void)cost_per_index;
#endif
  for (std::int64_t i = 0; i < n; ++i) body(i);
}

// SplitMix64: a fast, well-mixed hash of a counter (random masks that do not depend on threads).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// One knob for both pools: our loops and the BLAS's GEMM. OpenBLAS's setter is looked up at run
// time, so any CBLAS links (Debian's libblas.so is OpenBLAS behind an alternative that does not
// export it to the linker) and another BLAS simply keeps its own setting.
inline void set_num_threads(int n) {
  if (n < 1) n = 1;
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  using setter = void (*)(int);
  static const auto openblas = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas) openblas(n);
}

}  // namespace tailor::backend::cpu_detail
