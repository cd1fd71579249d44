#pragma once
// Which images train and which validate a trial. Stratified: every class keeps the same share in
// validation, so a rare class is neither missing from it nor taken out of training.
//   stratified_holdout  one split, `fraction` of each class (at least one image of each class with
//                       two or more; a class with one image stays in training);
//   stratified_folds    k splits whose validation parts partition the images, each class dealt
//                       round-robin over the folds — for datasets where a class has so few images
//                       that one hold-out would judge it on one or two images.
// Multilabel images are stratified by their rarest tag; untagged images count as a class of their own.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "../core/error.hpp"

namespace tailor::automl {

struct validation_split {
  std::vector<std::uint32_t> train, validation;  // indices of the samples, ascending
};

namespace detail {

// Per stratum (a class, or the rarest tag), the samples in a seeded random order.
inline std::vector<std::vector<std::uint32_t>> strata(const std::vector<std::vector<std::int32_t>>& labels, std::uint64_t seed) {
  std::map<std::int32_t, std::size_t> count;
  for (const auto& l : labels)
    for (auto c : l) ++count[c];
  std::map<std::int32_t, std::vector<std::uint32_t>> by;
  for (std::uint32_t i = 0; i < labels.size(); ++i) {
    std::int32_t key = -1;  // untagged
    for (auto c : labels[i])
      if (key < 0 || count[c] < count[key] || (count[c] == count[key] && c < key)) key = c;
    by[key].push_back(i);
  }
  std::vector<std::vector<std::uint32_t>> out;
  std::mt19937_64 r(seed);
  for (auto& [key, members] : by) {
    for (std::size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[r() % i]);
    out.push_back(std::move(members));
  }
  return out;
}

}  // namespace detail

// The number of images of the smallest class (the rarest tag for multilabel), 0 when there are none.
inline std::size_t smallest_class(const std::vector<std::vector<std::int32_t>>& labels) {
  std::map<std::int32_t, std::size_t> count;
  for (const auto& l : labels)
    for (auto c : l) ++count[c];
  std::size_t m = 0;
  for (const auto& [c, n] : count) m = m == 0 ? n : std::min(m, n);
  return m;
}

// Under this many images of a tag, a validation cannot choose between recipes: a hold-out would
// judge the tag on one or two images (k folds do, at k times the cost).
constexpr std::size_t few_shot_images = 10;

// Every image trains, and the same images are scored: a few-shot set's one run, whose "validation"
// is its fit to its own images (it tells a model that learned from one that did not, no more).
inline validation_split every_image(std::size_t count) {
  validation_split s;
  for (std::uint32_t i = 0; i < count; ++i) s.train.push_back(i);
  s.validation = s.train;
  return s;
}

inline validation_split stratified_holdout(const std::vector<std::vector<std::int32_t>>& labels, double fraction, std::uint64_t seed) {
  if (!(fraction > 0 && fraction < 1))
    throw error(failure_code::invalid_argument, fmt::format("the validation fraction must be in (0, 1), got {}", fraction));
  validation_split s;
  for (const auto& members : detail::strata(labels, seed)) {
    std::size_t take = members.size() < 2 ? 0 : std::max<std::size_t>(1, std::size_t(fraction * double(members.size()) + 0.5));
    take = std::min(take, members.size() - 1);
    s.validation.insert(s.validation.end(), members.begin(), members.begin() + std::ptrdiff_t(take));
    s.train.insert(s.train.end(), members.begin() + std::ptrdiff_t(take), members.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.validation.begin(), s.validation.end());
  return s;
}

inline std::vector<validation_split> stratified_folds(const std::vector<std::vector<std::int32_t>>& labels, int k, std::uint64_t seed) {
  if (k < 2) throw error(failure_code::invalid_argument, fmt::format("k-fold validation needs k >= 2, got {}", k));
  std::vector<validation_split> folds(std::size_t(k), validation_split{});
  std::size_t next = 0;  // continue the round-robin across classes, so folds get equal sizes
  for (const auto& members : detail::strata(labels, seed)) {
    for (auto i : members) {
      for (std::size_t f = 0; f < folds.size(); ++f) (f == next % folds.size() ? folds[f].validation : folds[f].train).push_back(i);
      ++next;
    }
  }
  for (auto& f : folds) {
    std::sort(f.train.begin(), f.train.end());
    std::sort(f.validation.begin(), f.validation.end());
  }
  return folds;
}

}  // namespace tailor::automl
