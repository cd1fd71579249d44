// Detection augmentation: rectangles drawn in known colours are found again in the augmented
// sample where their transformed boxes say, the letterbox keeps the aspect ratio with padding
// exactly 0 and maps back exactly, the min_visible / min_side rule on boxes worked out by hand,
// determinism from the seed, and the errors bad options give.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <tailor/core/error.hpp>
#include <tailor/data/image.hpp>
#include <tailor/detection/box_ops.hpp>
#include <tailor/backend/cpu.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/pipeline/detection_augment.hpp>
#include <tailor/pipeline/detection_loader.hpp>
#include <tailor/pipeline/detection_samples.hpp>

#include "../examples/example_data.hpp"
#include "test_support.hpp"

namespace {

namespace pl = tailor::pipeline;
using box_f = tailor::detection::xyxy<float>;
using rgb = std::array<int, 3>;

constexpr rgb grey{128, 128, 128};
constexpr std::array<rgb, 4> colours{{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}}};

struct scene {
  tailor::data::image img;
  std::vector<pl::labelled_box> boxes;  // class_id = index into colours
};

// A 173x121 grey image with four solid rectangles (integer corners), one in a corner of the image
// and one near its left edge, so that crops cut them.
scene make_scene() {
  scene s;
  s.img = tailor::data::image(173, 121);
  for (std::size_t i = 0; i < s.img.pixels.size(); ++i) s.img.pixels[i] = std::uint8_t(grey[i % 3]);
  const std::array<std::array<int, 4>, 4> rects{{{20, 15, 60, 50}, {100, 30, 140, 90}, {150, 80, 173, 121}, {5, 95, 30, 118}}};
  for (std::size_t k = 0; k < rects.size(); ++k) {
    const auto& r = rects[k];
    for (int y = r[1]; y < r[3]; ++y)
      for (int x = r[0]; x < r[2]; ++x)
        for (int c = 0; c < 3; ++c) s.img.row(y)[x * 3 + c] = std::uint8_t(colours[k][std::size_t(c)]);
    pl::labelled_box b;
    b.box = box_f{float(r[0]), float(r[1]), float(r[2]), float(r[3])};
    b.class_id = int(k);
    s.boxes.push_back(b);
  }
  return s;
}

pl::labelled_box labelled(float x1, float y1, float x2, float y2, int class_id) {
  pl::labelled_box b;
  b.box = box_f{x1, y1, x2, y2};
  b.class_id = class_id;
  return b;
}

pl::placement make_placement(float scale, float ox, float oy, bool flipped, int size) {
  pl::placement p;
  p.scale = scale;
  p.offset_x = ox;
  p.offset_y = oy;
  p.flipped = flipped;
  p.size = size;
  return p;
}

// -1 for the background (grey or padding), else the index of the nearest rectangle colour, for
// the output pixel at plane offset `at`, taken back to 0..255 RGB.
int classify(const std::vector<float>& chw, std::size_t plane, std::size_t at, const pl::detection_augment_options& o) {
  double px[3];
  for (std::size_t ch = 0; ch < 3; ++ch) px[ch] = (chw[ch * plane + at] * o.std[ch] + o.mean[ch]) * 255.0;
  auto d2 = [&](const rgb& c) {
    return (px[0] - c[0]) * (px[0] - c[0]) + (px[1] - c[1]) * (px[1] - c[1]) + (px[2] - c[2]) * (px[2] - c[2]);
  };
  int best = -1;
  double best_d = d2(grey);
  for (std::size_t k = 0; k < colours.size(); ++k)
    if (const double d = d2(colours[k]); d < best_d) best = int(k), best_d = d;
  return best;
}

// The reference transform, written out: map, flip, clip; kept by the stated rule.
struct expected_box {
  double x1, y1, x2, y2;        // mapped, not clipped
  double cx1, cy1, cx2, cy2;    // clipped to the canvas
  double visible;               // fraction of the mapped area inside
  bool kept;
  bool borderline;              // too close to a threshold to insist on the decision
};

expected_box reference(const pl::placement& p, const box_f& b, const pl::detection_augment_options& o) {
  expected_box e{};
  e.x1 = b.x1 * double(p.scale) + p.offset_x;
  e.x2 = b.x2 * double(p.scale) + p.offset_x;
  e.y1 = b.y1 * double(p.scale) + p.offset_y;
  e.y2 = b.y2 * double(p.scale) + p.offset_y;
  if (p.flipped) {
    const double a = p.size - e.x2, c = p.size - e.x1;
    e.x1 = a, e.x2 = c;
  }
  auto clip = [&](double v) { return std::min(std::max(v, 0.0), double(p.size)); };
  e.cx1 = clip(e.x1), e.cx2 = clip(e.x2), e.cy1 = clip(e.y1), e.cy2 = clip(e.y2);
  e.visible = (e.cx2 - e.cx1) * (e.cy2 - e.cy1) / ((e.x2 - e.x1) * (e.y2 - e.y1));
  const double w = e.cx2 - e.cx1, h = e.cy2 - e.cy1;
  e.kept = e.visible >= o.min_visible && w >= o.min_side && h >= o.min_side;
  e.borderline = std::abs(e.visible - o.min_visible) < 1e-5 || std::abs(w - o.min_side) < 1e-4 ||
                 std::abs(h - o.min_side) < 1e-4;
  return e;
}

}  // namespace

TEST_CASE("detection augment: render, transform, re-locate", "[detection][augment]") {
  const scene sc = make_scene();
  int flipped = 0, unflipped = 0, kept_cut = 0, dropped = 0, kept = 0;
  for (const int size : {96, 256}) {
    pl::detection_augment_options o;
    o.size = size;
    o.scale_max = 2.0;  // more crops, so that boxes get cut and dropped
    o.brightness = o.contrast = o.saturation = 0;
    std::vector<float> out(std::size_t(3) * size * size);
    std::vector<pl::labelled_box> got;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      CAPTURE(size, seed);
      std::mt19937_64 r(seed);
      const pl::placement p = pl::augment_detection_train(sc.img, sc.boxes, o, r, out.data(), got);
      REQUIRE(p.size == size);
      (p.flipped ? flipped : unflipped) += 1;

      // Where each colour is in the output.
      std::array<int, 4> count{}, x0{}, y0{}, x1{}, y1{};
      x0.fill(size), y0.fill(size), x1.fill(-1), y1.fill(-1);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          if (const int k = classify(out, std::size_t(size) * size, std::size_t(y) * size + x, o); k >= 0) {
            auto i = std::size_t(k);
            ++count[i];
            x0[i] = std::min(x0[i], x), y0[i] = std::min(y0[i], y), x1[i] = std::max(x1[i], x + 1),
            y1[i] = std::max(y1[i], y + 1);
          }

      std::size_t next = 0;  // kept boxes come out in input order
      for (std::size_t k = 0; k < sc.boxes.size(); ++k) {
        CAPTURE(k);
        const expected_box e = reference(p, sc.boxes[k].box, o);
        const bool listed = next < got.size() && got[next].class_id == int(k);
        if (!e.borderline) REQUIRE(listed == e.kept);
        if (listed) {
          const auto& g = got[next++].box;
          CHECK(g.x1 == Approx(e.cx1).margin(1e-3));
          CHECK(g.y1 == Approx(e.cy1).margin(1e-3));
          CHECK(g.x2 == Approx(e.cx2).margin(1e-3));
          CHECK(g.y2 == Approx(e.cy2).margin(1e-3));
          // The pixels agree with the box.
          REQUIRE(count[k] > 0);
          CHECK(std::abs(x0[k] - e.cx1) <= 1.5);
          CHECK(std::abs(y0[k] - e.cy1) <= 1.5);
          CHECK(std::abs(x1[k] - e.cx2) <= 1.5);
          CHECK(std::abs(y1[k] - e.cy2) <= 1.5);
          ++kept;
          if (e.visible < 1) ++kept_cut;
        } else if (!e.kept) {
          // Dropped: its colour is mostly outside the canvas, or what shows of it is thin.
          const double full = (e.x2 - e.x1) * (e.y2 - e.y1);
          const double perimeter = 2 * ((e.cx2 - e.cx1) + (e.cy2 - e.cy1));
          const bool mostly_outside = count[k] <= o.min_visible * full + perimeter + 4;
          const bool thin = count[k] == 0 || x1[k] - x0[k] < o.min_side + 1.5 || y1[k] - y0[k] < o.min_side + 1.5;
          CHECK((mostly_outside || thin));
          ++dropped;
        }
      }
      CHECK(next == got.size());
    }
  }
  INFO("flipped " << flipped << " unflipped " << unflipped << " kept " << kept << " kept_cut " << kept_cut
                   << " dropped " << dropped);
  CHECK(flipped > 10);
  CHECK(unflipped > 10);
  CHECK(kept > 80);
  CHECK(kept_cut > 5);
  CHECK(dropped > 5);
}

TEST_CASE("detection augment: eval letterbox pads with exact zeros and maps back", "[detection][augment]") {
  const scene sc = make_scene();
  pl::detection_augment_options o;
  o.size = 320;
  std::vector<float> out(std::size_t(3) * 320 * 320);
  const pl::placement p = pl::prepare_detection_eval(sc.img, o, out.data());

  // The letterbox written out: scale 320 / 173, content 320 x 121 * scale, centred.
  const double s = 320.0 / 173.0, content_h = 121 * s, oy = (320 - content_h) / 2;
  CHECK(p.scale == Approx(s).epsilon(1e-6));
  CHECK(p.offset_x == Approx(0).margin(1e-3));
  CHECK(p.offset_y == Approx(oy).epsilon(1e-5));
  CHECK_FALSE(p.flipped);
  CHECK(p.size == 320);

  // Padding (pixels wholly outside the content) is exactly 0; content pixels (grey and colours,
  // none the mean colour) are not; the content's extent keeps the image's aspect ratio.
  const std::size_t plane = 320 * 320;
  int top = 320, bottom = -1, left = 320, right = -1;
  std::size_t padding = 0, padding_not_zero = 0, content_zero = 0;
  for (int y = 0; y < 320; ++y)
    for (int x = 0; x < 320; ++x) {
      const std::size_t at = std::size_t(y) * 320 + x;
      const bool zero = out[at] == 0.f && out[plane + at] == 0.f && out[2 * plane + at] == 0.f;
      if (y + 1 <= oy || y >= oy + content_h) {
        ++padding;
        padding_not_zero += !zero;
      } else if (y >= oy && y + 1 <= oy + content_h) {
        content_zero += zero;
      }
      if (!zero) top = std::min(top, y), bottom = std::max(bottom, y + 1), left = std::min(left, x), right = std::max(right, x + 1);
    }
  CHECK(padding >= 2 * 48 * 320);
  CHECK(padding_not_zero == 0);
  CHECK(content_zero == 0);
  CHECK(left == 0);
  CHECK(right == 320);
  CHECK(std::abs((bottom - top) - content_h) <= 1.0);
  CHECK(std::abs(double(right - left) / (bottom - top) - 173.0 / 121.0) < 0.01);
  CHECK(std::abs(top - (320 - bottom)) <= 1);

  // Boxes go to the canvas and back exactly, flipped or not.
  pl::detection_augment_options keep_all = o;
  keep_all.min_visible = 0;
  keep_all.min_side = 0;
  std::vector<pl::labelled_box> boxes = sc.boxes;
  boxes.push_back(labelled(0.5f, 0.25f, 172.75f, 120.5f, 7));
  boxes.push_back(labelled(33.3f, 44.4f, 55.5f, 66.6f, 8));
  for (const bool flip : {false, true}) {
    pl::placement q = p;
    q.flipped = flip;
    const auto moved = pl::transform_boxes(q, boxes, keep_all);
    REQUIRE(moved.size() == boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) {
      CAPTURE(flip, i);
      CHECK(moved[i].class_id == boxes[i].class_id);
      const double x1 = boxes[i].box.x1 * s, x2 = boxes[i].box.x2 * s;
      CHECK(moved[i].box.x1 == Approx(flip ? 320 - x2 : x1).margin(1e-3));
      CHECK(moved[i].box.y1 == Approx(boxes[i].box.y1 * s + oy).margin(1e-3));
      const auto back = pl::to_original(q, moved[i].box, 173, 121);
      CHECK(back.x1 == Approx(boxes[i].box.x1).margin(1e-3));
      CHECK(back.y1 == Approx(boxes[i].box.y1).margin(1e-3));
      CHECK(back.x2 == Approx(boxes[i].box.x2).margin(1e-3));
      CHECK(back.y2 == Approx(boxes[i].box.y2).margin(1e-3));
    }
    // The whole canvas maps back to the whole image (clamped: the padding is outside it).
    const auto all = pl::to_original(q, box_f{0, 0, 320, 320}, 173, 121);
    CHECK(all.x1 == 0.f);
    CHECK(all.y1 == 0.f);
    CHECK(all.x2 == 173.f);
    CHECK(all.y2 == 121.f);
  }
}

TEST_CASE("detection augment: boxes cut by the canvas edge follow min_visible and min_side", "[detection][augment]") {
  // x' = 2x - 10, y' = 2y + 5 on a 64 x 64 canvas.
  const std::vector<pl::labelled_box> boxes{
      labelled(10, 10, 20, 20, 0),    // [10, 25, 30, 45]: inside
      labelled(0, 0, 10, 10, 1),      // x [-10, 10]: half inside, exactly min_visible: kept, clipped
      labelled(0, 0, 9, 10, 2),       // x [-10, 8]: 8/18 inside: dropped
      labelled(20, 10, 20.5f, 30, 3), // x [30, 31]: 1 pixel wide: dropped by min_side
      labelled(40, 0, 50, 10, 4),     // x [70, 90]: outside
      labelled(30, 20, 36, 29, 5),    // [50, 45, 62, 63]: inside
      labelled(30, 20, 37, 30, 6),    // y [45, 65]: 19/20 inside, clipped to the canvas corner
      labelled(10, 29, 20, 30, 7),    // y [63, 65]: half inside but 1 pixel high: dropped
  };
  pl::detection_augment_options o;
  o.min_visible = 0.5;
  o.min_side = 2;

  auto expect = [](const std::vector<pl::labelled_box>& got, const std::vector<pl::labelled_box>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].class_id == want[i].class_id);
      CHECK(got[i].box.x1 == want[i].box.x1);
      CHECK(got[i].box.y1 == want[i].box.y1);
      CHECK(got[i].box.x2 == want[i].box.x2);
      CHECK(got[i].box.y2 == want[i].box.y2);
    }
  };

  expect(pl::transform_boxes(make_placement(2, -10, 5, false, 64), boxes, o),
         {labelled(10, 25, 30, 45, 0), labelled(0, 5, 10, 25, 1), labelled(50, 45, 62, 63, 5),
          labelled(50, 45, 64, 64, 6)});
  // Flipped: x -> 64 - x.
  expect(pl::transform_boxes(make_placement(2, -10, 5, true, 64), boxes, o),
         {labelled(34, 25, 54, 45, 0), labelled(54, 5, 64, 25, 1), labelled(2, 45, 14, 63, 5),
          labelled(0, 45, 14, 64, 6)});
  // A lower min_visible keeps box 2; no min_side keeps the thin boxes 3 and 7.
  o.min_visible = 0.35;
  o.min_side = 0;
  expect(pl::transform_boxes(make_placement(2, -10, 5, false, 64), boxes, o),
         {labelled(10, 25, 30, 45, 0), labelled(0, 5, 10, 25, 1), labelled(0, 5, 8, 25, 2),
          labelled(30, 25, 31, 64, 3), labelled(50, 45, 62, 63, 5), labelled(50, 45, 64, 64, 6),
          labelled(10, 63, 30, 64, 7)});
  // A zero-area box on the canvas is kept only when min_side allows it.
  const std::vector<pl::labelled_box> point{labelled(10, 10, 10, 10, 9)};
  CHECK(pl::transform_boxes(make_placement(2, -10, 5, false, 64), point, o).size() == 1);
  o.min_side = 0.5;
  CHECK(pl::transform_boxes(make_placement(2, -10, 5, false, 64), point, o).empty());

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<pl::labelled_box> bad{labelled(0, 0, nan, 4, 3)};
  REQUIRE_THROWS_WITH(pl::transform_boxes(make_placement(2, 0, 0, false, 64), bad, o), Catch::Contains("non-finite"));
  const std::vector<pl::labelled_box> inverted{labelled(5, 0, 4, 4, 3)};
  REQUIRE_THROWS_WITH(pl::transform_boxes(make_placement(2, 0, 0, false, 64), inverted, o),
                      Catch::Contains("x1 <= x2"));
}

TEST_CASE("detection augment: a seed gives one sample, other seeds others", "[detection][augment]") {
  const scene sc = make_scene();
  pl::detection_augment_options o;
  o.size = 128;
  const std::size_t n = std::size_t(3) * 128 * 128;
  auto sample = [&](std::uint64_t seed, std::vector<float>& out, std::vector<pl::labelled_box>& boxes) {
    out.assign(n, -1.f);
    std::mt19937_64 r(seed);
    return pl::augment_detection_train(sc.img, sc.boxes, o, r, out.data(), boxes);
  };
  std::vector<float> a, b;
  std::vector<pl::labelled_box> ba, bb;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto pa = sample(seed, a, ba), pb = sample(seed, b, bb);
    CHECK(std::memcmp(a.data(), b.data(), n * sizeof(float)) == 0);
    CHECK((pa.scale == pb.scale && pa.offset_x == pb.offset_x && pa.offset_y == pb.offset_y &&
           pa.flipped == pb.flipped && pa.size == pb.size));
    REQUIRE(ba.size() == bb.size());
    for (std::size_t i = 0; i < ba.size(); ++i) {
      CHECK(ba[i].class_id == bb[i].class_id);
      CHECK(std::memcmp(&ba[i].box, &bb[i].box, sizeof(box_f)) == 0);
    }
    sample(seed + 100, b, bb);
    CHECK(std::memcmp(a.data(), b.data(), n * sizeof(float)) != 0);
  }

  // With colour jitter on and the content smaller than the canvas, the padding is still exactly 0.
  o.scale_min = o.scale_max = 0.5;
  const auto p = sample(7, a, ba);
  const double w = 173 * double(p.scale), h = 121 * double(p.scale);
  const std::size_t plane = 128 * 128;
  std::size_t padding = 0, padding_not_zero = 0;
  for (int y = 0; y < 128; ++y)
    for (int x = 0; x < 128; ++x) {
      const double ux = p.flipped ? 128 - (x + 1) : x;  // the pixel's left edge before the flip
      if (ux + 1 <= p.offset_x || ux >= p.offset_x + w || y + 1 <= p.offset_y || y >= p.offset_y + h) {
        ++padding;
        for (std::size_t ch = 0; ch < 3; ++ch) padding_not_zero += a[ch * plane + std::size_t(y) * 128 + x] != 0.f;
      }
    }
  CHECK(padding >= 128 * 128 - 65 * 46);
  CHECK(padding_not_zero == 0);
  CHECK(w == Approx(64).margin(1e-3));
}

TEST_CASE("detection augment: bad options and inputs say what to fix", "[detection][augment]") {
  const scene sc = make_scene();
  std::vector<float> out(std::size_t(3) * 320 * 320);
  std::vector<pl::labelled_box> got;
  std::mt19937_64 r(1);
  auto train = [&](const pl::detection_augment_options& o) {
    return pl::augment_detection_train(sc.img, sc.boxes, o, r, out.data(), got);
  };
  auto eval = [&](const pl::detection_augment_options& o) { return pl::prepare_detection_eval(sc.img, o, out.data()); };

  pl::detection_augment_options o;
  o.size = 0;
  REQUIRE_THROWS_WITH(train(o), Catch::Contains("size") && Catch::Contains("multiple of 32"));
  o.size = 100;
  REQUIRE_THROWS_WITH(eval(o), Catch::Contains("multiple of 32") && Catch::Contains("feature pyramid"));
  o = {};
  o.scale_min = 0;
  REQUIRE_THROWS_WITH(train(o), Catch::Contains("scale_min") && Catch::Contains("above 0"));
  o = {};
  o.scale_min = 1.5;
  o.scale_max = 1.2;
  REQUIRE_THROWS_WITH(train(o), Catch::Contains("scale_min must be at most scale_max"));
  o = {};
  o.min_visible = 1.5;
  REQUIRE_THROWS_WITH(train(o), Catch::Contains("min_visible"));
  o = {};
  o.brightness = -0.1;
  REQUIRE_THROWS_WITH(train(o), Catch::Contains("brightness"));
  o = {};
  o.std[1] = 0;
  REQUIRE_THROWS_WITH(eval(o), Catch::Contains("std[1]"));

  o = {};
  std::vector<pl::labelled_box> boxes = sc.boxes;
  boxes[2].box.y2 = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_WITH(pl::augment_detection_train(sc.img, boxes, o, r, out.data(), got),
                      Catch::Contains("box 2") && Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(pl::prepare_detection_eval(tailor::data::image{}, o, out.data()), Catch::Contains("non-empty"));
  REQUIRE_THROWS_WITH(pl::letterbox_placement(0, 10, 320), Catch::Contains("at least 1 pixel"));
  REQUIRE_THROWS_AS(pl::to_original(make_placement(0, 0, 0, false, 320), box_f{0, 0, 1, 1}, 10, 10), tailor::error);
}

TEST_CASE("detection loader: boxes follow the store's decode scale and the letterbox, and map back", "[detection][loader]") {
  using B = tailor::backend::cpu;
  tailor::testing::temp_dir dir("detection_loader");
  tailor::examples::example_data_options eo;
  eo.classification_images_per_class = 0;
  eo.detection_images = 12;
  (void)tailor::examples::write_example_data(dir.path, eo);
  const auto coco = tailor::data::load_coco_file(dir.path / "detection_train.json");
  const auto samples = pl::make_detection_samples(coco, dir.path);
  REQUIRE(samples.files.size() == 9);
  REQUIRE(samples.class_names.size() == 4);
  std::size_t boxes = 0;
  for (std::size_t i = 0; i < samples.files.size(); ++i) {
    boxes += samples.boxes[i].size();
    REQUIRE(samples.sizes[i] == std::array<int, 2>{192, 144});
  }
  REQUIRE(boxes > 9);

  // Decoded at half size: the loader must scale the boxes with the pixels.
  pl::image_store_options so;
  so.max_side = 96;
  pl::image_store store(samples.files, so);
  REQUIRE(store.preload());
  pl::detection_loader_options o;
  o.batch_size = 4;
  o.train = false;
  o.augment.size = 128;
  pl::detection_loader<B> eval_loader(store, samples.boxes, samples.sizes, o);
  eval_loader.start_epoch(0);
  std::size_t seen = 0;
  while (auto b = eval_loader.next()) {
    for (std::size_t k = 0; k < b->boxes.size(); ++k, ++seen) {
      const std::uint32_t i = b->samples[k];
      REQUIRE(b->boxes[k].size() == samples.boxes[i].size());  // eval: nothing is cut
      for (std::size_t j = 0; j < b->boxes[k].size(); ++j) {
        const auto& moved = b->boxes[k][j].box;
        // 192 x 144 letterboxed into 128: scale 2/3, 16 px bars above and below.
        const auto& gt = samples.boxes[i][j].box;
        CHECK(moved.x1 == Approx(gt.x1 * 2 / 3).margin(1e-3));
        CHECK(moved.y1 == Approx(gt.y1 * 2 / 3 + 16).margin(1e-3));
        const auto back = pl::original_box(*b, k, moved);
        CHECK(back.x1 == Approx(gt.x1).margin(1e-3));
        CHECK(back.y2 == Approx(gt.y2).margin(1e-3));
      }
    }
  }
  REQUIRE(seen == samples.files.size());

  // Training batches: the same for any number of workers, boxes inside the canvas.
  auto epoch_of = [&](int workers) {
    pl::detection_loader_options t = o;
    t.train = true;
    t.workers = workers;
    t.seed = 3;
    pl::detection_loader<B> loader(store, samples.boxes, samples.sizes, t);
    loader.start_epoch(2);
    std::vector<pl::detection_batch<B>> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
  };
  const auto one = epoch_of(1), three = epoch_of(3);
  REQUIRE(one.size() == three.size());
  for (std::size_t n = 0; n < one.size(); ++n) {
    REQUIRE(one[n].samples == three[n].samples);
    REQUIRE(std::equal(one[n].images.begin(), one[n].images.end(), three[n].images.begin()));
    for (std::size_t k = 0; k < one[n].boxes.size(); ++k) {
      REQUIRE(one[n].boxes[k].size() == three[n].boxes[k].size());
      for (const auto& g : one[n].boxes[k]) {
        CHECK(g.box.x1 >= 0);
        CHECK(g.box.x2 <= 128);
        CHECK(g.box.y1 >= 0);
        CHECK(g.box.y2 <= 128);
      }
    }
  }
  REQUIRE_THROWS_WITH(pl::detection_loader<B>(store, samples.boxes, {}, o), Catch::Contains("one of each per image"));
}

TEST_CASE("detection samples: a dataset without boxes is refused with the fix", "[detection][loader]") {
  tailor::testing::temp_dir dir("detection_samples");
  tailor::examples::example_data_options eo;
  eo.classification_images_per_class = 2;
  eo.detection_images = 0;
  (void)tailor::examples::write_example_data(dir.path, eo);
  const auto coco = tailor::data::load_coco_file(dir.path / "classification_train.json");
  REQUIRE_THROWS_WITH(pl::make_detection_samples(coco, dir.path), Catch::Contains("--kind detection"));
}
