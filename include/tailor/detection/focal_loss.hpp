#pragma once
// The classification and centerness losses of a dense detector, each with its gradient:
//   - sigmoid focal loss (Lin et al., ICCV 2017), as torchvision.ops.sigmoid_focal_loss:
//       loss = alpha_t * ce * (1 - p_t)^gamma,  p = sigmoid(x),  p_t = p t + (1 - p)(1 - t),
//       alpha_t = alpha t + (1 - alpha)(1 - t)  (alpha < 0: no weighting, alpha_t = 1),
//     with ce the binary cross-entropy. The (1 - p_t)^gamma factor silences the many easy
//     background points so that the few positives drive training.
//   - binary cross-entropy with logits, for the centerness branch (soft targets in [0, 1]).
// Targets may be soft (any value in [0, 1]). Losses are summed over the elements and multiplied by
// `scale` (the caller's normaliser); the gradient written is scale * d loss / d logit, assigned, not
// accumulated.
//
// Numerics: everything is computed in double from one exp(-|x|) and one log1p, with p and 1 - p
// each formed without cancellation, so logits of +-100 (or +-1e4) give finite values with the right
// limits. A NaN logit gives a NaN loss (the training loop reports divergence); an infinite one the
// limit (which is infinite for a confident wrong answer).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

#include <fmt/format.h>

#include "../core/error.hpp"
#include "fcos_targets.hpp"

namespace tailor::detection {

namespace detail {

struct logistic_terms {
  double p = 0;            // sigmoid(x)
  double q = 0;            // 1 - sigmoid(x) = sigmoid(-x)
  double softplus_pos = 0;  // log(1 + e^x) = -log(1 - p)
  double softplus_neg = 0;  // log(1 + e^-x) = -log(p)
};

inline logistic_terms logistic(double x) noexcept {
  const double e = std::exp(-std::abs(x));
  const double inv = 1.0 / (1.0 + e);
  const double lg = std::log1p(e);
  logistic_terms out;
  out.p = x >= 0 ? inv : e * inv;
  out.q = x >= 0 ? e * inv : inv;
  out.softplus_pos = std::max(x, 0.0) + lg;
  out.softplus_neg = std::max(-x, 0.0) + lg;
  return out;
}

struct loss_and_gradient {
  double loss = 0, gradient = 0;
};

// Cross-entropy t * -log p + (1 - t) * -log(1 - p) and its derivative p - t. A term whose weight is
// 0 is skipped, so a hard target meets an infinite logit as 0, not 0 * inf.
inline loss_and_gradient cross_entropy(const logistic_terms& s, double t) noexcept {
  loss_and_gradient out;
  out.loss = (t > 0 ? t * s.softplus_neg : 0.0) + (t < 1 ? (1 - t) * s.softplus_pos : 0.0);
  out.gradient = s.p * (1 - t) - s.q * t;  // p - t, exact near p = 1 too
  return out;
}

inline double power(double base, double exponent) noexcept {
  if (exponent == 2) return base * base;  // FCOS's gamma: skip pow
  if (exponent == 1) return base;
  if (exponent == 0) return 1;
  return std::pow(base, exponent);
}

// One element of the focal loss (before scale).
inline loss_and_gradient focal_element(double x, double t, double alpha, double gamma) noexcept {
  const logistic_terms s = logistic(x);
  const loss_and_gradient ce = cross_entropy(s, t);
  const double one_minus_pt = s.p * (1 - t) + s.q * t;
  const double alpha_t = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1.0;
  const double modulator = power(one_minus_pt, gamma);
  // d (1 - p_t)^gamma / dx = gamma (1 - p_t)^(gamma - 1) (1 - 2t) p (1 - p), written as
  // gamma (1 - p_t)^gamma (1 - 2t) [p (1 - p) / (1 - p_t)]: the bracket stays bounded (p or 1 - p for
  // a hard target) where (1 - p_t)^(gamma - 1) alone would overflow for gamma < 1. 1 - p_t is 0 only
  // when a hard target is met exactly, where the derivative's limit is 0.
  double d_modulator = 0;
  if (gamma > 0 && one_minus_pt > 0) d_modulator = gamma * modulator * (1 - 2 * t) * (s.p * s.q / one_minus_pt);
  loss_and_gradient out;
  out.loss = alpha_t * ce.loss * modulator;
  out.gradient = alpha_t * (ce.gradient * modulator + ce.loss * d_modulator);
  return out;
}

inline void check_focal_parameters(const char* who, float alpha, float gamma, float scale) {
  if (!(alpha <= 1) || !std::isfinite(alpha))
    throw error(failure_code::invalid_argument,
                fmt::format("{}: alpha {}; give a weight of the positives in [0, 1] (0.25 in RetinaNet and FCOS), or a "
                            "negative value for no weighting",
                            who, alpha));
  if (!(gamma >= 0) || !std::isfinite(gamma))
    throw error(failure_code::invalid_argument,
                fmt::format("{}: gamma {}; give a finite focusing exponent >= 0 (2 in RetinaNet and FCOS, 0 is plain "
                            "cross-entropy)",
                            who, gamma));
  if (!std::isfinite(scale))
    throw error(failure_code::invalid_argument, fmt::format("{}: scale {}; give a finite scale", who, scale));
}

inline void check_lengths(const char* who, std::size_t logits, std::size_t targets, std::size_t grad) {
  if (targets != logits || grad != logits)
    throw error(failure_code::invalid_argument,
                fmt::format("{}: {} logits, {} targets and {} gradient entries; give one target and one gradient entry "
                            "per logit",
                            who, logits, targets, grad));
}

inline void check_target(const char* who, std::size_t i, float t) {
  if (!(t >= 0 && t <= 1))
    throw error(failure_code::invalid_argument,
                fmt::format("{}: target {} is {}; give targets in [0, 1]", who, i, t));
}

}  // namespace detail

// Sigmoid focal loss summed over the elements, times scale; grad[i] = scale * d loss / d logits[i].
// Throws tailor::error (invalid_argument) for mismatched lengths, a target outside [0, 1], alpha > 1,
// a negative gamma, or a non-finite parameter.
inline double sigmoid_focal_loss(std::span<const float> logits, std::span<const float> targets, float alpha, float gamma,
                                 float scale, std::span<float> grad) {
  constexpr const char* who = "sigmoid_focal_loss";
  detail::check_focal_parameters(who, alpha, gamma, scale);
  detail::check_lengths(who, logits.size(), targets.size(), grad.size());
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    detail::check_target(who, i, targets[i]);
    const auto e = detail::focal_element(logits[i], targets[i], alpha, gamma);
    sum += e.loss;
    grad[i] = static_cast<float>(double(scale) * e.gradient);
  }
  return double(scale) * sum;
}

// The focal loss of one image's class map on one level: logits and grad are C x H x W (classes x
// points), and the target of class c at point p is 1 when targets[p].class_id == c, else 0. Equals
// sigmoid_focal_loss on that materialised target array (same order of summation, so bit for bit),
// without allocating it.
inline double focal_loss_for_classes(const float* logits, int classes, int points, std::span<const point_target> targets,
                                     float alpha, float gamma, float scale, float* grad) {
  constexpr const char* who = "focal_loss_for_classes";
  detail::check_focal_parameters(who, alpha, gamma, scale);
  if (classes <= 0 || points < 0 || targets.size() != std::size_t(points))
    throw error(failure_code::invalid_argument,
                fmt::format("{}: {} classes, {} points and {} point targets; give at least one class and one target per "
                            "point",
                            who, classes, points, targets.size()));
  if (points > 0 && (logits == nullptr || grad == nullptr))
    throw error(failure_code::invalid_argument, fmt::format("{}: null logits or gradient; give C x H x W arrays", who));
  for (std::size_t p = 0; p < targets.size(); ++p)
    if (targets[p].class_id < -1 || targets[p].class_id >= classes)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: point {} has class {}; give classes in [0, {}) or -1 for background", who, p,
                              targets[p].class_id, classes));
  double sum = 0;
  const auto n = std::size_t(points);
  for (int c = 0; c < classes; ++c) {
    const float* x = logits + std::size_t(c) * n;
    float* g = grad + std::size_t(c) * n;
    for (std::size_t p = 0; p < n; ++p) {
      const auto e = detail::focal_element(x[p], targets[p].class_id == c ? 1.0 : 0.0, alpha, gamma);
      sum += e.loss;
      g[p] = static_cast<float>(double(scale) * e.gradient);
    }
  }
  return double(scale) * sum;
}

// Binary cross-entropy with logits, weights[i] * ce_i summed, times scale; grad[i] = scale *
// weights[i] * (sigmoid(x_i) - t_i). Empty weights: all 1 (a 0 weight masks an element out).
// Throws tailor::error (invalid_argument) for mismatched lengths, a target outside [0, 1], a
// negative or non-finite weight, or a non-finite scale.
inline double binary_cross_entropy_with_logits(std::span<const float> logits, std::span<const float> targets,
                                               std::span<const float> weights, float scale, std::span<float> grad) {
  constexpr const char* who = "binary_cross_entropy_with_logits";
  detail::check_lengths(who, logits.size(), targets.size(), grad.size());
  if (!weights.empty() && weights.size() != logits.size())
    throw error(failure_code::invalid_argument,
                fmt::format("{}: {} weights for {} logits; give one weight per logit, or none", who, weights.size(),
                            logits.size()));
  if (!std::isfinite(scale))
    throw error(failure_code::invalid_argument, fmt::format("{}: scale {}; give a finite scale", who, scale));
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    detail::check_target(who, i, targets[i]);
    double w = 1;
    if (!weights.empty()) {
      if (!(weights[i] >= 0) || !std::isfinite(weights[i]))
        throw error(failure_code::invalid_argument,
                    fmt::format("{}: weight {} is {}; give finite weights >= 0", who, i, weights[i]));
      w = weights[i];
    }
    const auto ce = detail::cross_entropy(detail::logistic(logits[i]), targets[i]);
    sum += w == 0 ? 0.0 : w * ce.loss;  // a masked element adds nothing, even with an infinite logit
    grad[i] = static_cast<float>(double(scale) * w * ce.gradient);
  }
  return double(scale) * sum;
}

inline double binary_cross_entropy_with_logits(std::span<const float> logits, std::span<const float> targets, float scale,
                                               std::span<float> grad) {
  return binary_cross_entropy_with_logits(logits, targets, std::span<const float>{}, scale, grad);
}

}  // namespace tailor::detection
