#pragma once
// Training and evaluation transforms for object detection: one decoded RGB image and its boxes to
// one normalised CHW float sample of size x size, with the boxes moved the same way.
//
// The mapping (placement): an input point (x, y) in pixels goes to
//     x' = x * scale + offset_x,   y' = y * scale + offset_y,
// then, when flipped, x' -> size - x'. Input pixel i covers [i, i + 1) and output pixel j covers
// [j, j + 1), so the rule holds for corners as well as for points. Boxes use exactly this mapping;
// pixels are painted by resampling an integer source window to an integer output span whose ends
// are the mapped window ends rounded to the nearest output pixel, so pixels follow the mapping to
// within half an output pixel (plus the resampling filter's blur). Only the visible window is
// resampled: at most one source pixel beyond what the canvas shows on each side.
//   eval:  letterbox: scale = size / max(width, height), the content centred, nothing cut.
//   train: zoom z log-uniform in [scale_min, scale_max], scale = letterbox scale * z. In each
//          dimension the offset is uniform between 0 and size - (extent * scale): content smaller
//          than the canvas lands anywhere fully inside it, content larger than the canvas shows a
//          random window of itself (the random crop). Then a horizontal flip with probability 1/2,
//          colour jitter as augment.hpp (brightness, contrast, saturation in that order, factors in
//          [1 - v, 1 + v], none when v == 0), normalisation with mean / std.
// Padding: everything outside the content is the mean colour, that is exactly 0 after normalisation,
// in train and eval alike; colour jitter acts on the content only (contrast blends with the mean grey
// of the visible content).
// Boxes cut by the canvas edge: clipped to [0, size]; kept when at least min_visible of the mapped
// box's area is inside the canvas, and then only when the clipped width and height are both at least
// min_side output pixels. Class ids and the order of the kept boxes are kept.
// Every random choice comes from the rng passed in, in a fixed order, so a sample is reproducible
// from its seed. to_original() maps a box on the canvas back to the original image.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "../data/image.hpp"
#include "../data/image_resize.hpp"
#include "../detection/box_ops.hpp"
#include "augment.hpp"

namespace tailor::pipeline {

// A box in pixels of its image (x1 <= x2, y1 <= y2) and its class.
using labelled_box = detection::gt_box;

struct detection_augment_options {
  int size = 320;                             // output is size x size (a positive multiple of 32)
  double scale_min = 0.6, scale_max = 1.4;    // train: zoom of the letterboxed content
  bool horizontal_flip = true;
  double brightness = 0.3, contrast = 0.3, saturation = 0.3;  // factors drawn from [1 - v, 1 + v]
  double min_visible = 0.35;  // a box cut by the canvas edge stays (clipped) if this fraction of its area is inside
  double min_side = 2.0;      // a kept box whose clipped width or height is below this (output pixels) is dropped
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// Output point = input point * scale + (offset_x, offset_y); then, if flipped, x -> size - x.
struct placement {
  float scale = 1, offset_x = 0, offset_y = 0;
  bool flipped = false;
  int size = 0;
};

// Throws error{invalid_argument} naming the option and the fix.
inline void validate(const detection_augment_options& o) {
  auto fail = [](const std::string& m) { throw error(failure_code::invalid_argument, m); };
  if (o.size <= 0 || o.size % 32 != 0)
    fail(fmt::format("detection_augment_options.size is {}: it must be a positive multiple of 32, because the "
                     "detector's feature pyramid downsamples by 32 (use e.g. {})",
                     o.size, std::max(32, (o.size + 31) / 32 * 32)));
  if (!(o.scale_min > 0) || !std::isfinite(o.scale_min))
    fail(fmt::format("detection_augment_options.scale_min is {}: it must be a finite number above 0 (e.g. 0.6)",
                     o.scale_min));
  if (!(o.scale_max >= o.scale_min) || !std::isfinite(o.scale_max))
    fail(fmt::format("detection_augment_options.scale_max is {} and scale_min is {}: scale_min must be at most "
                     "scale_max (set them equal for a fixed zoom)",
                     o.scale_max, o.scale_min));
  if (!(o.min_visible >= 0 && o.min_visible <= 1))
    fail(fmt::format("detection_augment_options.min_visible is {}: it must be a fraction in [0, 1] (e.g. 0.35)",
                     o.min_visible));
  if (!(o.min_side >= 0) || !std::isfinite(o.min_side))
    fail(fmt::format("detection_augment_options.min_side is {}: it must be a finite number of pixels >= 0 (e.g. 2)",
                     o.min_side));
  const double jitter[3] = {o.brightness, o.contrast, o.saturation};
  const char* names[3] = {"brightness", "contrast", "saturation"};
  for (int i = 0; i < 3; ++i)
    if (!(jitter[i] >= 0) || !std::isfinite(jitter[i]))
      fail(fmt::format("detection_augment_options.{} is {}: it must be a finite number >= 0 (0 turns it off)",
                       names[i], jitter[i]));
  for (int c = 0; c < 3; ++c)
    if (!(o.std[static_cast<std::size_t>(c)] > 0) || !std::isfinite(o.std[static_cast<std::size_t>(c)]) ||
        !std::isfinite(o.mean[static_cast<std::size_t>(c)]))
      fail(fmt::format("detection_augment_options.std[{}] is {} and mean[{}] is {}: the mean must be finite and the "
                       "std a finite number above 0",
                       c, o.std[static_cast<std::size_t>(c)], c, o.mean[static_cast<std::size_t>(c)]));
}

// The letterbox: the whole image scaled to fit size x size (scale = size / max(width, height)),
// centred.
inline placement letterbox_placement(int width, int height, int size) {
  if (width <= 0 || height <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("cannot letterbox a {}x{} image: both sides must be at least 1 pixel", width, height));
  if (size <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("cannot letterbox into a canvas of size {}: the size must be positive", size));
  placement p;
  const double s = double(size) / std::max(width, height);
  p.scale = float(s);
  p.offset_x = float((size - width * double(p.scale)) / 2);
  p.offset_y = float((size - height * double(p.scale)) / 2);
  p.size = size;
  return p;
}

// The boxes on the canvas of p: mapped, clipped to [0, size], dropped by the min_visible / min_side
// rule (see the top of this file). Computed in double from the float placement. Throws
// error{invalid_argument} for a box with a non-finite or inverted corner.
inline std::vector<labelled_box> transform_boxes(const placement& p, std::span<const labelled_box> boxes,
                                                 const detection_augment_options& o) {
  std::vector<labelled_box> out;
  out.reserve(boxes.size());
  const double s = p.scale, ox = p.offset_x, oy = p.offset_y, size = p.size;
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i].box;
    if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2))
      throw error(failure_code::invalid_argument,
                  fmt::format("box {} (class {}) has a non-finite corner ({}, {}, {}, {}): give finite pixel "
                              "coordinates",
                              i, boxes[i].class_id, b.x1, b.y1, b.x2, b.y2));
    if (b.x1 > b.x2 || b.y1 > b.y2)
      throw error(failure_code::invalid_argument,
                  fmt::format("box {} (class {}) is inverted ({}, {}, {}, {}): give corners with x1 <= x2 and "
                              "y1 <= y2",
                              i, boxes[i].class_id, b.x1, b.y1, b.x2, b.y2));
    double x1 = b.x1 * s + ox, x2 = b.x2 * s + ox;
    const double y1 = b.y1 * s + oy, y2 = b.y2 * s + oy;
    if (p.flipped) {
      const double f1 = size - x2, f2 = size - x1;
      x1 = f1, x2 = f2;
    }
    const double cx1 = std::clamp(x1, 0.0, size), cx2 = std::clamp(x2, 0.0, size);
    const double cy1 = std::clamp(y1, 0.0, size), cy2 = std::clamp(y2, 0.0, size);
    const double full = (x2 - x1) * (y2 - y1), inside = (cx2 - cx1) * (cy2 - cy1);
    // A degenerate box (zero area) counts as visible when it touches the canvas; min_side decides.
    const bool touches = x2 >= 0 && x1 <= size && y2 >= 0 && y1 <= size;
    const double visible = full > 0 ? inside / full : (touches ? 1.0 : 0.0);
    if (visible < o.min_visible || !touches) continue;
    if (cx2 - cx1 < o.min_side || cy2 - cy1 < o.min_side) continue;
    labelled_box k;
    k.box = detection::xyxy<float>{float(cx1), float(cy1), float(cx2), float(cy2)};
    k.class_id = boxes[i].class_id;
    out.push_back(k);
  }
  return out;
}

// A box on the canvas of p back on the original width x height image: unflipped, minus the offset,
// divided by the scale, clamped to [0, width] x [0, height].
inline detection::xyxy<float> to_original(const placement& p, detection::xyxy<float> b, int width, int height) {
  if (!(p.scale > 0) || !std::isfinite(p.scale))
    throw error(failure_code::invalid_argument,
                fmt::format("placement.scale is {}: it must be a finite number above 0 (take the placement that "
                            "prepare_detection_eval or augment_detection_train returned)",
                            p.scale));
  double x1 = b.x1, x2 = b.x2;
  if (p.flipped) {
    const double f1 = p.size - x2, f2 = p.size - x1;
    x1 = f1, x2 = f2;
  }
  const double s = p.scale;
  auto back = [&](double v, double offset, int limit) { return float(std::clamp((v - offset) / s, 0.0, double(limit))); };
  return {back(x1, p.offset_x, width), back(b.y1, p.offset_y, height), back(x2, p.offset_x, width),
          back(b.y2, p.offset_y, height)};
}

namespace detail {

// Along one axis of n source pixels: the source window [a, b) holding everything the canvas
// shows, and the output span [q, e) it is resampled to: q and e are the exact images of a and b,
// rounded to the nearest output pixel. False when nothing of the content reaches a canvas pixel.
struct window_span {
  int a = 0, b = 0;
  long q = 0, e = 0;
};

inline bool visible_window(int n, double s, double offset, int size, window_span& w) {
  const double v0 = std::max(0.0, offset), v1 = std::min(double(size), offset + n * s);
  if (!(v1 > v0)) return false;
  const double u0 = std::clamp((v0 - offset) / s, 0.0, double(n)), u1 = std::clamp((v1 - offset) / s, 0.0, double(n));
  w.a = std::clamp(int(std::floor(u0)), 0, n - 1);
  w.b = std::clamp(int(std::ceil(u1)), w.a + 1, n);
  w.q = std::lround(w.a * s + offset);
  w.e = std::lround(w.b * s + offset);
  return w.e > w.q && w.e > 0 && w.q < size;
}

// Paints src through p into dst (3 x size x size floats): padding 0, the content flipped as p
// says, jittered by the given factors (1 = none) and normalised.
inline void render(const data::image& src, const placement& p, double brightness, double contrast, double saturation,
                   const detection_augment_options& o, float* dst) {
  const int size = p.size;
  const std::size_t plane = std::size_t(size) * size;
  std::fill(dst, dst + 3 * plane, 0.f);
  window_span wx, wy;
  if (!visible_window(src.width, p.scale, p.offset_x, size, wx) ||
      !visible_window(src.height, p.scale, p.offset_y, size, wy))
    return;
  const crop_box window{wx.a, wy.a, wx.b - wx.a, wy.b - wy.a};
  const bool whole = window.w == src.width && window.h == src.height;
  const int mw = int(wx.e - wx.q), mh = int(wy.e - wy.q);
  data::image resized = whole ? data::resize(src, mw, mh) : data::resize(crop(src, window), mw, mh);
  // The part of the resampled window that lies on the canvas.
  const int c0 = int(std::max(0L, -wx.q)), c1 = int(std::min(long(mw), size - wx.q));
  const int r0 = int(std::max(0L, -wy.q)), r1 = int(std::min(long(mh), size - wy.q));
  const crop_box on_canvas{c0, r0, c1 - c0, r1 - r0};
  if (on_canvas.w != mw || on_canvas.h != mh) resized = crop(resized, on_canvas);
  const int px = int(wx.q) + c0, py = int(wy.q) + r0, w = on_canvas.w, h = on_canvas.h;

  augment_options ao;
  ao.mean = o.mean;
  ao.std = o.std;
  std::vector<float> content(std::size_t(3) * std::size_t(w) * std::size_t(h));
  to_normalised_chw(resized, p.flipped, brightness, contrast, saturation, ao, content.data());
  const int x0 = p.flipped ? size - px - w : px;
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < h; ++y)
      std::copy_n(content.data() + std::size_t(ch) * w * h + std::size_t(y) * w, w,
                  dst + std::size_t(ch) * plane + std::size_t(py + y) * size + x0);
}

inline void check_image(const data::image& src) {
  if (src.empty() || src.width <= 0 || src.height <= 0 ||
      src.pixels.size() != std::size_t(src.width) * std::size_t(src.height) * 3)
    throw error(failure_code::invalid_argument,
                fmt::format("cannot augment a {}x{} image with {} bytes of pixels: give a decoded, non-empty RGB image",
                            src.width, src.height, src.pixels.size()));
}

}  // namespace detail

// One evaluation sample: the whole image letterboxed into size x size, normalised into dst
// (3 * size * size floats, CHW). The padding is exactly 0. Returns the placement, for to_original.
inline placement prepare_detection_eval(const data::image& src, const detection_augment_options& o, float* dst) {
  validate(o);
  detail::check_image(src);
  const placement p = letterbox_placement(src.width, src.height, o.size);
  detail::render(src, p, 1, 1, 1, o, dst);
  return p;
}

// One training sample into dst (3 * size * size floats, CHW) and its boxes into out_boxes
// (replaced). Random draws from r, in this order: zoom, offset x, offset y, flip (only when
// horizontal_flip), brightness, contrast, saturation (each only when its v > 0).
inline placement augment_detection_train(const data::image& src, std::span<const labelled_box> boxes,
                                         const detection_augment_options& o, std::mt19937_64& r, float* dst,
                                         std::vector<labelled_box>& out_boxes) {
  validate(o);
  detail::check_image(src);
  std::uniform_real_distribution<double> unit(0, 1);
  const double log_min = std::log(o.scale_min), log_max = std::log(o.scale_max);
  const double zoom = std::exp(log_min + (log_max - log_min) * unit(r));
  placement p;
  p.size = o.size;
  p.scale = float(double(o.size) / std::max(src.width, src.height) * zoom);
  // Between 0 and size - extent: inside the canvas when smaller, covering it when larger.
  const double ux = unit(r), uy = unit(r);
  p.offset_x = float(ux * (o.size - src.width * double(p.scale)));
  p.offset_y = float(uy * (o.size - src.height * double(p.scale)));
  p.flipped = o.horizontal_flip && unit(r) < 0.5;
  auto factor = [&](double v) { return v > 0 ? std::uniform_real_distribution<double>(std::max(0.0, 1 - v), 1 + v)(r) : 1.0; };
  const double br = factor(o.brightness), co = factor(o.contrast), sa = factor(o.saturation);
  out_boxes = transform_boxes(p, boxes, o);  // validates the boxes before any pixel work
  detail::render(src, p, br, co, sa, o, dst);
  return p;
}

}  // namespace tailor::pipeline
