// The compile-time customizer: make a Dataset from a COCO file, train the best classifier a
// 2-minute budget buys, tag an image with the Model.   build/bin/customize train.json images/ photo.jpg
#include <cstdio>

#include <tailor/automl/customizer.hpp>
#include <tailor/model/classifier.hpp>
#include <tailor/model/training.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

using my_customizer = tailor::customizer<tailor::task::classification,
    tailor::backbones<tailor::nn::resnet<18>, tailor::nn::mobilenet_v3_small, tailor::nn::small_cnn>,
    tailor::search::asha, tailor::budget::compute_time, tailor::backend::cpu>;

int main(int argc, char** argv) try {
  if (argc != 4) return std::fprintf(stderr, "usage: customize COCO.json IMAGES_DIR IMAGE\n"), 2;
  tailor::workspace ws("customize-workspace");
  if (!tailor::has_model(ws, "example")) {
    tailor::dataset_spec data;
    data.name = "example-data", data.coco_file = argv[1], data.images = argv[2];
    tailor::create_dataset(ws, data);
    tailor::model_train_spec spec;
    spec.name = "example";
    spec.dataset = "example-data";
    spec.budget_seconds = 120;  // calibrated compute seconds
    spec.on_trial = [](const tailor::automl::trial_record& t) {
      std::printf("%-80s %-9s %.4f\n", t.description.c_str(), t.outcome.c_str(), t.score);
    };
    const auto m = tailor::train_model<my_customizer>(ws, spec);
    std::printf("%s: %s, validation %s %.4f\n", m.backbone.c_str(), m.stopping_reason.c_str(), m.score_name.c_str(),
                m.validation_score);
  }
  for (const auto& tag : tailor::classifier::load(ws, "example").analyze(std::filesystem::path(argv[3])).tags)
    std::printf("%-20s %.4f\n", tag.name.c_str(), tag.confidence);
} catch (const tailor::error& e) {
  std::fprintf(stderr, "error: %s: %s\n", std::string(tailor::to_string(e.code())).c_str(), e.what());
  return 1;
}
