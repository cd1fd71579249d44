// One fixed detector recipe trained on a COCO detection file and scored on another with COCO mAP:
// how docs/quality.md compares detector recipes (backbone, input size, learning rate, epochs)
// before AutoML searches over them.
//
//   build/bin/detector_recipe TRAIN_JSON TEST_JSON IMAGES_DIR EPOCHS [backbone=mobilenet_v3_small] [size=160]
//       [lr=0.003] [wd=0.05] [batch=8] [fpn=64] [head=2] [width=1.0] [scale=0.6,1.4] [threads=N] [seed=0]
//       [predictor=fcos|centernet] [levels=auto|1|2|3]
//
// predictor=centernet trains and decodes the CenterNet-style head (detection/centernet_head.hpp) on
// the same network instead of the FCOS head: how docs/detection.md chose between them.
// Trains on every image of TRAIN_JSON, then prints one line of JSON: the recipe, busy seconds,
// the last epoch's loss, and COCO AP, AP50, AP75 on TEST_JSON (all evaluated the pycocotools way).
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include <tailor/backend/cpu.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/detection/detector_network.hpp>
#include <tailor/detection/head_kind.hpp>
#include <tailor/eval/coco_detection.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/pipeline/detection_samples.hpp>
#include <tailor/task/detection_predict.hpp>
#include <tailor/train/centernet_trainer.hpp>
#include <tailor/train/fit_detector.hpp>

namespace {

using B = tailor::backend::cpu;
namespace det = tailor::detection;

template <class Tag>
int run(std::map<std::string, std::string>& kv, const char* const* argv) {
  const auto train_coco = tailor::data::load_coco_file(argv[1]);
  const auto test_coco = tailor::data::load_coco_file(argv[2]);
  const std::filesystem::path images = argv[3];
  const int epochs = std::stoi(argv[4]), size = std::stoi(kv["size"]);
  const auto train = tailor::pipeline::make_detection_samples(train_coco, images);
  const auto test = tailor::pipeline::make_detection_samples(test_coco, images);

  const bool centernet = kv["predictor"] == "centernet";
  tailor::pipeline::image_store_options so;
  so.max_side = int(size * 1.5);
  tailor::pipeline::image_store train_store(train.files, so), test_store(test.files, so);
  train_store.preload();
  test_store.preload();

  det::detector_options o;
  o.fpn_channels = std::stoi(kv["fpn"]);
  o.head_convs = std::stoi(kv["head"]);
  o.backbone.width = std::stod(kv["width"]);
  // The CenterNet-style head reads the stride-8 level alone; levels=3 keeps the FCOS network's
  // heads on every level (how docs/detection.md compared the two on one network).
  o.head_levels = kv["levels"] != "auto" ? std::stoi(kv["levels"])
                  : det::head_levels_of(centernet ? det::head_kind::centernet : det::head_kind::fcos);
  // From scratch, timm's MobileNetV3 (norm momentum 0.1; torchvision's 0.01 leaves the running
  // statistics far from the data after a short training), as the customizer builds it.
  o.backbone.convention = tailor::nn::weights_convention::timm;
  det::detector_network<Tag, B> net(int(train.class_names.size()), o, std::stoull(kv["seed"]));

  tailor::train::detector_fit_options f;
  f.epochs = epochs;
  f.train.optimizer = tailor::train::optimizer_kind::adamw;
  f.train.lr = std::stod(kv["lr"]);
  f.train.weight_decay = std::stod(kv["wd"]);
  f.train.clip_norm = 10;
  f.warmup_epochs = std::min(1.0, 0.1 * epochs);
  f.loader.batch_size = std::stoi(kv["batch"]);
  f.loader.drop_last = true;
  f.loader.seed = std::stoull(kv["seed"]);
  f.loader.augment.size = size;
  const auto comma = kv["scale"].find(',');
  f.loader.augment.scale_min = std::stod(kv["scale"].substr(0, comma));
  f.loader.augment.scale_max = std::stod(kv["scale"].substr(comma + 1));
  f.on_epoch = [](const tailor::train::epoch_report& r) {
    std::fprintf(stderr, "epoch %d loss %.4f lr %.2e %.1f s %.1f img/s\n", r.epoch, r.loss, r.learning_rate, r.seconds, r.images_per_second);
  };
  const auto start = std::chrono::steady_clock::now();
  const auto fitted = centernet ? tailor::train::fit_detector<decltype(net), tailor::train::centernet_trainer>(
                                      net, train_store, train.boxes, train.sizes, f)
                                : tailor::train::fit_detector(net, train_store, train.boxes, train.sizes, f);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  det::decode_options d;
  d.nms.score_threshold = d.score_threshold = 0.05f;
  // COCO AP of the trained network on a set of images (the training set too: underfitting or
  // overfitting shows in the difference).
  auto score = [&](const tailor::data::coco_dataset& coco, const tailor::pipeline::detection_samples& s,
                   const tailor::pipeline::image_store& store) {
    const auto found = centernet ? *tailor::task::predict_detections(net, store, s.sizes, {}, f.loader.augment,
                                                                     det::centernet_decode_options{})
                                 : *tailor::task::predict_detections(net, store, s.sizes, {}, f.loader.augment, d);
    std::vector<tailor::eval::detection> results;
    for (std::size_t i = 0; i < found.size(); ++i)
      for (const auto& b : found[i]) {
        const auto c = det::to_coco(b.box);
        results.push_back({s.image_ids[i], s.class_ids[std::size_t(b.class_id)], c.x, c.y, c.w, c.h, double(b.score)});
      }
    return tailor::eval::evaluate_bbox(coco, results);
  };
  const auto on_test = score(test_coco, test, test_store), on_train = score(train_coco, train, train_store);
  nlohmann::ordered_json out{{"backbone", Tag::name}, {"epochs", epochs},
                             {"recipe", kv},
                             {"busy_seconds", seconds},
                             {"last_loss", fitted.epochs.empty() ? 0.0 : fitted.epochs.back().loss},
                             {"mAP", on_test.stats[0]}, {"AP50", on_test.stats[1]}, {"AP75", on_test.stats[2]},
                             {"train_mAP", on_train.stats[0]}, {"train_AP50", on_train.stats[1]}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 5) return std::fprintf(stderr, "usage: detector_recipe TRAIN_JSON TEST_JSON IMAGES_DIR EPOCHS [key=value...]\n"), 2;
  std::map<std::string, std::string> kv{{"backbone", "mobilenet_v3_small"}, {"size", "160"}, {"lr", "0.003"}, {"wd", "0.05"},
                                        {"batch", "8"}, {"fpn", "64"}, {"head", "2"}, {"width", "1.0"},
                                        {"scale", "0.6,1.4"}, {"seed", "0"}, {"predictor", "fcos"}, {"levels", "auto"}};
  for (int i = 5; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos || (!kv.contains(a.substr(0, eq)) && a.substr(0, eq) != "threads"))
      return std::fprintf(stderr, "detector_recipe: unknown argument '%s'\n", argv[i]), 2;
    kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  if (kv["predictor"] != "fcos" && kv["predictor"] != "centernet")
    return std::fprintf(stderr, "detector_recipe: predictor must be fcos or centernet\n"), 2;
  if (kv.contains("threads")) B::set_num_threads(std::stoi(kv["threads"]));
  if (kv["backbone"] == "resnet18") return run<tailor::nn::resnet<18>>(kv, argv);
  if (kv["backbone"] == "mobilenet_v3_small") return run<tailor::nn::mobilenet_v3_small>(kv, argv);
  if (kv["backbone"] == "mobilenet_v3_large") return run<tailor::nn::mobilenet_v3_large>(kv, argv);
  return std::fprintf(stderr, "detector_recipe: backbone must be resnet18, mobilenet_v3_small or mobilenet_v3_large\n"), 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "detector_recipe: %s\n", e.what());
  return 1;
}
