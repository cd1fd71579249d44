#pragma once
// The detection task's part of an AutoML run (automl/task_part.hpp): boxes with tags, the detector
// of detection/detector_network.hpp with the CenterNet-style head (detection/centernet_head.hpp;
// docs/detection.md says why not FCOS), scored by COCO mAP@[.50:.95] on the validation
// images (the validation report adds vision-evaluation's mAP@0.30/0.50/0.75 and per-tag AP50). The
// trivial baseline is a detector that finds nothing: mAP 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../data/coco.hpp"
#include "../detection/detector_network.hpp"
#include "../eval/coco_detection.hpp"
#include "../eval/detection_report.hpp"
#include "../pipeline/detection_samples.hpp"
#include "../pipeline/image_store.hpp"
#include "../task/detection_predict.hpp"
#include "../detection/head_kind.hpp"
#include "../train/centernet_trainer.hpp"
#include "../train/fit_detector.hpp"
#include "customize_result.hpp"
#include "task_part.hpp"
#include "validation_split.hpp"

namespace tailor::automl {

// The detector's neck and head: measured on the generated shapes (docs/quality.md, "Detection"):
// two conv-BN-ReLU layers per tower at 64 channels beat one shared layer by 0.4 AP50, and wider
// pyramids cost steps without gaining AP.
inline constexpr int detector_fpn_channels = 64, detector_head_convs = 2;
// The head the customizer trains: measured against FCOS on the same network and steps
// (docs/detection.md, "FCOS or CenterNet"): +0.10 AP50 on the generated shapes, +0.23 on raccoon.
inline constexpr detection::head_kind detector_head = detection::head_kind::centernet;
static_assert(detector_head == detection::head_kind::centernet,
              "tailor: detection_part's probe, training and validation use the CenterNet-style trainer and decoding");

// The box-aware augmentation a strength in [0, 1] stands for: the letterboxed content zoomed by a
// factor in [1 / (1 + s), 1 + s] (0.25: 0.8..1.25, the best fixed recipe's), flips, and colour
// jitter that grows with s (0: none of it).
inline pipeline::detection_augment_options detection_augmentation_for(double strength, int size) {
  pipeline::detection_augment_options a;
  a.size = size;
  a.scale_min = 1.0 / (1.0 + strength);
  a.scale_max = 1.0 + strength;
  a.horizontal_flip = strength > 0;
  a.brightness = a.contrast = a.saturation = std::min(0.4, 1.2 * strength);
  return a;
}

// The space a user who sets nothing gets for detection: input sizes (multiples of 32) up to the
// images' size, AdamW at two learning rates, two zoom strengths, batches of 8, and epochs that
// give rung 0 at least 150 steps, the top rung 9 times as many (a detector from scratch needs
// many steps: on the generated shapes 60 epochs of 15 steps gave AP50 0.72 and 120 gave 0.98).
inline search_space default_detection_space(const std::vector<std::string>& backbone_names, int typical_side, bool pretrained,
                                            std::size_t train_images) {
  search_space s;
  s.backbones = backbone_names;
  s.input_sizes.clear();
  // typical_side is the images' shorter side; the letterbox fits the longer one (about 1.33x for
  // 4:3 photos), and objects need pixels, so sizes up to 1.5x the shorter side are worth trying.
  for (int size : {128, 160, 224, 320})
    if (size <= std::max(160, int(typical_side * 1.5))) s.input_sizes.push_back(size);
  while (s.input_sizes.size() > 3) s.input_sizes.erase(s.input_sizes.begin());
  s.learning_rates = {1e-3, 3e-3};
  s.weight_decays = {0.05};
  s.batch_sizes = {8};
  s.augmentations = {0.25, 0.5};
  s.label_smoothings = {0.0};
  s.modes = pretrained ? std::vector<train::finetune_mode>{train::finetune_mode::full, train::finetune_mode::partial}
                       : std::vector<train::finetune_mode>{train::finetune_mode::full};
  s.optimizers = {train::optimizer_kind::adamw};
  const int steps_per_epoch = int(std::max<std::size_t>(1, (train_images + 7) / 8));
  s.min_epochs = std::max(2, (150 + steps_per_epoch - 1) / steps_per_epoch);
  s.max_epochs = 9 * s.min_epochs;
  trial_config d;
  const auto mobile = std::find(backbone_names.begin(), backbone_names.end(), "mobilenet_v3_small");
  d.backbone = mobile != backbone_names.end() ? std::size_t(mobile - backbone_names.begin()) : 0;
  d.input_size = std::find(s.input_sizes.begin(), s.input_sizes.end(), 160) != s.input_sizes.end() ? 160 : s.input_sizes.front();
  d.learning_rate = 3e-3;
  d.weight_decay = 0.05;
  d.batch_size = 8;
  d.augmentation = 0.25;
  d.mode = train::finetune_mode::full;
  d.label_smoothing = 0.0;
  d.optimizer = train::optimizer_kind::adamw;
  s.defaults = d;
  return s;
}

template <class B>
class detection_part {
 public:
  using samples_type = pipeline::detection_samples;
  using predictions = std::vector<std::vector<detection::scored_box>>;  // per validation image, in its pixels
  // Augmentation, target assignment and letterboxing share the cores with the network.
  static constexpr double loader_share = 1.2;
  // Images per validation batch: a detector's outputs at every level are large.
  static constexpr std::size_t validation_batch = 16;

  explicit detection_part(const samples_type& samples) : s_(samples) {
    for (const auto& boxes : s_.boxes) {
      std::set<std::int32_t> present;
      for (const auto& b : boxes) present.insert(b.class_id);
      strata_.emplace_back(present.begin(), present.end());
    }
  }

  const std::vector<std::filesystem::path>& files() const { return s_.files; }
  const std::vector<std::string>& class_names() const { return s_.class_names; }
  // Images are stratified by their rarest tag; images without boxes form a stratum of their own.
  const std::vector<std::vector<std::int32_t>>& strata() const { return strata_; }
  std::string score_name() const { return "mAP"; }
  static constexpr std::string_view baseline_name = "a detector that finds nothing";
  // Room for the training zoom (up to 1.5x) without upscaling.
  static int decode_side(int max_size) { return max_size * 3 / 2; }

  void check() const {
    if (s_.files.empty()) throw error(failure_code::dataset_corrupt, "the dataset has no images: add images and their boxes");
    std::size_t boxes = 0;
    for (const auto& b : s_.boxes) boxes += b.size();
    if (boxes == 0)
      throw error(failure_code::dataset_corrupt,
                  "the dataset has no boxes to learn from (crowd regions and empty boxes do not count): add annotations "
                  "with a bbox of positive width and height");
  }

  search_space default_space(const std::vector<std::string>& backbones, int typical_side, bool pretrained,
                             std::size_t train_images) const {
    return default_detection_space(backbones, typical_side, pretrained, train_images);
  }

  double baseline(const std::vector<validation_split>&) const { return 0.0; }

  template <class Tag>
  step_cost probe(const trial_config& defaults, const nn::backbone_options& bo, std::uint64_t seed) const {
    detection::detector_network<Tag, B> net(int(s_.class_names.size()), network_options(bo), seed);
    train::detection_train_options t;
    t.optimizer = train::optimizer_kind::adamw;
    t.lr = 1e-4;
    t.total_steps = 4;
    train::centernet_trainer trainer(net, t);
    const std::size_t n = std::size_t(std::clamp(defaults.batch_size, 2, 32));
    auto x = random_batch<B>(n, defaults.input_size);
    const float a = float(defaults.input_size) * 0.25f, b = float(defaults.input_size) * 0.75f;
    const std::vector<std::vector<detection::gt_box>> boxes(n, {detection::gt_box{{a, a, b, b}, 0}});
    return time_probe<B>(defaults.input_size, n, [&] { (void)trainer.step(x, boxes); }, [&] { (void)net.forward(x, false); });
  }

  template <class Tag>
  fold_outcome<predictions> train(const trial_config& c, int epochs, const nn::backbone_options& bo,
                                  const pipeline::image_store& store, const validation_split& split, bool all_images,
                                  const fold_hooks& h) const {
    detection::detector_network<Tag, B> net(int(s_.class_names.size()), network_options(bo), h.seed);
    if (h.pretrained) load_pretrained_backbone<Tag>(net, *h.pretrained, bo, {std::string(Tag::head_name), "fpn", "head"});
    train::detector_fit_options f;
    apply_recipe(f, c, epochs, split, all_images, h);
    f.frozen_stages = c.mode == train::finetune_mode::partial ? std::max(1, net.backbone().stage_count() / 2) : 0;
    f.train.clip_norm = 10.0;
    f.loader.augment = detection_augmentation_for(c.augmentation, c.input_size);
    const auto fitted = train::fit_detector<decltype(net), train::centernet_trainer>(net, store, s_.boxes, s_.sizes, f);
    return finish_fold<predictions>(fitted, net, all_images, h, [&] {
      return task::predict_detections(net, store, s_.sizes, split.validation, f.loader.augment, centernet_decoding(),
                                      int(h.validation_batch), h.keep_going);
    });
  }

  // How predictions are decoded for scoring (and by the saved model), for either head: COCO's
  // evaluation keeps the 100 best per image, and a low threshold lets recall reach what the network
  // can give. The CenterNet-style head keeps its 100 best peaks down to 0.001, as CenterNet
  // evaluates (its heatmap starts at 0.01, so a short training can leave every peak under FCOS's
  // 0.05; detections ranked below the others cannot lower COCO AP). analyze's callers filter by
  // confidence (tailor analyze: 0.25).
  static detection::centernet_decode_options centernet_decoding() {
    detection::centernet_decode_options d;
    d.score_threshold = 0.001f;
    d.max_detections = 100;
    return d;
  }
  static detection::decode_options fcos_decoding() {
    detection::decode_options d;
    d.score_threshold = d.nms.score_threshold = 0.05f;
    d.nms.max_detections = 100;
    return d;
  }
  // f(the decoding options of head h): the two option types pick the two decoders.
  template <class F>
  static auto with_decoding(detection::head_kind h, F&& f) {
    return h == detection::head_kind::centernet ? f(centernet_decoding()) : f(fcos_decoding());
  }

  double score(const predictions& p, const std::vector<std::uint32_t>& images) const {
    const auto gt = ground_truth(images);
    return eval::evaluate_bbox(gt, results(p, images)).stats[0];
  }
  nlohmann::ordered_json report(const predictions& p, const std::vector<std::uint32_t>& images) const {
    const auto gt = ground_truth(images);
    eval::detection_report_options o;
    o.ious = {0.3, 0.5, 0.75};
    return eval::to_json(eval::make_detection_report(gt, results(p, images), o));
  }

  void describe(customize_result& r, const trial_config& best) const {
    r.task = "detection";
    r.classes = s_.class_names;
    r.multilabel = false;
    r.detection_preprocessing = detection_augmentation_for(0, best.input_size);
    r.fpn_channels = detector_fpn_channels;
    r.head_convs = detector_head_convs;
    r.detector_head = std::string(detection::to_string(detector_head));
  }

  static detection::detector_options network_options(const nn::backbone_options& bo) {
    detection::detector_options o;
    o.fpn_channels = detector_fpn_channels;
    o.head_convs = detector_head_convs;
    o.head_levels = detection::head_levels_of(detector_head);
    o.backbone = bo;
    return o;
  }

 private:
  std::vector<eval::detection> results(const predictions& p, const std::vector<std::uint32_t>& images) const {
    std::vector<eval::detection> out;
    for (std::size_t k = 0; k < images.size(); ++k)
      for (const auto& b : p[k]) {
        const auto c = detection::to_coco(b.box);
        out.push_back({s_.image_ids[images[k]], s_.class_ids[std::size_t(b.class_id)], c.x, c.y, c.w, c.h, double(b.score)});
      }
    return out;
  }

  // The validation images' ground truth as a COCO dataset (crowd regions included, so that the
  // evaluation ignores detections on them), read back through the COCO reader so that every
  // index the evaluation uses is built the one way.
  data::coco_dataset ground_truth(const std::vector<std::uint32_t>& images) const {
    nlohmann::json doc{{"images", nlohmann::json::array()}, {"annotations", nlohmann::json::array()},
                       {"categories", nlohmann::json::array()}};
    for (std::size_t c = 0; c < s_.class_names.size(); ++c)
      doc["categories"].push_back({{"id", s_.class_ids[c]}, {"name", s_.class_names[c]}});
    std::int64_t next_id = 1;
    for (auto i : images) {
      doc["images"].push_back({{"id", s_.image_ids[i]}, {"file_name", fmt::format("{}", s_.image_ids[i])},
                               {"width", s_.sizes[i][0]}, {"height", s_.sizes[i][1]}});
      auto add = [&](const detection::gt_box& g, bool crowd) {
        const auto b = detection::to_coco(g.box);
        doc["annotations"].push_back({{"id", next_id++}, {"image_id", s_.image_ids[i]},
                                      {"category_id", s_.class_ids[std::size_t(g.class_id)]},
                                      {"bbox", {b.x, b.y, b.w, b.h}}, {"area", b.w * b.h}, {"iscrowd", crowd ? 1 : 0}});
      };
      for (const auto& g : s_.boxes[i]) add(g, false);
      if (i < s_.crowd.size())
        for (const auto& g : s_.crowd[i]) add(g, true);
    }
    data::coco_options o;
    o.kind = data::dataset_kind::detection;
    o.units = data::box_units::pixels;
    auto report = data::read_coco(doc.dump(), "the validation split", o);
    data::throw_if_errors(report, "the validation split");
    return std::move(report.dataset);
  }

  const samples_type& s_;
  std::vector<std::vector<std::int32_t>> strata_;
};

}  // namespace tailor::automl
