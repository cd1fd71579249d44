// One fixed training recipe, its validation and test accuracy: how docs/quality.md compares
// recipes (input size, augmentation, learning rate, epochs) for the default AutoML starts from.
//
//   build/bin/recipe_sweep DATA_DIR EPOCHS [size=96] [aug=0.3] [lr=0.003] [wd=0.05] [smoothing=0.1]
//       [backbone=mobilenet_v3_small] [threads=N] [seed=0] [holdout=0.2] [batch=32]
//
// DATA_DIR holds train.json, test.json and images/. The recipe trains on a stratified 80% of
// train.json (1 - holdout), is scored on the other 20% (validation) and then on test.json, with the library's
// own Model path (train_model, evaluate_model) in a temporary workspace; the charge is wall-clock
// busy seconds. One line of JSON on stdout.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include <tailor/automl/customizer.hpp>
#include <tailor/model/classifier.hpp>
#include <tailor/model/training.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

using sweep_customizer = tailor::customizer<tailor::task::classification,
    tailor::backbones<tailor::nn::resnet<18>, tailor::nn::mobilenet_v3_small, tailor::nn::small_cnn>,
    tailor::search::grid, tailor::budget::wall_clock, tailor::backend::cpu>;

namespace {

// The trained model's test accuracy under other test-time transforms than its own: the input at
// its size and at 1/6 and 1/3 larger (a model trained on random resized crops sees objects larger
// than the whole image shows them), each alone and averaged with its mirror image (the training
// flipped images, so the model has learned both); and at its size, centre crops of 85% and 70%
// of the area with their mirror images, alone and averaged with the whole image's two views (the
// 70% crop also taken from the prepared input instead of the decoded image).
nlohmann::ordered_json test_time_accuracies(const tailor::workspace& ws, const tailor::model_object& m) {
  using B = tailor::backend::cpu;
  const auto samples = tailor::detail::dataset_samples<tailor::pipeline::classification_samples>(ws, "test");
  std::vector<tailor::data::image> images;
  for (const auto& f : samples.files) images.push_back(tailor::pipeline::image_store::decode(f, m.decode_side));
  std::vector<int> truth;
  for (const auto& l : samples.labels) {
    const auto it = std::find(m.classes.begin(), m.classes.end(), samples.class_names[std::size_t(l.at(0))]);
    truth.push_back(int(it - m.classes.begin()));
  }
  tailor::nn::backbone_options o;
  o.width = m.width;
  o.convention = m.convention;
  return tailor::detail::make_for_backbone<true>(m.name, m.backbone, [&](auto tag) {
    tailor::task::classification_network<typename decltype(tag)::type, B> net(int(m.classes.size()), o);
    tailor::nn::load_weights(net, tailor::detail::weights_to_analyze(ws, m));
    nlohmann::ordered_json acc;
    for (const int size : {m.input_size, m.input_size + m.input_size / 6, m.input_size + m.input_size / 3}) {
      tailor::pipeline::augment_options p;
      p.size = size;
      p.mean = m.mean;
      p.std = m.std;
      const std::size_t s = std::size_t(size), plane = 3 * s * s, c = m.classes.size();
      std::vector<double> plain, both;
      for (std::size_t begin = 0; begin < images.size(); begin += 32) {
        const std::size_t n = std::min<std::size_t>(32, images.size() - begin);
        B::tensor x = B::tensor::from_shape({n, 3, s, s});
        for (std::size_t k = 0; k < n; ++k) tailor::pipeline::prepare_eval(images[begin + k], p, x.data() + k * plane);
        // The image and its mirror image once each; the average is the library's mirror_average.
        const auto flipped = tailor::task::mirrored(x);
        const auto a = tailor::task::batch_probabilities(net, std::move(x), false, tailor::pipeline::test_time::plain);
        const auto b = tailor::task::batch_probabilities(net, flipped, false, tailor::pipeline::test_time::plain);
        for (std::size_t i = 0; i < a.size(); ++i) plain.push_back(a[i]), both.push_back(0.5 * (a[i] + b[i]));
      }
      const auto accuracy = [&](const std::vector<double>& p) {
        std::size_t right = 0;
        for (std::size_t i = 0; i < truth.size(); ++i)
          right += std::max_element(p.begin() + i * c, p.begin() + (i + 1) * c) - (p.begin() + i * c) == truth[i];
        return double(right) / double(truth.size());
      };
      acc[std::to_string(size)] = accuracy(plain);
      acc[std::to_string(size) + "+flip"] = accuracy(both);
      if (size != m.input_size) continue;
      // Every image as fill(image, dst) prepares it, asked by the library under test_time t.
      const auto asked = [&](const auto& fill, tailor::pipeline::test_time t) {
        std::vector<double> out;
        for (std::size_t begin = 0; begin < images.size(); begin += 32) {
          const std::size_t n = std::min<std::size_t>(32, images.size() - begin);
          B::tensor x = B::tensor::from_shape({n, 3, s, s});
          for (std::size_t k = 0; k < n; ++k) fill(images[begin + k], x.data() + k * plane);
          const auto q = tailor::task::batch_probabilities(net, std::move(x), false, t);
          out.insert(out.end(), q.begin(), q.end());
        }
        return out;
      };
      const auto with_whole = [&](std::vector<double> zoom) {  // the four views
        for (std::size_t i = 0; i < zoom.size(); ++i) zoom[i] = 0.5 * (zoom[i] + both[i]);
        return zoom;
      };
      const auto whole_image = [&](const tailor::data::image& img, float* dst) { tailor::pipeline::prepare_eval(img, p, dst); };
      // Zoomed views at the input size: the centre crop of `keep` of the area (the training's
      // crops keep 73-100% at augmentation 0.3), with its mirror image, alone and averaged with
      // the whole image's two views.
      for (const double keep : {0.85, 0.7}) {
        const auto centre_crop = [&](const tailor::data::image& img, float* dst) {
          const double side = std::sqrt(keep);
          const int w = std::max(1, int(std::lround(img.width * side))), h = std::max(1, int(std::lround(img.height * side)));
          tailor::pipeline::prepare_eval(tailor::pipeline::crop(img, {(img.width - w) / 2, (img.height - h) / 2, w, h}), p, dst);
        };
        const auto zoom = asked(centre_crop, tailor::pipeline::test_time::mirror_average);
        acc[fmt::format("{}+flip zoom {}", size, keep)] = accuracy(zoom);
        acc[fmt::format("{}+flip and zoom {}", size, keep)] = accuracy(with_whole(zoom));
      }
      // The same four views with the crop taken from the prepared input instead of the decoded
      // image: the library's mirror_and_zoom.
      acc[fmt::format("{}+flip and zoom {} of the input", size, tailor::pipeline::zoom_area)] =
          accuracy(asked(whole_image, tailor::pipeline::test_time::mirror_and_zoom));
    }
    return acc;
  });
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) return std::fprintf(stderr, "usage: recipe_sweep DATA_DIR EPOCHS [key=value...]\n"), 2;
  const std::filesystem::path data = argv[1];
  std::map<std::string, std::string> kv{{"size", "96"}, {"aug", "0.3"}, {"lr", "0.003"}, {"wd", "0.05"},
                                        {"smoothing", "0.1"}, {"backbone", "mobilenet_v3_small"}, {"seed", "0"},
                                        {"holdout", "0.2"}, {"batch", "32"}};
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos || (!kv.contains(a.substr(0, eq)) && a.substr(0, eq) != "threads"))
      return std::fprintf(stderr, "recipe_sweep: unknown argument '%s'\n", argv[i]), 2;
    kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  if (kv.contains("threads")) tailor::backend::cpu::set_num_threads(std::stoi(kv["threads"]));

  tailor::automl::search_space s;
  s.backbones = {kv["backbone"]};
  s.input_sizes = {std::stoi(kv["size"])};
  s.learning_rates = {std::stod(kv["lr"])};
  s.weight_decays = {std::stod(kv["wd"])};
  s.batch_sizes = {std::stoi(kv["batch"])};
  s.augmentations = {std::stod(kv["aug"])};
  s.label_smoothings = {std::stod(kv["smoothing"])};
  s.min_epochs = s.max_epochs = std::stoi(argv[2]);
  s.defaults.input_size = s.input_sizes[0];
  s.defaults.learning_rate = s.learning_rates[0];
  s.defaults.weight_decay = s.weight_decays[0];
  s.defaults.batch_size = s.batch_sizes[0];
  s.defaults.augmentation = s.augmentations[0];
  s.defaults.label_smoothing = s.label_smoothings[0];

  const auto root = std::filesystem::temp_directory_path() /
                    fmt::format("recipe_sweep_{}", std::chrono::steady_clock::now().time_since_epoch().count());
  tailor::workspace ws(root);
  for (const char* split : {"train", "test"}) {
    tailor::dataset_spec d;
    d.name = split;
    d.coco_file = data / fmt::format("{}.json", split);
    d.images = data / "images";
    tailor::create_dataset(ws, d);
  }
  tailor::model_train_spec spec;
  spec.name = "recipe";
  spec.dataset = "train";
  spec.eval_dataset = "test";
  spec.budget_seconds = 1e6;
  spec.space = s;
  spec.retrain_on_all = false;
  spec.validation_fraction = std::stod(kv["holdout"]);
  spec.seed = std::stoull(kv["seed"]);
  const auto m = tailor::train_model<sweep_customizer>(ws, spec);
  nlohmann::ordered_json out{{"recipe", m.configuration}, {"validation_accuracy", m.validation_score},
                             {"test_accuracy", m.evaluations.at(0).metrics.at("accuracy_top1")},
                             {"busy_seconds", m.trials.at(0).seconds},
                             {"test_time", test_time_accuracies(ws, m)}};
  std::printf("%s\n", out.dump().c_str());
  std::filesystem::remove_all(root);
} catch (const std::exception& e) {
  std::fprintf(stderr, "recipe_sweep: %s\n", e.what());
  return 1;
}
