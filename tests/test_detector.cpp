// The detector network (backbone maps -> FPN -> per-level FCOS heads), its loss and its training:
// shapes and names, back-propagation through the whole network and through the loss checked
// against finite differences, and a tiny detector that learns to find the objects of a generated
// scene.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <set>

#include <tailor/backend/cpu.hpp>
#include <tailor/detection/detector_network.hpp>
#include <tailor/detection/detector_predict.hpp>
#include <tailor/detection/fcos_loss.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/nn/layers/upsample.hpp>
#include <tailor/pipeline/detection_augment.hpp>
#include <tailor/train/centernet_trainer.hpp>
#include <tailor/train/detection_trainer.hpp>

namespace {

namespace nn = tailor::nn;
namespace det = tailor::detection;
using BD = tailor::backend::cpu_t<double>;
using BF = tailor::backend::cpu;

template <class T>
T random_tensor(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::uint64_t seed, double scale = 1) {
  T t = T::from_shape({n, c, h, w});
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> d(-scale, scale);
  for (auto& v : t) v = typename T::value_type(d(r));
  return t;
}

template <class T>
double dot(const T& a, const T& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a.data()[i]) * double(b.data()[i]);
  return s;
}

det::detector_options tiny_options(int fpn = 8) {
  det::detector_options o;
  o.fpn_channels = fpn;
  o.head_convs = 2;
  o.backbone.width = 0.125;
  return o;
}

}  // namespace

TEST_CASE("upsample_nearest: forward repeats each pixel, backward is its adjoint", "[detection][upsample]") {
  nn::upsample_nearest<BD> up(2);
  const auto x = random_tensor<BD::tensor>(2, 3, 3, 5, 1);
  const auto y = up.forward(x, true);
  REQUIRE(y.shape()[2] == 6);
  REQUIRE(y.shape()[3] == 10);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 10; ++j) REQUIRE(y(1, 2, i, j) == x(1, 2, i / 2, j / 2));
  // <up(x), r> == <x, up^T(r)> for any r: the backward is the transpose of the forward.
  const auto r = random_tensor<BD::tensor>(2, 3, 6, 10, 2);
  const auto dx = up.backward(r);
  REQUIRE(dot(y, r) == Approx(dot(x, dx)).epsilon(1e-12));
  REQUIRE_THROWS_WITH(up.backward(random_tensor<BD::tensor>(1, 1, 5, 4, 3)), Catch::Contains("not a multiple of the factor 2"));
}

TEST_CASE("detector: outputs per level, parameter names and the focal prior", "[detection][detector]") {
  det::detector_network<nn::resnet<18>, BF> net(3, tiny_options(16), 7);
  const auto out = net.forward(random_tensor<BF::tensor>(2, 3, 64, 96, 1), false);
  for (int l = 0; l < 3; ++l) {
    const std::size_t stride = std::size_t(det::pyramid_strides[l]);
    REQUIRE(out.class_logits[l].shape() == BF::tensor::shape_type{2, 3, 64 / stride, 96 / stride});
    REQUIRE(out.box_logits[l].shape() == BF::tensor::shape_type{2, 4, 64 / stride, 96 / stride});
    REQUIRE(out.centerness[l].shape() == BF::tensor::shape_type{2, 1, 64 / stride, 96 / stride});
  }
  std::set<std::string> names;
  net.visit_parameters("", [&](const std::string& n, nn::parameter<BF>& p) {
    names.insert(n);
    if (n == "head.1.classes.bias") REQUIRE(p.value(0) == Approx(-std::log(99.0)).epsilon(1e-6));
  });
  for (const char* n : {"conv1.weight", "layer4.1.bn2.bias", "fpn.lateral.0.weight", "fpn.output.2.bias", "head.0.class_tower.0.0.weight",
                        "head.0.box_tower.1.1.weight", "head.2.classes.weight", "head.1.box.bias", "head.0.centerness.weight"})
    REQUIRE(names.count(n) == 1);
  REQUIRE(names.count("fc.weight") == 0);  // no classification head
}

TEST_CASE("detector: inputs and backbones it cannot take are clear errors", "[detection][detector]") {
  det::detector_network<nn::mobilenet_v3_small, BF> net(2, tiny_options(), 1);
  REQUIRE_THROWS_WITH(net.forward(random_tensor<BF::tensor>(1, 3, 48, 64, 1), false), Catch::Contains("multiples of 32"));
  REQUIRE_THROWS_WITH((det::detector_network<nn::small_cnn, BF>(2, tiny_options(), 1)), Catch::Contains("needs 8, 16 and 32"));
  REQUIRE_THROWS_WITH((det::detector_network<nn::resnet<18>, BF>(0, tiny_options(), 1)), Catch::Contains("at least one"));
}

TEST_CASE("detector: back-propagation through heads, pyramid and backbone equals finite differences", "[detection][detector]") {
  // 3 levels with heads (FCOS), or the finest alone (the CenterNet-style head): the coarser
  // levels then reach the loss through the top-down path only.
  const int levels = GENERATE(3, 1);
  auto options = tiny_options();
  options.head_levels = levels;
  det::detector_network<nn::resnet<18>, BD> net(2, options, 3);
  const auto x = random_tensor<BD::tensor>(2, 3, 64, 64, 4);
  auto forward = [&] { return net.forward(x, true); };
  const auto y = forward();
  det::detector_outputs<BD> r;
  for (int l = 0; l < 3; ++l) {
    auto like = [&](const BD::tensor& t, std::uint64_t seed) {
      return random_tensor<BD::tensor>(t.shape()[0], t.shape()[1], t.shape()[2], t.shape()[3], seed);
    };
    r.class_logits[l] = like(y.class_logits[l], 10 + l);
    r.box_logits[l] = like(y.box_logits[l], 20 + l);
    r.centerness[l] = like(y.centerness[l], 30 + l);
  }
  auto objective = [&](const det::detector_outputs<BD>& o) {
    double s = 0;
    for (int l = 0; l < 3; ++l)
      s += dot(o.class_logits[l], r.class_logits[l]) + dot(o.box_logits[l], r.box_logits[l]) + dot(o.centerness[l], r.centerness[l]);
    return s;
  };
  net.visit_parameters("", [](const std::string&, nn::parameter<BD>& p) { p.zero_grad(); });
  net.backward(r);
  std::vector<std::pair<std::string, nn::parameter<BD>*>> params;
  net.visit_parameters("", [&](const std::string& name, nn::parameter<BD>& p) { params.emplace_back(name, &p); });
  // Every part of the network: the first backbone conv, a deep backbone layer, each pyramid level,
  // each head branch, and random others.
  std::vector<std::string> wanted{"conv1.weight", "layer4.0.conv1.weight", "fpn.lateral.0.weight", "fpn.lateral.2.weight",
                                  "fpn.output.1.weight", "head.0.class_tower.0.0.weight", "head.1.box_tower.0.0.weight",
                                  "head.2.classes.weight", "head.1.box.weight", "head.0.centerness.bias"};
  if (levels == 1) {
    for (const char* absent : {"fpn.output.1.weight", "head.1.box_tower.0.0.weight", "head.2.classes.weight", "head.1.box.weight"})
      REQUIRE(std::none_of(params.begin(), params.end(), [&](auto& e) { return e.first == absent; }));
    REQUIRE(y.class_logits[1].size() == 0);
    wanted = {"conv1.weight", "layer4.0.conv1.weight", "fpn.lateral.0.weight", "fpn.lateral.1.weight", "fpn.lateral.2.weight",
              "fpn.output.0.weight", "head.0.class_tower.0.0.weight", "head.0.box_tower.1.0.weight", "head.0.box.weight"};
  }
  std::mt19937_64 pick(5);
  for (int k = 0; k < 12; ++k) wanted.push_back(params[pick() % params.size()].first);
  const double eps = 1e-5;
  for (const auto& name : wanted) {
    auto it = std::find_if(params.begin(), params.end(), [&](auto& e) { return e.first == name; });
    REQUIRE(it != params.end());
    nn::parameter<BD>& p = *it->second;
    const std::size_t i = pick() % p.value.size();
    const double keep = p.value.data()[i];
    p.value.data()[i] = keep + eps;
    const double up = objective(forward());
    p.value.data()[i] = keep - eps;
    const double down = objective(forward());
    p.value.data()[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    INFO(name << "[" << i << "]: analytic " << p.grad.data()[i] << ", numeric " << numeric);
    REQUIRE(std::abs(p.grad.data()[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)));
  }
}

TEST_CASE("fcos loss: its gradient with respect to every output equals finite differences", "[detection][loss]") {
  const int size = 64, classes = 3;
  const auto levels = det::pyramid_levels(size, det::pyramid_strides);
  std::vector<std::vector<det::gt_box>> boxes(2);
  boxes[0] = {det::gt_box{{4, 6, 30, 40}, 1}, det::gt_box{{20, 10, 60, 62}, 2}};
  boxes[1] = {det::gt_box{{33, 30, 41, 37}, 0}};
  std::vector<std::vector<det::point_target>> targets;
  for (const auto& b : boxes) targets.push_back(det::assign_targets(b, levels));
  det::detector_outputs<BF> out;
  for (int l = 0; l < 3; ++l) {
    const std::size_t h = std::size_t(levels[l].height), w = std::size_t(levels[l].width);
    out.class_logits[l] = random_tensor<BF::tensor>(2, classes, h, w, 40 + l, 2.0);
    out.box_logits[l] = random_tensor<BF::tensor>(2, 4, h, w, 50 + l, 1.0);
    out.centerness[l] = random_tensor<BF::tensor>(2, 1, h, w, 60 + l, 2.0);
  }
  const det::fcos_loss_options o;
  det::detector_outputs<BF> grad, scratch;
  const auto value = det::fcos_loss<BF>(out, targets, levels, o, grad);
  REQUIRE(value.positives > 3);
  REQUIRE(value.total == Approx(value.classification + value.box + value.centerness));
  REQUIRE(value.box > 0);
  auto loss = [&] { return det::fcos_loss<BF>(out, targets, levels, o, scratch).total; };
  std::mt19937_64 pick(9);
  int checked = 0;
  auto check = [&](BF::tensor& t, const BF::tensor& g, const char* what, bool positives_only) {
    for (int k = 0; k < 40; ++k) {
      const std::size_t i = pick() % t.size();
      if (positives_only && g.data()[i] == 0) continue;  // box and centerness gradients live on positives only
      const float keep = t.data()[i];
      const float eps = 1e-2f;
      t.data()[i] = keep + eps;
      const double up = loss();
      t.data()[i] = keep - eps;
      const double down = loss();
      t.data()[i] = keep;
      const double numeric = (up - down) / (2.0 * eps);
      INFO(what << "[" << i << "]: analytic " << g.data()[i] << ", numeric " << numeric);
      REQUIRE(std::abs(g.data()[i] - numeric) <= 2e-3 + 3e-2 * std::abs(numeric));
      ++checked;
    }
  };
  for (int l = 0; l < 3; ++l) {
    check(out.class_logits[l], grad.class_logits[l], "class", false);
    check(out.box_logits[l], grad.box_logits[l], "box", true);
    check(out.centerness[l], grad.centerness[l], "centerness", true);
  }
  REQUIRE(checked > 100);
}

namespace {

// A grey 64x64 scene with a red square (class 0) and a blue bar (class 1) at places set by `seed`.
struct scene {
  tailor::data::image image{64, 64};
  std::vector<det::gt_box> boxes;
};

scene make_scene(std::uint64_t seed) {
  scene s;
  std::fill(s.image.pixels.begin(), s.image.pixels.end(), std::uint8_t(128));
  std::mt19937_64 r(seed);
  auto draw = [&](int x, int y, int w, int h, std::array<std::uint8_t, 3> c, int cls) {
    for (int j = y; j < y + h; ++j)
      for (int i = x; i < x + w; ++i)
        for (int k = 0; k < 3; ++k) s.image.pixels[(std::size_t(j) * 64 + std::size_t(i)) * 3 + std::size_t(k)] = c[std::size_t(k)];
    s.boxes.push_back(det::gt_box{{float(x), float(y), float(x + w), float(y + h)}, cls});
  };
  const int a = int(r() % 20), b = int(r() % 20);
  draw(2 + a, 4 + b, 18, 18, {220, 30, 30}, 0);              // upper left quadrant-ish
  draw(36 + int(r() % 8), 30 + int(r() % 10), 12, 26, {30, 40, 220}, 1);  // right side
  return s;
}

}  // namespace

namespace {

// 150 steps on 4 generated scenes (64 x 64, two classes), then each object's best detection of its
// class must lie on it: the whole path of one head (targets, loss, backward, decoding) works.
template <template <class> class Trainer, class Decoding>
void check_learns_scenes(const det::detector_options& options, Decoding decoding) {
  BF::set_num_threads(1);
  det::detector_network<nn::resnet<18>, BF> net(2, options, 11);
  tailor::train::detection_train_options o;
  o.optimizer = tailor::train::optimizer_kind::adamw;
  o.lr = 1e-2;
  o.weight_decay = 1e-4;
  o.warmup_steps = 10;
  o.total_steps = 150;
  o.clip_norm = 10;
  Trainer<decltype(net)> trainer(net, o);
  tailor::pipeline::detection_augment_options augment;
  augment.size = 64;
  std::vector<scene> scenes;
  for (std::uint64_t s = 0; s < 4; ++s) scenes.push_back(make_scene(s));
  BF::tensor x = BF::tensor::from_shape({4, 3, 64, 64});
  std::vector<std::vector<det::gt_box>> boxes;
  for (std::size_t k = 0; k < scenes.size(); ++k) {
    tailor::pipeline::prepare_detection_eval(scenes[k].image, augment, x.data() + k * 3 * 64 * 64);
    boxes.push_back(scenes[k].boxes);  // 64x64 into 64x64: the placement is the identity
  }
  double first = 0, last = 0;
  for (int step = 0; step < o.total_steps; ++step) {
    const auto v = trainer.step(x, boxes);
    if (step == 0) first = v.total;
    last = v.total;
  }
  INFO("loss " << first << " -> " << last);
  REQUIRE(last < 0.25 * first);
  const auto found = det::predict_boxes(net, x, decoding);
  for (std::size_t k = 0; k < scenes.size(); ++k) {
    REQUIRE(!found[k].empty());
    for (const auto& gt : scenes[k].boxes) {
      // The best-scoring detection of the object's class lies on it.
      const det::scored_box* best = nullptr;
      for (const auto& f : found[k])
        if (f.class_id == gt.class_id && (!best || f.score > best->score)) best = &f;
      REQUIRE(best != nullptr);
      INFO("scene " << k << " class " << gt.class_id << " score " << best->score);
      CHECK(det::iou(best->box, gt.box) > 0.6f);
    }
  }
}

}  // namespace

TEST_CASE("detector: a tiny detector learns to find the objects of generated scenes", "[detection][detector][overfit][heavy]") {
  det::decode_options d;
  d.score_threshold = 0.2f;
  check_learns_scenes<tailor::train::detection_trainer>(tiny_options(16), d);
}

TEST_CASE("detector: the CenterNet-style head learns to find the objects of generated scenes",
          "[detection][detector][centernet][overfit][heavy]") {
  auto options = tiny_options(16);
  options.head_levels = 1;
  det::centernet_decode_options d;
  d.score_threshold = 0.2f;
  check_learns_scenes<tailor::train::centernet_trainer>(options, d);
}
