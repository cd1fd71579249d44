#pragma once
// Loops of the CPU backend run on its own thread pool (thread_pool.hpp). Every loop hands each
// index to exactly one thread and no index reads another's result, so results do not depend on
// the number of threads; GEMMs are split into blocks over the same pool (gemm.hpp).
#include <cstdint>
#include <functional>

#include <dlfcn.h>

#include "thread_pool.hpp"

namespace tailor::backend::cpu_detail {

// Below this much work (indices x cost per index, in element operations) a parallel region costs
// more than it saves.
inline constexpr std::int64_t parallel_threshold = std::int64_t{1} << 17;

// body(i) for i in [0, n); cost_per_index estimates the element operations of one index.
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_index, F&& body) {
  if (n > 1 && n * cost_per_index >= parallel_threshold && thread_pool::instance().threads() > 1) {
    thread_pool::instance().run(n, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) body(i);
    });
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) body(i);
}
// SplitMix64: a fast, well-mixed hash of a counter (random masks that do not depend on threads).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline int num_threads() { return thread_pool::instance().threads(); }

// The BLAS's own thread count. OpenBLAS's setter is looked up at run time, so any CBLAS links
// (Debian's libblas.so is OpenBLAS behind an alternative that does not export it to the linker)
// and another BLAS simply keeps its own setting.
inline void set_blas_threads(int n) {
  using setter = void (*)(int);
  static const auto openblas = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas) openblas(n);
}

// The backend's threads: our loops and the GEMM blocks (gemm.hpp keeps the BLAS itself on one).
inline void set_num_threads(int n) {
  thread_pool::instance().set_threads(n);
  set_blas_threads(1);
}

}  // namespace tailor::backend::cpu_detail
