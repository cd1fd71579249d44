#pragma once
// What a trained classification network says about images: probabilities, N x C row-major —
// softmax over the classes (multiclass: one answer per image) or a sigmoid per class (multilabel:
// each tag on its own). Images go through the evaluation transform (the whole image resized to
// the input size, normalised), the same for validation, evaluation and analyze.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "../pipeline/batch_loader.hpp"

namespace tailor::task {

// Logits (N x C or N x C x 1 x 1) to probabilities, computed in double.
template <class Tensor>
std::vector<double> probabilities(const Tensor& logits, bool multilabel) {
  const std::size_t n = logits.shape()[0], c = logits.size() / std::max<std::size_t>(1, n);
  std::vector<double> p(n * c);
  const auto* z = logits.data();
  for (std::size_t i = 0; i < n; ++i) {
    double* row = p.data() + i * c;
    if (multilabel) {
      for (std::size_t k = 0; k < c; ++k) row[k] = 1.0 / (1.0 + std::exp(-double(z[i * c + k])));
      continue;
    }
    double top = -HUGE_VAL, sum = 0;
    for (std::size_t k = 0; k < c; ++k) top = std::max(top, double(z[i * c + k]));
    for (std::size_t k = 0; k < c; ++k) sum += row[k] = std::exp(double(z[i * c + k]) - top);
    for (std::size_t k = 0; k < c; ++k) row[k] /= sum;
  }
  return p;
}

using pipeline::test_time;

// The batch with every row of every plane reversed (N x C x H x W): the mirror images.
template <class Tensor>
Tensor mirrored(const Tensor& x) {
  Tensor out = Tensor::from_shape(x.shape());
  const std::size_t w = x.shape()[3], rows = x.size() / std::max<std::size_t>(1, w);
  for (std::size_t r = 0; r < rows; ++r) std::reverse_copy(x.data() + r * w, x.data() + (r + 1) * w, out.data() + r * w);
  return out;
}

// The centre `area` of every plane of a batch (N x C x H x W), the same share of each side,
// resized back to H x W bilinearly with half-pixel centres: the zoomed view, made from the
// prepared input (the predictions see only that). Symmetric about the centre, so the zoomed
// mirror image is the mirrored zoomed image.
template <class Tensor>
Tensor zoomed(const Tensor& x, double area) {
  Tensor out = Tensor::from_shape(x.shape());
  const std::size_t h = x.shape()[2], w = x.shape()[3], planes = x.size() / std::max<std::size_t>(1, h * w);
  const double side = std::sqrt(area);
  // Per output index along an axis of n: the source index below and the weight of the one above.
  const auto sources = [side](std::size_t n) {
    std::vector<std::pair<std::size_t, double>> at(n);
    const double offset = 0.5 * double(n) * (1 - side);
    for (std::size_t i = 0; i < n; ++i) {
      const double v = std::clamp(offset + (double(i) + 0.5) * side - 0.5, 0.0, double(n - 1));
      const std::size_t lo = std::min(std::size_t(v), n > 1 ? n - 2 : 0);
      at[i] = {lo, n > 1 ? v - double(lo) : 0.0};
    }
    return at;
  };
  const auto rows = sources(h), cols = sources(w);
  const std::size_t right = w > 1 ? 1 : 0, below = h > 1 ? w : 0;
  for (std::size_t p = 0; p < planes; ++p) {
    const auto* src = x.data() + p * h * w;
    auto* dst = out.data() + p * h * w;
    for (std::size_t y = 0; y < h; ++y) {
      const auto [y0, fy] = rows[y];
      for (std::size_t k = 0; k < w; ++k) {
        const auto [x0, fx] = cols[k];
        const auto* s = src + y0 * w + x0;
        const double top = s[0] * (1 - fx) + s[right] * fx, bottom = s[below] * (1 - fx) + s[below + right] * fx;
        dst[y * w + k] = float(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

// The network's probabilities for a batch of prepared images (N x 3 x S x S), averaged over the
// views test_time names: each mode is the one below it on the batch and on a second view of it.
template <class Net, class Tensor>
std::vector<double> batch_probabilities(Net& net, Tensor x, bool multilabel, test_time t) {
  if (t == test_time::plain) return probabilities(net.forward(std::move(x), false), multilabel);
  const bool zoom = t == test_time::mirror_and_zoom;
  const test_time each = zoom ? test_time::mirror_average : test_time::plain;
  Tensor second = zoom ? zoomed(x, pipeline::zoom_area) : mirrored(x);
  auto p = batch_probabilities(net, std::move(x), multilabel, each);
  const auto q = batch_probabilities(net, std::move(second), multilabel, each);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.5 * (p[i] + q[i]);
  return p;
}

// The network's probabilities for the samples `subset` of `store`, in that order (empty subset:
// every sample). keep_going is asked before each batch; when it says no, the result is nullopt.
template <class Net>
std::optional<std::vector<double>> predict_probabilities(Net& net, const pipeline::image_store& store,
                                                         const std::vector<std::uint32_t>& subset,
                                                         const pipeline::augment_options& preprocessing, bool multilabel,
                                                         test_time t = test_time::plain, int batch_size = 32,
                                                         const std::function<bool()>& keep_going = {}) {
  using B = typename Net::backend;
  pipeline::loader_options o;
  o.batch_size = batch_size;
  o.train = false;
  o.augment = preprocessing;
  pipeline::batch_loader<B> loader(store, std::vector<std::vector<std::int32_t>>(store.size()), net.classes(), false, o, subset);
  std::vector<double> out;
  out.reserve((subset.empty() ? store.size() : subset.size()) * std::size_t(net.classes()));
  loader.start_epoch(0);
  while (auto b = loader.next()) {
    if (keep_going && !keep_going()) return std::nullopt;
    const auto p = batch_probabilities(net, std::move(b->images), multilabel, t);
    out.insert(out.end(), p.begin(), p.end());
  }
  net.release_cache();
  return out;
}

}  // namespace tailor::task
