#pragma once
// Host entry points of kernels/device_probe.cu. Plain C++: including this never pulls in cuda_runtime.h.
namespace tailor::kernels {
// Number of CUDA devices visible to this process; 0 when there is no GPU or no driver.
int cuda_device_count() noexcept;
// Writes 0..n-1 into host_out through a device kernel; false on any CUDA error.
bool cuda_iota(int* host_out, int n) noexcept;
}  // namespace tailor::kernels
