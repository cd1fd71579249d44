#pragma once
// Training and evaluation transforms from a decoded RGB image to one normalised CHW float sample:
//   train: random resized crop (area fraction in [scale_min, scale_max], aspect ratio log-uniform in
//          [ratio_min, ratio_max], 10 tries then the whole image, as torchvision's
//          RandomResizedCrop), horizontal flip with probability 1/2, colour jitter (brightness,
//          contrast, saturation, applied in that fixed order), normalisation with mean / std.
//   eval:  the whole image resized to size x size (no crop: objects near the border of a custom
//          dataset's images are kept), normalisation.
// Every random choice comes from the rng passed in, so a sample is reproducible from its seed.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "../data/image.hpp"
#include "../data/image_resize.hpp"

namespace tailor::pipeline {

struct augment_options {
  int size = 224;  // output is size x size
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  bool horizontal_flip = true;
  double brightness = 0.4, contrast = 0.4, saturation = 0.4;  // factors drawn from [1 - v, 1 + v]
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};           // ImageNet's, as torchvision's weights expect
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// How a classifier is asked at test time, its probabilities averaged over the views:
//   plain            the image alone;
//   mirror_average   the image and its mirror image: a model trained on flipped images has
//                    learned both (on sign_digits +0.1-0.7% test accuracy, 2 forward passes);
//   mirror_and_zoom  those two and a centre crop of zoom_area of the input with its mirror image,
//                    the two pairs weighed alike: a model trained on random crops has learned
//                    objects larger than the whole image shows them (sign_digits at 5m: 99.32%
//                    against 98.95% for the mirror alone on the same 10 models, 4 forward
//                    passes; docs/quality.md).
enum class test_time { plain, mirror_average, mirror_and_zoom };

// The share of the input's area the zoomed view keeps (the centre, resized back to the input size).
inline constexpr double zoom_area = 0.7;

// What the evaluation of a model trained with these augmentations averages over: the mirror image
// when the training flipped; the zoomed views too when its crops went down to 75% of the area or
// less (a model that never saw objects that large is not asked about them) and the model answers one
// tag per image (a multilabel model's tags may sit where the crop cuts them off).
inline test_time test_time_for(const augment_options& training, bool multilabel) {
  if (!training.horizontal_flip) return test_time::plain;
  return training.scale_min <= zoom_area + 0.05 && !multilabel ? test_time::mirror_and_zoom : test_time::mirror_average;
}

// model.json's names for them.
inline const char* test_time_name(test_time t) {
  switch (t) {
    case test_time::plain: break;
    case test_time::mirror_average: return "mirror_average";
    case test_time::mirror_and_zoom: return "mirror_and_zoom";
  }
  return "plain";
}
inline std::optional<test_time> test_time_named(std::string_view name) {
  for (const auto t : {test_time::plain, test_time::mirror_average, test_time::mirror_and_zoom})
    if (name == test_time_name(t)) return t;
  return std::nullopt;
}

struct crop_box {
  int x = 0, y = 0, w = 0, h = 0;
};

// torchvision's RandomResizedCrop.get_params.
inline crop_box random_resized_crop_box(int width, int height, const augment_options& o, std::mt19937_64& r) {
  const double area = double(width) * height;
  std::uniform_real_distribution<double> scale(o.scale_min, o.scale_max), log_ratio(std::log(o.ratio_min), std::log(o.ratio_max));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * scale(r), ratio = std::exp(log_ratio(r));
    const int w = int(std::lround(std::sqrt(target * ratio))), h = int(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const int x = int(r() % std::uint64_t(width - w + 1)), y = int(r() % std::uint64_t(height - h + 1));
      return {x, y, w, h};
    }
  }
  return {0, 0, width, height};
}

inline data::image crop(const data::image& src, const crop_box& b) {
  data::image out;
  out.width = b.w;
  out.height = b.h;
  out.pixels.resize(std::size_t(b.w) * b.h * 3);
  for (int y = 0; y < b.h; ++y)
    std::copy_n(src.pixels.data() + (std::size_t(b.y + y) * src.width + b.x) * 3, std::size_t(b.w) * 3,
                out.pixels.data() + std::size_t(y) * b.w * 3);
  return out;
}

// Writes img (already size x size) into dst (3 x size x size floats), flipped if asked, with the
// colour factors and the normalisation.
inline void to_normalised_chw(const data::image& img, bool flip, double brightness, double contrast, double saturation,
                              const augment_options& o, float* dst) {
  const int n = img.width * img.height;
  const std::uint8_t* p = img.pixels.data();
  // Contrast blends with the mean grey level of the (brightness-adjusted) image, as torchvision.
  double grey_mean = 0;
  if (contrast != 1.0) {
    for (int i = 0; i < n; ++i) grey_mean += 0.299 * p[3 * i] + 0.587 * p[3 * i + 1] + 0.114 * p[3 * i + 2];
    grey_mean = grey_mean / n / 255.0 * brightness;
  }
  const float inv_std[3] = {1 / o.std[0], 1 / o.std[1], 1 / o.std[2]};
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const int sx = flip ? img.width - 1 - x : x;
      const std::uint8_t* px = p + (std::size_t(y) * img.width + sx) * 3;
      double c[3] = {px[0] / 255.0 * brightness, px[1] / 255.0 * brightness, px[2] / 255.0 * brightness};
      for (auto& v : c) v = std::clamp(v, 0.0, 1.0);
      if (contrast != 1.0)
        for (auto& v : c) v = std::clamp(contrast * v + (1 - contrast) * grey_mean, 0.0, 1.0);
      if (saturation != 1.0) {
        const double g = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        for (auto& v : c) v = std::clamp(saturation * v + (1 - saturation) * g, 0.0, 1.0);
      }
      const std::size_t at = std::size_t(y) * img.width + x;
      for (int ch = 0; ch < 3; ++ch) dst[std::size_t(ch) * n + at] = float((c[ch] - o.mean[ch]) * inv_std[ch]);
    }
}

// One training sample: crop, resize, flip, jitter, normalise into dst.
inline void augment_train(const data::image& src, const augment_options& o, std::mt19937_64& r, float* dst) {
  const crop_box b = random_resized_crop_box(src.width, src.height, o, r);
  const bool whole = b.x == 0 && b.y == 0 && b.w == src.width && b.h == src.height;
  const data::image resized = whole ? data::resize(src, o.size, o.size) : data::resize(crop(src, b), o.size, o.size);
  std::uniform_real_distribution<double> coin(0, 1);
  const bool flip = o.horizontal_flip && coin(r) < 0.5;
  auto factor = [&](double v) { return v > 0 ? std::uniform_real_distribution<double>(std::max(0.0, 1 - v), 1 + v)(r) : 1.0; };
  const double br = factor(o.brightness), co = factor(o.contrast), sa = factor(o.saturation);
  to_normalised_chw(resized, flip, br, co, sa, o, dst);
}

// One evaluation sample: the whole image at size x size, normalised.
inline void prepare_eval(const data::image& src, const augment_options& o, float* dst) {
  if (src.width == o.size && src.height == o.size) return to_normalised_chw(src, false, 1, 1, 1, o, dst);
  to_normalised_chw(data::resize(src, o.size, o.size), false, 1, 1, 1, o, dst);
}

}  // namespace tailor::pipeline
