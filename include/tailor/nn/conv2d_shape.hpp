#pragma once
// The geometry of a 2-D convolution (or pooling window), as torch.nn.Conv2d defines it. Shared by
// every backend, so the CPU and CUDA implementations agree on output sizes by construction.
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include "../core/error.hpp"

namespace tailor::nn {

struct conv2d_shape {
  int in_channels = 0, out_channels = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;

  static int output_extent(int in, int kernel, int stride, int pad, int dilation) {
    return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
  }
  int out_h(int in_h) const { return output_extent(in_h, kernel_h, stride_h, pad_h, dilation_h); }
  int out_w(int in_w) const { return output_extent(in_w, kernel_w, stride_w, pad_w, dilation_w); }
  int in_per_group() const { return in_channels / groups; }
  int out_per_group() const { return out_channels / groups; }
  // Rows of the im2col matrix of one group: (input channel, kernel row, kernel column).
  int patch_size() const { return in_per_group() * kernel_h * kernel_w; }
  bool depthwise() const { return groups == in_channels && groups == out_channels && groups > 1; }
  bool pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }

  // Throws invalid_argument with the offending numbers: called when a layer is built.
  void validate() const {
    auto fail = [](std::string what) { throw error(failure_code::invalid_argument, "conv2d: " + what); };
    if (in_channels <= 0 || out_channels <= 0) fail(fmt::format("channels must be positive (in {}, out {})", in_channels, out_channels));
    if (groups <= 0 || in_channels % groups || out_channels % groups)
      fail(fmt::format("groups {} must divide both in_channels {} and out_channels {}", groups, in_channels, out_channels));
    if (kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0 || dilation_h <= 0 || dilation_w <= 0 || pad_h < 0 || pad_w < 0)
      fail(fmt::format("kernel {}x{}, stride {}x{}, dilation {}x{} must be positive and padding {}x{} non-negative",
                       kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w));
  }
  // Throws when an input of this size leaves no output pixel.
  void check_input(int in_h, int in_w) const {
    if (out_h(in_h) <= 0 || out_w(in_w) <= 0)
      throw error(failure_code::invalid_argument,
                  fmt::format("conv2d: input {}x{} is smaller than the {}x{} kernel (dilation {}, padding {}): use a larger input size",
                              in_h, in_w, kernel_h, kernel_w, dilation_h, pad_h));
  }
};

}  // namespace tailor::nn
