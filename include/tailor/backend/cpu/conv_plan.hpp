#pragma once
// The geometry of one conv2d call on the CPU: sizes, planes and how many images share a GEMM.
#include <algorithm>
#include <cstdint>

#include "../../nn/conv2d_shape.hpp"

namespace tailor::backend::cpu_detail {

// Columns kept under ~16 MB of floats per chunk: enough images per GEMM to keep it wide. Not const
// so that tests can shrink it and cross chunk boundaries with small tensors.
inline std::int64_t conv_chunk_elements = std::int64_t{1} << 22;

struct conv_plan {
  nn::conv2d_shape s;
  int n = 0, h = 0, w = 0, oh = 0, ow = 0;
  std::int64_t in_plane = 0, out_plane = 0;  // H*W and OH*OW
  int images_per_chunk = 1;

  conv_plan(const nn::conv2d_shape& shape, int batch, int in_h, int in_w) : s(shape), n(batch), h(in_h), w(in_w) {
    oh = s.out_h(h);
    ow = s.out_w(w);
    in_plane = std::int64_t{h} * w;
    out_plane = std::int64_t{oh} * ow;
    const std::int64_t per_image = std::int64_t{s.patch_size()} * out_plane;
    images_per_chunk = static_cast<int>(std::clamp<std::int64_t>(conv_chunk_elements / std::max<std::int64_t>(per_image, 1), 1, std::max(n, 1)));
  }
  // A 1x1 stride-1 convolution of one image reads its input as the column matrix itself.
  bool columns_are_input(int images) const { return s.pointwise() && s.dilation_h == 1 && s.dilation_w == 1 && images == 1; }
};

}  // namespace tailor::backend::cpu_detail
