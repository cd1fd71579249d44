// A minimal kernel and its host entry point: proves that nvcc, the CUDA runtime and the link
// step work, and lets tests ask whether a GPU is present (they skip cleanly when none is).
#include "device_probe.hpp"

#include <cuda_runtime.h>

namespace tailor::kernels {

namespace {
__global__ void iota_kernel(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}
}  // namespace

int cuda_device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

bool cuda_iota(int* host_out, int n) noexcept {
  int* device = nullptr;
  if (cudaMalloc(&device, sizeof(int) * static_cast<size_t>(n)) != cudaSuccess) return false;
  iota_kernel<<<(n + 255) / 256, 256>>>(device, n);
  bool ok = cudaGetLastError() == cudaSuccess &&
            cudaMemcpy(host_out, device, sizeof(int) * static_cast<size_t>(n), cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(device);
  return ok;
}

}  // namespace tailor::kernels
