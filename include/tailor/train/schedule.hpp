#pragma once
// Learning-rate schedule: linear warm-up from ~0 to the base rate over `warmup` steps, then cosine
// decay to `floor * base` at `total` steps (timm's / torchvision's recipe for short fine-tuning).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace tailor::train {

struct cosine_schedule {
  double base_lr = 0.1;
  std::int64_t warmup = 0, total = 1;
  double floor = 0.0;

  double at(std::int64_t step) const {
    if (warmup > 0 && step < warmup) return base_lr * double(step + 1) / double(warmup);
    const double span = double(std::max<std::int64_t>(1, total - warmup));
    const double t = std::clamp(double(step - warmup) / span, 0.0, 1.0);
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + std::cos(std::numbers::pi * t)));
  }
};

}  // namespace tailor::train
