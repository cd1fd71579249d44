#pragma once
// Axis-aligned boxes as corners (x1, y1, x2, y2) in pixels, and the overlap measures a detector
// trains and post-processes with: area, IoU, GIoU (Rezatofighi et al., CVPR 2019) and the GIoU loss
// 1 - GIoU with its gradient with respect to the predicted box.
//
// Degenerate and inverted boxes, one rule for the whole file, so that finite input never gives NaN:
//  - an extent (x2 - x1, y2 - y1, and the same for the intersection and the enclosing box) below
//    zero counts as zero: an inverted box is empty, has area 0 and overlaps nothing. Non-maximum
//    suppression rejects inverted boxes outright (nms.hpp); a head should decode boxes that cannot
//    invert.
//  - a ratio whose denominator is zero counts as 0, in value and in gradient: IoU is 0 when the
//    union is empty (both boxes have zero area), and GIoU's enclosure penalty (C - U) / C is 0 when
//    the enclosing box has zero area (both boxes on one line or one point).
// With a target of positive area (every usable annotation) neither denominator can be zero.
#include <algorithm>
#include <concepts>

#include "../data/coco_types.hpp"

namespace tailor::detection {

// Corners in pixels: (x1, y1) top-left, (x2, y2) bottom-right; x1 <= x2 and y1 <= y2 when valid.
// float for inference and training, double where precision matters (tests, evaluation).
template <std::floating_point T = float>
struct xyxy {
  T x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// A ground-truth box and its class (an index into the model's classes): what a dataset gives,
// what augmentation moves and what target assignment reads.
struct gt_box {
  xyxy<float> box;  // pixels, x1 < x2 and y1 < y2
  int class_id = 0;
};

// From a COCO [x, y, w, h] box (the form data:: stores). The sums are taken in double, then rounded.
template <std::floating_point T = double>
constexpr xyxy<T> from_coco(const data::box& b) noexcept {
  return xyxy<T>{static_cast<T>(b.x), static_cast<T>(b.y), static_cast<T>(b.x + b.w), static_cast<T>(b.y + b.h)};
}

// To a COCO [x, y, w, h] box, coordinates as they are (an inverted box gives a negative size, which
// COCO validation rejects: better seen than hidden).
template <std::floating_point T>
constexpr data::box to_coco(const xyxy<T>& b) noexcept {
  data::box out;
  out.x = static_cast<double>(b.x1);
  out.y = static_cast<double>(b.y1);
  out.w = static_cast<double>(b.x2) - static_cast<double>(b.x1);
  out.h = static_cast<double>(b.y2) - static_cast<double>(b.y1);
  return out;
}

template <std::floating_point T>
constexpr T width(const xyxy<T>& b) noexcept {
  return std::max(T(0), b.x2 - b.x1);
}

template <std::floating_point T>
constexpr T height(const xyxy<T>& b) noexcept {
  return std::max(T(0), b.y2 - b.y1);
}

template <std::floating_point T>
constexpr T area(const xyxy<T>& b) noexcept {
  return width(b) * height(b);
}

template <std::floating_point T>
constexpr T intersection_area(const xyxy<T>& a, const xyxy<T>& b) noexcept {
  const T w = std::max(T(0), std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const T h = std::max(T(0), std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  return w * h;
}

// Area of the smallest box holding both.
template <std::floating_point T>
constexpr T enclosing_area(const xyxy<T>& a, const xyxy<T>& b) noexcept {
  const T w = std::max(T(0), std::max(a.x2, b.x2) - std::min(a.x1, b.x1));
  const T h = std::max(T(0), std::max(a.y2, b.y2) - std::min(a.y1, b.y1));
  return w * h;
}

namespace detail {

// IoU with the areas already known (NMS computes each box's area once). Same arithmetic as iou(),
// so both give bit-identical results.
template <std::floating_point T>
constexpr T iou_given_areas(const xyxy<T>& a, const xyxy<T>& b, T area_a, T area_b) noexcept {
  const T inter = intersection_area(a, b);
  const T uni = area_a + area_b - inter;
  return uni > 0 ? inter / uni : T(0);
}

// GIoU from its three areas, shared by giou() and giou_loss() so that loss == 1 - giou exactly.
template <std::floating_point T>
constexpr T giou_from_areas(T inter, T uni, T enclosure) noexcept {
  const T overlap = uni > 0 ? inter / uni : T(0);
  const T penalty = enclosure > 0 ? (enclosure - uni) / enclosure : T(0);
  return overlap - penalty;
}

}  // namespace detail

// Intersection over union, in [0, 1]; 0 when the union is empty.
template <std::floating_point T>
constexpr T iou(const xyxy<T>& a, const xyxy<T>& b) noexcept {
  return detail::iou_given_areas(a, b, area(a), area(b));
}

// Generalized IoU: IoU - (C - U) / C with C the enclosing box's area, in [-1, 1]. Unlike IoU it
// still says how far apart disjoint boxes are, which gives a loss built on it a useful gradient.
template <std::floating_point T>
constexpr T giou(const xyxy<T>& a, const xyxy<T>& b) noexcept {
  const T inter = intersection_area(a, b);
  return detail::giou_from_areas(inter, area(a) + area(b) - inter, enclosing_area(a, b));
}

template <std::floating_point T>
struct giou_loss_result {
  T loss = 0;         // 1 - giou(predicted, target), in [0, 2]
  xyxy<T> gradient;   // d loss / d predicted.x1, .y1, .x2, .y2
};

// The GIoU loss of a predicted box against a constant target, with its analytic gradient.
//
// The loss is piecewise smooth; where it has a kink the gradient takes one side, chosen so that
// learning moves the right way:
//  - where an edge of the prediction lies exactly on the target's, the prediction's edge counts as
//    the edge of both the intersection and the enclosing box, so a perfect match has zero gradient;
//  - at a zero extent (of the prediction or the intersection) the derivative is the one from the
//    side where the extent is positive, so a degenerate prediction still learns to grow and
//    touching boxes learn to overlap.
template <std::floating_point T>
giou_loss_result<T> giou_loss(const xyxy<T>& predicted, const xyxy<T>& target) noexcept {
  const xyxy<T>& p = predicted;
  const xyxy<T>& t = target;

  // The prediction's own extents.
  const T pw = p.x2 - p.x1, ph = p.y2 - p.y1;
  const T pw_pos = std::max(T(0), pw), ph_pos = std::max(T(0), ph);

  // Intersection edges: which box each comes from (the prediction wins ties).
  const bool p_left_inner = p.x1 >= t.x1, p_right_inner = p.x2 <= t.x2;
  const bool p_top_inner = p.y1 >= t.y1, p_bottom_inner = p.y2 <= t.y2;
  const T iw = (p_right_inner ? p.x2 : t.x2) - (p_left_inner ? p.x1 : t.x1);
  const T ih = (p_bottom_inner ? p.y2 : t.y2) - (p_top_inner ? p.y1 : t.y1);
  const T iw_pos = std::max(T(0), iw), ih_pos = std::max(T(0), ih);

  // Enclosing box edges (the prediction wins ties here too).
  const bool p_left_outer = p.x1 <= t.x1, p_right_outer = p.x2 >= t.x2;
  const bool p_top_outer = p.y1 <= t.y1, p_bottom_outer = p.y2 >= t.y2;
  const T cw = (p_right_outer ? p.x2 : t.x2) - (p_left_outer ? p.x1 : t.x1);
  const T ch = (p_bottom_outer ? p.y2 : t.y2) - (p_top_outer ? p.y1 : t.y1);
  const T cw_pos = std::max(T(0), cw), ch_pos = std::max(T(0), ch);

  const T inter = iw_pos * ih_pos;
  const T uni = pw_pos * ph_pos + area(t) - inter;
  const T enclosure = cw_pos * ch_pos;

  giou_loss_result<T> out;
  out.loss = T(1) - detail::giou_from_areas(inter, uni, enclosure);

  // giou = I/U - 1 + U/C with U = A_p + A_t - I, so
  //   d giou = dI (1/U + I/U^2 - 1/C) + dA_p (1/C - I/U^2) - dC U/C^2,
  // where the I/U terms drop out when U == 0 and the C terms when C == 0 (the file's rule).
  T coef_inter = 0, coef_area = 0, coef_enclosure = 0;
  if (uni > 0) {
    const T ratio = inter / uni / uni;  // (I/U)/U: exactly 1/U for a perfect match
    coef_inter += T(1) / uni + ratio;
    coef_area -= ratio;
  }
  if (enclosure > 0) {
    coef_inter -= T(1) / enclosure;
    coef_area += T(1) / enclosure;
    coef_enclosure -= uni / enclosure / enclosure;
  }

  // Partial derivatives of a clamped extent e = max(0, z): the positive side's slope at z == 0.
  auto slope = [](T z) { return z >= 0 ? T(1) : T(0); };
  const T dw = slope(pw), dh = slope(ph);
  const T diw = slope(iw), dih = slope(ih);
  const T dcw = slope(cw), dch = slope(ch);

  // d(area)/d(coordinate) for the prediction, the intersection and the enclosure; x1 and y1 move
  // their boxes' extents the opposite way.
  struct partials {
    T area, inter, enclosure;
  };
  const partials x1{-ph_pos * dw, p_left_inner ? -ih_pos * diw : T(0), p_left_outer ? -ch_pos * dcw : T(0)};
  const partials x2{ph_pos * dw, p_right_inner ? ih_pos * diw : T(0), p_right_outer ? ch_pos * dcw : T(0)};
  const partials y1{-pw_pos * dh, p_top_inner ? -iw_pos * dih : T(0), p_top_outer ? -cw_pos * dch : T(0)};
  const partials y2{pw_pos * dh, p_bottom_inner ? iw_pos * dih : T(0), p_bottom_outer ? cw_pos * dch : T(0)};

  // The loss is 1 - giou, hence the minus.
  auto loss_gradient = [&](const partials& d) {
    return -(coef_inter * d.inter + coef_area * d.area + coef_enclosure * d.enclosure);
  };
  out.gradient.x1 = loss_gradient(x1);
  out.gradient.y1 = loss_gradient(y1);
  out.gradient.x2 = loss_gradient(x2);
  out.gradient.y2 = loss_gradient(y2);
  return out;
}

}  // namespace tailor::detection
