#pragma once
// A trained detector loaded from the workspace, whatever backbone it chose (built at run time
// from the Model object's description, like tailor::classifier).
//
//   auto d = tailor::detector::load(ws, "forks");
//   tailor::object_analysis a = d.analyze("kitchen.jpg");  // objects, best first
//   auto json = tailor::to_azure_json(a);  // {"customModelResult": {"objectsResult": {"values": [...]}}}
//
// Boxes are in the pixels of the image as given (a file: as displayed, EXIF applied). An image is
// decoded with its longer side at most the training's decode side, letterboxed to the input size
// (as in validation), and the boxes come back through both steps.
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../automl/detection_task.hpp"
#include "../backend/cpu.hpp"
#include "../data/image_decode.hpp"
#include "../data/image_resize.hpp"
#include "../detection/detector_network.hpp"
#include "../detection/centernet_head.hpp"
#include "../detection/detector_predict.hpp"
#include "../detection/head_kind.hpp"
#include "../nn/backbones/mobilenet_v3.hpp"
#include "../nn/backbones/resnet.hpp"
#include "../nn/weights.hpp"
#include "../pipeline/detection_augment.hpp"
#include "../pipeline/image_store.hpp"
#include "../task/detection_predict.hpp"
#include "load_support.hpp"
#include "classifier.hpp"  // tag_confidence
#include "model.hpp"

namespace tailor {

struct bounding_box {
  double x = 0, y = 0, w = 0, h = 0;  // pixels: top-left corner, width, height
};

struct detected_object {
  bounding_box box;
  std::vector<tag_confidence> tags;  // highest confidence first: the object's tag, then others its box also scored for
};

struct object_analysis {
  std::vector<detected_object> objects;  // highest confidence first
  int width = 0, height = 0;             // of the image the boxes refer to
};

// {"customModelResult": {"objectsResult": {"values": [{"boundingBox": {"x","y","w","h"}, "tags":
// [{"name","confidence"}]}, ...]}}}, as Azure's Image Analysis 4.0 answered for custom detectors
// (it gave integer pixels; these keep their fractions).
inline nlohmann::ordered_json to_azure_json(const object_analysis& a) {
  auto values = nlohmann::ordered_json::array();
  for (const auto& o : a.objects) {
    auto tags = nlohmann::ordered_json::array();
    for (const auto& t : o.tags) tags.push_back({{"name", t.name}, {"confidence", t.confidence}});
    values.push_back({{"boundingBox", {{"x", o.box.x}, {"y", o.box.y}, {"w", o.box.w}, {"h", o.box.h}}}, {"tags", tags}});
  }
  return {{"customModelResult", {{"objectsResult", {{"values", values}}}, {"metadata", {{"width", a.width}, {"height", a.height}}}}}};
}

class detector {
 public:
  using B = backend::cpu;
  using tensor = typename B::tensor;

  // Loads a detection model that has weights (succeeded, or cancelled after a trial completed).
  static detector load(const workspace& ws, std::string_view name) {
    detector d;
    d.info_ = get_model(ws, name);
    const auto& m = d.info_;
    if (m.task != "detection")
      throw error(failure_code::invalid_argument,
                  fmt::format("the model '{}' is a {} model, not a detector", name, m.task));
    const auto weights = detail::weights_to_analyze(ws, m);
    d.network_ = make_network(m);
    d.network_->load(weights);
    d.preprocessing_ = automl::detection_augmentation_for(0, m.input_size);
    d.preprocessing_.mean = m.mean;
    d.preprocessing_.std = m.std;
    return d;
  }

  const model_object& info() const { return info_; }
  const pipeline::detection_augment_options& preprocessing() const { return preprocessing_; }

  object_analysis analyze(const data::image& image) { return analyze(std::span<const data::image>(&image, 1)).front(); }
  object_analysis analyze(const std::filesystem::path& file) {
    const auto info = data::read_image_info(file);
    auto a = analyze_bounded(pipeline::image_store::decode(file, info_.decode_side), info.width(), info.height());
    return a;
  }

  // Batched: one forward pass per 16 images.
  std::vector<object_analysis> analyze(std::span<const data::image> images) {
    std::vector<object_analysis> out;
    for (const auto& img : images) {
      // As in training: bounded at decode time, then letterboxed.
      const auto [w, h] = pipeline::image_store::bounded(img.width, img.height, info_.decode_side);
      out.push_back(w != img.width || h != img.height ? analyze_bounded(data::resize(img, w, h), img.width, img.height)
                                                      : analyze_bounded(img, img.width, img.height));
    }
    return out;
  }

  // The detections for every image of a store (sizes: each image's original width and height),
  // class indices in the model's class order: evaluations.
  std::vector<std::vector<detection::scored_box>> detections(const pipeline::image_store& store,
                                                            const std::vector<std::array<int, 2>>& sizes) {
    return network_->store_detections(store, sizes, preprocessing_);
  }

 private:
  object_analysis analyze_bounded(const data::image& img, int width, int height) {
    const std::size_t s = std::size_t(preprocessing_.size);
    tensor x = tensor::from_shape({1, 3, s, s});
    const auto p = pipeline::prepare_detection_eval(img, preprocessing_, x.data());
    const auto found = network_->boxes(std::move(x));
    const float fx = float(width) / float(img.width), fy = float(height) / float(img.height);
    object_analysis a;
    a.width = width;
    a.height = height;
    // Class-wise NMS (what COCO's evaluation wants) can leave one object under several tags; an
    // answer has one entry per object, so a box that overlaps a better one of another tag (IoU
    // above the NMS threshold) becomes another tag of that object, as Azure listed them. The
    // CenterNet-style decoding has no NMS: a second peak on one object, of its tag, is dropped here.
    const float merge_iou = automl::detection_part<B>::fcos_decoding().nms.iou_threshold;
    std::vector<detection::xyxy<float>> kept;
    for (const auto& f : found.front()) {  // best first
      const auto b = pipeline::to_original(p, f.box, img.width, img.height);
      const tag_confidence tag{info_.classes[std::size_t(f.class_id)], double(f.score)};
      std::size_t k = 0;
      while (k < kept.size() && !(detection::iou(kept[k], b) > merge_iou)) ++k;
      if (k < kept.size()) {
        auto& tags = a.objects[k].tags;
        if (std::none_of(tags.begin(), tags.end(), [&](const tag_confidence& t) { return t.name == tag.name; })) tags.push_back(tag);
        continue;
      }
      kept.push_back(b);
      detected_object o;
      o.box = {double(b.x1 * fx), double(b.y1 * fy), double((b.x2 - b.x1) * fx), double((b.y2 - b.y1) * fy)};
      o.tags.push_back(tag);
      a.objects.push_back(std::move(o));
    }
    return a;
  }

  // The network behind a run-time backbone name.
  struct network_base {
    virtual ~network_base() = default;
    virtual std::vector<std::vector<detection::scored_box>> boxes(tensor x) = 0;
    virtual std::vector<std::vector<detection::scored_box>> store_detections(const pipeline::image_store& store,
                                                                             const std::vector<std::array<int, 2>>& sizes,
                                                                             const pipeline::detection_augment_options& p) = 0;
    virtual nn::load_report load(const std::filesystem::path& file) = 0;
  };
  // The network and its head's decoding (the model records which head it was trained with).
  template <class Tag>
  struct network final : network_base {
    detection::detector_network<Tag, B> net;
    detection::head_kind head;
    network(int classes, const detection::detector_options& o, detection::head_kind h) : net(classes, o), head(h) {}
    std::vector<std::vector<detection::scored_box>> boxes(tensor x) override {
      auto found = automl::detection_part<B>::with_decoding(
          head, [&](const auto& d) { return detection::predict_boxes(net, std::move(x), d); });
      net.release_cache();
      return found;
    }
    std::vector<std::vector<detection::scored_box>> store_detections(const pipeline::image_store& store,
                                                                     const std::vector<std::array<int, 2>>& sizes,
                                                                     const pipeline::detection_augment_options& p) override {
      return automl::detection_part<B>::with_decoding(
          head, [&](const auto& d) { return *task::predict_detections(net, store, sizes, {}, p, d); });
    }
    nn::load_report load(const std::filesystem::path& file) override { return nn::load_weights(net, file); }
  };

  static std::unique_ptr<network_base> make_network(const model_object& m) {
    const auto head = detection::parse_head_kind(m.detector_head);
    if (!head)
      throw error(failure_code::invalid_argument,
                  fmt::format("the model '{}' names the detector head '{}', which this version of tailor does not know "
                              "(fcos, centernet): use the tailor that trained it, or train it again",
                              m.name, m.detector_head));
    detection::detector_options o;
    o.backbone.width = m.width;
    o.backbone.convention = m.convention;
    o.fpn_channels = m.fpn_channels;
    o.head_convs = m.head_convs;
    o.head_levels = detection::head_levels_of(*head);
    return detail::make_for_backbone<false>(m.name, m.backbone, [&](auto tag) -> std::unique_ptr<network_base> {
      return std::make_unique<network<typename decltype(tag)::type>>(int(m.classes.size()), o, *head);
    });
  }

  model_object info_;
  std::unique_ptr<network_base> network_;
  pipeline::detection_augment_options preprocessing_;
};

}  // namespace tailor
