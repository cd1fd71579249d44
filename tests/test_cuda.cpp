// The CUDA part of the build: compiled and linked whenever CUDA is found; run only with a GPU.
#include <catch2/catch.hpp>

#include <vector>

#ifdef TAILOR_HAVE_CUDA
#include <device_probe.hpp>

TEST_CASE("a hand-written kernel runs on the GPU", "[cuda]") {
  if (tailor::kernels::cuda_device_count() == 0) {
    WARN("no CUDA device on this machine: the CUDA tests are compiled and linked but skipped");
    return;
  }
  std::vector<int> out(1000, -1);
  REQUIRE(tailor::kernels::cuda_iota(out.data(), static_cast<int>(out.size())));
  for (int i = 0; i < 1000; ++i) CHECK(out[static_cast<std::size_t>(i)] == i);
}
#endif

