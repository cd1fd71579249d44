#include "detection_commands.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/automl/customizer.hpp>
#include <tailor/data/draw_boxes.hpp>
#include <tailor/data/image_decode.hpp>
#include <tailor/data/image_encode.hpp>
#include <tailor/model/detector.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>

namespace tailor_cli {

// What the program trains detectors with: the backbones with stride 8/16/32 maps that train
// fastest here (docs/detection.md), ASHA, calibrated compute time.
using detector_customizer =
    tailor::customizer<tailor::task::detection, tailor::backbones<tailor::nn::mobilenet_v3_small, tailor::nn::resnet<18>>,
                       tailor::search::asha, tailor::budget::compute_time, tailor::backend::cpu>;

tailor::model_object train_detector_model(const tailor::workspace& ws, const tailor::model_train_spec& spec) {
  return tailor::train_model<detector_customizer>(ws, spec);
}

namespace {

// Where the drawing of `image` goes: draw_to itself for one image, else a file in the folder draw_to.
std::filesystem::path drawing_path(const std::string& draw_to, const std::string& image, std::size_t count) {
  if (count == 1 && std::filesystem::path(draw_to).has_extension()) return draw_to;
  std::filesystem::create_directories(draw_to);
  return std::filesystem::path(draw_to) / (std::filesystem::path(image).stem().string() + ".objects.jpg");
}

}  // namespace

int analyze_objects(const tailor::workspace& ws, const std::string& model, const std::vector<std::string>& images, bool json,
                    double min_confidence, const std::string& draw_to) {
  auto d = tailor::detector::load(ws, model);
  auto out = nlohmann::ordered_json::array();
  for (const auto& image : images) {
    auto result = d.analyze(std::filesystem::path(image));
    std::erase_if(result.objects, [&](const tailor::detected_object& o) { return o.tags.front().confidence < min_confidence; });
    if (!draw_to.empty()) {
      auto picture = tailor::data::decode_image(std::filesystem::path(image));
      std::vector<tailor::data::box_drawing> boxes;
      for (const auto& o : result.objects) {
        const auto& tag = o.tags.front();
        const auto k = std::find(d.info().classes.begin(), d.info().classes.end(), tag.name) - d.info().classes.begin();
        boxes.push_back({o.box.x, o.box.y, o.box.w, o.box.h, fmt::format("{} {:.2f}", tag.name, tag.confidence), int(k)});
      }
      tailor::data::draw_boxes(picture, boxes);
      const auto file = drawing_path(draw_to, image, images.size());
      tailor::data::write_image(file, picture);
      if (!json) fmt::print("drew {} objects on {}\n", boxes.size(), file.string());
    }
    if (json) {
      auto j = tailor::to_azure_json(result);
      j["image"] = image;
      j["modelName"] = model;
      out.push_back(std::move(j));
      continue;
    }
    fmt::print("{} ({}x{}): {} objects\n", image, result.width, result.height, result.objects.size());
    for (const auto& o : result.objects)
      fmt::print("  {:<20} {:.4f}  x {:7.1f}  y {:7.1f}  w {:7.1f}  h {:7.1f}\n", o.tags.front().name, o.tags.front().confidence,
                 o.box.x, o.box.y, o.box.w, o.box.h);
  }
  if (json) fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace tailor_cli
