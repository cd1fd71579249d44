#pragma once
// A trained classifier loaded from the workspace, whatever backbone it chose: the network is
// built at run time from the Model object's description, so a program analyzes with models it
// did not compile in.
//
//   auto m = tailor::classifier::load(ws, "fruit-model");
//   tailor::analysis a = m.analyze("photo.jpg");   // tags, highest confidence first
//   auto json = tailor::to_azure_json(a);          // {"customModelResult": {"tagsResult": {"values": [...]}}}
//
// Confidences are softmax probabilities (multiclass: they sum to 1) or per-tag sigmoids
// (multilabel: each tag on its own). Images go through the training's evaluation transform, and
// the probabilities are averaged with the mirror image's when the model says so (test_time).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../backend/cpu.hpp"
#include "../data/image_decode.hpp"
#include "../data/image_resize.hpp"
#include "../nn/backbones/mobilenet_v3.hpp"
#include "../nn/backbones/resnet.hpp"
#include "../nn/backbones/small_cnn.hpp"
#include "../nn/weights.hpp"
#include "../pipeline/augment.hpp"
#include "../pipeline/image_store.hpp"
#include "../task/classification_network.hpp"
#include "../task/classification_predict.hpp"
#include "load_support.hpp"
#include "model.hpp"

namespace tailor {

struct tag_confidence {
  std::string name;
  double confidence = 0;
};

struct analysis {
  std::vector<tag_confidence> tags;  // every tag of the model, highest confidence first
};

// {"customModelResult": {"tagsResult": {"values": [{"name", "confidence"}, ...]}}}, as Azure's
// Image Analysis 4.0 answered for custom models.
inline nlohmann::ordered_json to_azure_json(const analysis& a) {
  auto values = nlohmann::ordered_json::array();
  for (const auto& t : a.tags) values.push_back({{"name", t.name}, {"confidence", t.confidence}});
  return {{"customModelResult", {{"tagsResult", {{"values", values}}}}}};
}

class classifier {
 public:
  using B = backend::cpu;
  using tensor = typename B::tensor;

  // Loads a model that has weights (succeeded, or cancelled after a trial completed).
  static classifier load(const workspace& ws, std::string_view name) {
    classifier c;
    c.info_ = get_model(ws, name);
    const auto& m = c.info_;
    const auto weights = detail::weights_to_analyze(ws, m);
    c.network_ = make_network(m);
    c.network_->load(weights);
    c.preprocessing_.size = m.input_size;
    c.preprocessing_.mean = m.mean;
    c.preprocessing_.std = m.std;
    c.test_time_ = m.test_time;
    return c;
  }

  // The model as model.json describes it (set_test_time does not change it).
  const model_object& info() const { return info_; }
  const pipeline::augment_options& preprocessing() const { return preprocessing_; }
  // How analyze and probabilities ask (the model's test_time unless set): plain halves the cost
  // of a model that averages with the mirror image, for what the average gained.
  void set_test_time(pipeline::test_time t) { test_time_ = t; }
  pipeline::test_time test_time() const { return test_time_; }

  analysis analyze(const data::image& image) { return analyze(std::span<const data::image>(&image, 1)).front(); }
  analysis analyze(const std::filesystem::path& file) {
    const auto img = pipeline::image_store::decode(file, info_.decode_side);
    return analyze(img);
  }

  // Batched: one forward pass per 32 images.
  std::vector<analysis> analyze(std::span<const data::image> images) {
    std::vector<analysis> out;
    const std::size_t s = std::size_t(preprocessing_.size), plane = 3 * s * s, classes = info_.classes.size();
    for (std::size_t begin = 0; begin < images.size(); begin += 32) {
      const std::size_t n = std::min<std::size_t>(32, images.size() - begin);
      tensor x = tensor::from_shape({n, 3, s, s});
      for (std::size_t k = 0; k < n; ++k) {
        const auto& img = images[begin + k];
        // As in training: bounded at decode time, then resized to the input size.
        const auto [w, h] = pipeline::image_store::bounded(img.width, img.height, info_.decode_side);
        if (w != img.width || h != img.height) pipeline::prepare_eval(data::resize(img, w, h), preprocessing_, x.data() + k * plane);
        else pipeline::prepare_eval(img, preprocessing_, x.data() + k * plane);
      }
      const auto p = network_->probabilities(std::move(x), info_.multilabel, test_time_);
      for (std::size_t k = 0; k < n; ++k) {
        analysis a;
        for (std::size_t c = 0; c < classes; ++c) a.tags.push_back({info_.classes[c], p[k * classes + c]});
        std::stable_sort(a.tags.begin(), a.tags.end(), [](const auto& l, const auto& r) { return l.confidence > r.confidence; });
        out.push_back(std::move(a));
      }
    }
    return out;
  }

  // Probabilities (N x C, in the model's class order) for images of a store: evaluations.
  std::vector<double> probabilities(const pipeline::image_store& store) {
    return network_->store_probabilities(store, preprocessing_, info_.multilabel, test_time_);
  }

 private:
  // The network behind a run-time backbone name.
  struct network_base {
    virtual ~network_base() = default;
    virtual std::vector<double> probabilities(tensor x, bool multilabel, pipeline::test_time t) = 0;
    virtual std::vector<double> store_probabilities(const pipeline::image_store& store, const pipeline::augment_options& p,
                                                    bool multilabel, pipeline::test_time t) = 0;
    virtual nn::load_report load(const std::filesystem::path& file) = 0;
  };
  template <class Tag>
  struct network final : network_base {
    task::classification_network<Tag, B> net;
    network(int classes, const nn::backbone_options& o) : net(classes, o) {}
    std::vector<double> probabilities(tensor x, bool multilabel, pipeline::test_time t) override {
      auto p = task::batch_probabilities(net, std::move(x), multilabel, t);
      net.release_cache();
      return p;
    }
    std::vector<double> store_probabilities(const pipeline::image_store& store, const pipeline::augment_options& p,
                                            bool multilabel, pipeline::test_time t) override {
      return *task::predict_probabilities(net, store, {}, p, multilabel, t);
    }
    nn::load_report load(const std::filesystem::path& file) override { return nn::load_weights(net, file); }
  };

  static std::unique_ptr<network_base> make_network(const model_object& m) {
    nn::backbone_options o;
    o.width = m.width;
    o.convention = m.convention;
    return detail::make_for_backbone<true>(m.name, m.backbone, [&](auto tag) -> std::unique_ptr<network_base> {
      return std::make_unique<network<typename decltype(tag)::type>>(int(m.classes.size()), o);
    });
  }

  model_object info_;
  std::unique_ptr<network_base> network_;
  pipeline::augment_options preprocessing_;
  pipeline::test_time test_time_ = pipeline::test_time::plain;  // how it asks: the model's unless set
};

}  // namespace tailor
