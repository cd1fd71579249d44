// The data pipeline: augmentation geometry and normalisation, the decoded-image store, batches
// that do not depend on the number of workers, and fitting a network on generated images in the
// three fine-tuning modes.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include <random>

#include <tailor/backend/cpu.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/data/image_encode.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/pipeline/batch_loader.hpp>
#include <tailor/pipeline/classification_samples.hpp>
#include <tailor/task/classification_network.hpp>
#include <tailor/train/fit.hpp>

#include "../examples/example_data.hpp"
#include "test_support.hpp"

namespace {
using B = tailor::backend::cpu;
namespace pl = tailor::pipeline;
namespace nn = tailor::nn;

tailor::data::image solid(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  tailor::data::image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(std::size_t(w) * h * 3);
  for (std::size_t i = 0; i < img.pixels.size(); i += 3) img.pixels[i] = r, img.pixels[i + 1] = g, img.pixels[i + 2] = b;
  return img;
}
}  // namespace

TEST_CASE("random resized crop stays inside the image and follows its seed", "[pipeline][augment]") {
  pl::augment_options o;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 r(seed), again(seed);
    const auto b = pl::random_resized_crop_box(120, 80, o, r);
    REQUIRE(b.x >= 0);
    REQUIRE(b.y >= 0);
    REQUIRE(b.w >= 1);
    REQUIRE(b.h >= 1);
    REQUIRE(b.x + b.w <= 120);
    REQUIRE(b.y + b.h <= 80);
    const double area = double(b.w) * b.h / (120.0 * 80.0);
    REQUIRE(area <= 1.0);
    const auto c = pl::random_resized_crop_box(120, 80, o, again);
    REQUIRE((c.x == b.x && c.y == b.y && c.w == b.w && c.h == b.h));
  }
}

TEST_CASE("normalisation, flip and colour factors on known pixels", "[pipeline][augment]") {
  pl::augment_options o;
  o.size = 4;
  auto img = solid(4, 4, 255, 0, 128);
  for (int y = 0; y < 4; ++y) img.pixels[(std::size_t(y) * 4 + 0) * 3 + 1] = 200;  // left column: green 200
  std::vector<float> out(3 * 16);
  pl::prepare_eval(img, o, out.data());
  REQUIRE(out[0] == Approx((1.0 - 0.485) / 0.229).epsilon(1e-6));             // R of pixel (0,0)
  REQUIRE(out[16 + 0] == Approx((200 / 255.0 - 0.456) / 0.224).epsilon(1e-6)); // G of pixel (0,0)
  REQUIRE(out[16 + 3] == Approx((0.0 - 0.456) / 0.224).epsilon(1e-6));        // G of pixel (3,0)
  REQUIRE(out[32 + 5] == Approx((128 / 255.0 - 0.406) / 0.225).epsilon(1e-6));
  pl::to_normalised_chw(img, true, 1, 1, 1, o, out.data());
  REQUIRE(out[16 + 3] == Approx((200 / 255.0 - 0.456) / 0.224).epsilon(1e-6));  // the green column moved right
  REQUIRE(out[16 + 0] == Approx((0.0 - 0.456) / 0.224).epsilon(1e-6));
  pl::to_normalised_chw(img, false, 0.5, 1, 0, o, out.data());  // half brightness, no saturation: grey
  const double grey = (0.299 * 255 + 0.587 * 0 + 0.114 * 128) / 255.0 * 0.5;
  REQUIRE(out[5] == Approx((grey - 0.485) / 0.229).epsilon(1e-5));
  REQUIRE(out[32 + 5] == Approx((grey - 0.406) / 0.225).epsilon(1e-5));
}

TEST_CASE("batches depend on the seed and epoch, not on the number of workers", "[pipeline][loader]") {
  tailor::testing::temp_dir dir("pipeline");
  std::vector<std::filesystem::path> files;
  std::vector<std::vector<std::int32_t>> labels;
  std::mt19937_64 r(5);
  for (int i = 0; i < 21; ++i) {
    auto img = solid(40 + i, 30, std::uint8_t(r()), std::uint8_t(r()), std::uint8_t(r()));
    for (auto& p : img.pixels) p = std::uint8_t(p ^ (r() & 31));
    files.push_back(dir.path / fmt::format("{}.png", i));
    tailor::data::write_image(files.back(), img);
    labels.push_back({i % 3});
  }
  pl::image_store store(files, {64, std::size_t{1} << 24, 2});
  REQUIRE(store.preload());
  auto run = [&](int workers, std::int64_t epoch) {
    pl::loader_options o;
    o.batch_size = 4;
    o.workers = workers;
    o.seed = 11;
    o.augment.size = 16;
    pl::batch_loader<B> loader(store, labels, 3, false, o);
    loader.start_epoch(epoch);
    std::vector<float> all;
    std::vector<std::uint32_t> order;
    while (auto b = loader.next()) {
      all.insert(all.end(), b->images.begin(), b->images.end());
      order.insert(order.end(), b->samples.begin(), b->samples.end());
      for (std::size_t k = 0; k < b->labels.size(); ++k) REQUIRE(b->labels[k] == std::int32_t(b->samples[k] % 3));
    }
    return std::pair(all, order);
  };
  const auto one = run(1, 0), three = run(3, 0), next_epoch = run(2, 1);
  REQUIRE(one.first == three.first);
  REQUIRE(one.second == three.second);
  auto sorted = one.second;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 21; ++i) REQUIRE(sorted[i] == i);  // every sample once per epoch
  REQUIRE(next_epoch.second != one.second);

  SECTION("a file that cannot be decoded stops the epoch with its name") {
    std::filesystem::resize_file(files[5], 20);
    pl::image_store broken(files, {64, std::size_t{1} << 24, 1});
    REQUIRE_THROWS_WITH(broken.preload(), Catch::Contains("5.png"));
  }
}

TEST_CASE("fitting on generated images: full, partial and linear probe", "[pipeline][fit]") {
  tailor::testing::temp_dir dir("fit");
  tailor::examples::example_data_options eo;
  eo.classification_images_per_class = 10;
  eo.detection_images = 0;
  const auto summary = tailor::examples::write_example_data(dir.path, eo);
  tailor::data::coco_options co;
  const auto coco = tailor::data::read_coco_file(dir.path / "classification_train.json", co).dataset;
  const auto samples = pl::make_classification_samples(coco, dir.path);
  REQUIRE(samples.files.size() == 32);
  REQUIRE(samples.class_names.size() == 4);
  pl::image_store store(samples.files, {48, std::size_t{1} << 26, 2});
  REQUIRE(store.preload());

  using net_t = tailor::task::classification_network<nn::small_cnn, B>;
  auto snapshot = [](net_t& net, std::string_view prefix) {
    std::vector<float> w;
    net.visit_parameters("", [&](const std::string& n, nn::parameter<B>& p) {
      if (n.starts_with(prefix)) w.insert(w.end(), p.value.begin(), p.value.end());
    });
    return w;
  };
  tailor::train::fit_options o;
  o.epochs = 8;
  o.train.lr = 0.05;
  o.loader.batch_size = 8;
  o.loader.augment.size = 32;
  o.loader.augment.scale_min = 0.5;
  o.loader.seed = 3;

  SECTION("full fine-tuning lowers the loss") {
    net_t net(4, {0.5}, 1);
    const auto r = tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(r.epochs.size() == 8);
    REQUIRE(r.steps == 8 * 4);
    REQUIRE(r.epochs.back().loss < r.epochs.front().loss);
  }
  SECTION("replan shortens the run, and the cosine schedule ends at the new last epoch") {
    net_t net(4, {0.5}, 1);
    o.warmup_epochs = 0;
    std::vector<std::pair<int, int>> asked;
    o.replan = [&](int done, int planned) {
      asked.emplace_back(done, planned);
      return done == 2 ? 4 : planned;
    };
    const auto r = tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(r.shortened);
    REQUIRE(r.epochs.size() == 4);
    REQUIRE(r.steps == 4 * 4);
    // Asked after every epoch but the last: of 8 planned after epochs 1 and 2, then of 4.
    REQUIRE(asked == std::vector<std::pair<int, int>>{{1, 8}, {2, 8}, {3, 4}});
    // Epoch 3 starts at step 12 of 16: 0.05 * (1 + cos(pi * 12 / 16)) / 2 (of 32 steps it would be 0.039).
    REQUIRE(r.epochs[3].learning_rate == Approx(0.05 * 0.5 * (1 + std::cos(std::numbers::pi * 12.0 / 16.0))));
  }
  SECTION("replan lengthens the run, and the cosine schedule stretches to the new last epoch") {
    net_t net(4, {0.5}, 1);
    o.warmup_epochs = 0;
    o.epochs = 4;
    std::vector<std::pair<int, int>> asked;
    o.replan = [&](int done, int planned) {
      asked.emplace_back(done, planned);
      return done == 2 ? 6 : planned;
    };
    const auto r = tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(r.lengthened);
    REQUIRE(!r.shortened);
    REQUIRE(r.epochs.size() == 6);
    REQUIRE(r.steps == 6 * 4);
    REQUIRE(asked == std::vector<std::pair<int, int>>{{1, 4}, {2, 4}, {3, 6}, {4, 6}, {5, 6}});
    // Epoch 3 starts at step 12 of 24 (of 16 it would be 0.0073); the last at step 20.
    REQUIRE(r.epochs[3].learning_rate == Approx(0.05 * 0.5 * (1 + std::cos(std::numbers::pi * 12.0 / 24.0))));
    REQUIRE(r.epochs[5].learning_rate == Approx(0.05 * 0.5 * (1 + std::cos(std::numbers::pi * 20.0 / 24.0))));
  }
  SECTION("lengthened, then cut: shortened or lengthened against the first plan") {
    net_t net(4, {0.5}, 1);
    o.epochs = 4;
    const int last = GENERATE(3, 5);
    o.replan = [&](int done, int planned) { return done == 1 ? 6 : done == 2 ? last : planned; };
    const auto r = tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(r.shortened == (last < 4));
    REQUIRE(r.lengthened == (last > 4));
    REQUIRE(r.epochs.size() == std::size_t(last));
  }
  SECTION("partial: the frozen stages keep their weights") {
    net_t net(4, {0.5}, 1);
    const auto before = snapshot(net, "features.0."), head_before = snapshot(net, "classifier");
    o.mode = tailor::train::finetune_mode::partial;
    o.frozen_stages = 1;
    o.epochs = 2;
    tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(snapshot(net, "features.0.") == before);
    REQUIRE(snapshot(net, "classifier") != head_before);
  }
  SECTION("linear probe: only the head changes, and it learns from cached features") {
    net_t net(4, {0.5}, 1);
    const auto backbone_before = snapshot(net, "features.");
    o.mode = tailor::train::finetune_mode::linear_probe;
    o.epochs = 30;
    o.train.lr = 0.5;
    const auto r = tailor::train::fit_classifier(net, store, samples.labels, false, o);
    REQUIRE(snapshot(net, "features.") == backbone_before);
    REQUIRE(r.epochs.back().loss < r.epochs.front().loss);
  }
}

TEST_CASE("checkpoint and resume: a resumed run ends with the weights of an uninterrupted one", "[pipeline][checkpoint]") {
  tailor::testing::temp_dir dir("resume");
  tailor::examples::example_data_options eo;
  eo.classification_images_per_class = 4;
  eo.detection_images = 0;
  tailor::examples::write_example_data(dir.path, eo);
  const auto coco = tailor::data::read_coco_file(dir.path / "classification_train.json", {}).dataset;
  const auto samples = pl::make_classification_samples(coco, dir.path);
  pl::image_store store(samples.files, {32, std::size_t{1} << 24, 1});
  store.preload();
  using net_t = tailor::task::classification_network<nn::small_cnn, B>;
  auto weights = [](net_t& net) {
    std::vector<float> w;
    net.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { w.insert(w.end(), p.value.begin(), p.value.end()); });
    net.visit_buffers("", [&](const std::string&, B::array& a, nn::buffer_kind) { w.insert(w.end(), a.begin(), a.end()); });
    return w;
  };
  tailor::train::fit_options o;
  o.epochs = 4;
  o.loader.batch_size = 4;
  o.loader.augment.size = 24;
  o.loader.seed = 5;

  net_t straight(4, {0.25}, 2);
  tailor::train::fit_classifier(straight, store, samples.labels, false, o);

  // The same run, interrupted after its second epoch (the checkpoint of that epoch is written) ...
  o.checkpoint = dir.path / "run.safetensors";
  net_t part(4, {0.25}, 2);
  auto interrupted = o;
  struct stop_after_two {};
  interrupted.on_epoch = [](const tailor::train::epoch_report& e) {
    if (e.epoch == 1) throw stop_after_two{};
  };
  REQUIRE_THROWS_AS(tailor::train::fit_classifier(part, store, samples.labels, false, interrupted), stop_after_two);
  REQUIRE(std::filesystem::exists(o.checkpoint));
  // ... is not resumed with other options ...
  net_t resumed(4, {0.25}, 99);  // other initial weights: the checkpoint must replace them all
  auto changed = o;
  changed.train.lr = 0.2;
  changed.resume = true;
  REQUIRE_THROWS_WITH(tailor::train::fit_classifier(resumed, store, samples.labels, false, changed),
                      Catch::Contains("another configuration"));
  // ... and with the same options continues where it stopped.
  o.resume = true;
  const auto r = tailor::train::fit_classifier(resumed, store, samples.labels, false, o);
  REQUIRE(r.epochs.size() == 2);
  REQUIRE(r.epochs.front().epoch == 2);
  REQUIRE(weights(resumed) == weights(straight));
}
