// The example dataset: deterministic, balanced, with tight boxes and consistent COCO files.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <tailor/core/file_io.hpp>
#include <tailor/data/image_decode.hpp>

#include "../examples/example_data.hpp"

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace ex = tailor::examples;
namespace exd = tailor::examples::detail;
using nlohmann::json;

// Each temp_dir here is named after this file.
struct temp_dir : tailor::testing::temp_dir {
  temp_dir() : tailor::testing::temp_dir("example_data") {}
};

json load_json(const fs::path& p) {
  const auto bytes = tailor::read_file(p);
  return json::parse(bytes.begin(), bytes.end());
}

// Relative path -> bytes, for every regular file under root.
std::map<std::string, std::vector<std::uint8_t>> all_files(const fs::path& root) {
  std::map<std::string, std::vector<std::uint8_t>> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = tailor::read_file(e.path());
  return files;
}

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (auto b : bytes) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

// The box of the non-black pixels of an image.
exd::box nonzero_extent(const tailor::data::image& img) {
  int xmin = img.width, ymin = img.height, xmax = -1, ymax = -1;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const auto* p = exd::pixel_at(img, x, y);
      if (p[0] || p[1] || p[2]) xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  if (xmax < 0) return {};
  return {xmin, ymin, xmax - xmin + 1, ymax - ymin + 1};
}

exd::shape random_shape(exd::rng_t& rng, int width, int height) {
  exd::shape s;
  s.kind = static_cast<exd::shape_kind>(exd::uniform_int(rng, 0, 3));
  s.radius = exd::uniform_int(rng, 1, 40 * exd::subpixel);
  // Centres may lie near or past the border so that clipping is exercised too.
  s.cx = exd::uniform_int(rng, -10 * exd::subpixel, (width + 10) * exd::subpixel);
  s.cy = exd::uniform_int(rng, -10 * exd::subpixel, (height + 10) * exd::subpixel);
  s.angle_degrees = exd::uniform_int(rng, -720, 720);
  return s;
}

}  // namespace

TEST_CASE("example data: the fast coverage path equals plain 4x4 supersampling", "[example_data]") {
  exd::rng_t rng(123);
  for (int n = 0; n < 300; ++n) {
    const auto s = random_shape(rng, 64, 48);
    const auto cov = exd::rasterize(s, 64, 48);
    const exd::shape_tester t(s);
    for (int y = cov.y0; y < cov.y0 + cov.height; ++y)
      for (int x = cov.x0; x < cov.x0 + cov.width; ++x) {
        int brute = 0;
        for (int sy = 0; sy < 4; ++sy)
          for (int sx = 0; sx < 4; ++sx)
            brute += t.inside(x * 8 + 2 * sx + 1 - s.cx, y * 8 + 2 * sy + 1 - s.cy) ? 1 : 0;
        INFO("shape " << n << " pixel " << x << "," << y);
        REQUIRE(cov.at(x, y) == brute);
      }
  }
}

TEST_CASE("example data: render_shape returns exactly the extent of the pixels it drew", "[example_data]") {
  exd::rng_t rng(99);
  int drawn = 0;
  for (int n = 0; n < 400; ++n) {
    tailor::data::image img(80, 60);  // black
    const auto s = random_shape(rng, img.width, img.height);
    // White over black: even one covered sample of 16 changes a pixel, so changed == touched.
    const auto b = exd::render_shape(img, s, {255, 255, 255});
    INFO("shape " << n);
    CHECK(b == nonzero_extent(img));
    if (!b.empty()) {
      ++drawn;
      CHECK(b.x >= 0);
      CHECK(b.y >= 0);
      CHECK(b.x + b.w <= img.width);
      CHECK(b.y + b.h <= img.height);
    }
  }
  CHECK(drawn > 200);
}

TEST_CASE("example data: the shapes look like their kinds", "[example_data]") {
  // Axis-aligned shapes of circumradius 20 px at a pixel corner: areas and boxes as geometry says.
  auto area_of = [](exd::shape_kind kind, int angle) {
    const exd::shape s{kind, 50 * 8, 50 * 8, 20 * 8, angle};
    return exd::rasterize(s, 100, 100).area();
  };
  const double pi = 3.14159265358979323846;
  // Within 3%: 4x4 samples per pixel quantize edges that fall between samples.
  CHECK(area_of(exd::shape_kind::circle, 0) == Approx(pi * 400).epsilon(0.03));
  CHECK(area_of(exd::shape_kind::square, 0) == Approx(800).epsilon(0.03));   // side 20 sqrt(2)
  CHECK(area_of(exd::shape_kind::square, 37) == Approx(800).epsilon(0.03));  // rotation keeps the area
  CHECK(area_of(exd::shape_kind::triangle, 0) == Approx(3 * std::sqrt(3.0) / 4 * 400).epsilon(0.03));
  const double arm = 0.94 * 20, half = 0.36 * arm;
  CHECK(area_of(exd::shape_kind::cross, 0) == Approx(2 * (2 * arm) * (2 * half) - 4 * half * half).epsilon(0.03));
  CHECK(area_of(exd::shape_kind::cross, 45) == Approx(area_of(exd::shape_kind::cross, 0)).epsilon(0.03));
  // The triangle points up at angle 0: its apex row is at the top, its base is wider than the box is tall.
  const auto tri = exd::rasterize({exd::shape_kind::triangle, 50 * 8, 50 * 8, 20 * 8, 0}, 100, 100).extent();
  CHECK(tri.y == 30);       // apex at 50 - 20
  CHECK(tri.y + tri.h == 60);  // base at 50 + 10
  CHECK(tri.w > tri.h);
}

TEST_CASE("example data: pixels are the same on every platform", "[example_data]") {
  // Golden hashes of the rendered pixels (before JPEG, whose bytes depend on the libjpeg build).
  // A change here means the dataset changed: update the hashes only on purpose.
  CHECK(fnv1a(exd::render_classification_image(7, 0).pixels.pixels) == 0x16229cdb425f4b52ULL);
  CHECK(fnv1a(exd::render_classification_image(7, 5).pixels.pixels) == 0x2fd92e68f4586aecULL);
  CHECK(fnv1a(exd::render_detection_image(7, 0).pixels.pixels) == 0x87fb0d5f2f7738a9ULL);
  CHECK(fnv1a(exd::render_detection_image(7, 3).pixels.pixels) == 0x7b7ca04dff1fc6e0ULL);
}

TEST_CASE("example data: the same seed gives byte-identical files, another seed other files", "[example_data]") {
  const ex::example_data_options small{7, 3, 8};
  temp_dir a, b, c;
  ex::write_example_data(a.path, small);
  ex::write_example_data(b.path, small);
  ex::write_example_data(c.path, {8, 3, 8});
  const auto fa = all_files(a.path), fb = all_files(b.path), fc = all_files(c.path);
  REQUIRE(fa.size() == 3 * 4 + 8 + 6);
  CHECK(fa == fb);
  REQUIRE(fc.size() == fa.size());
  for (const auto& [name, bytes] : fa) {
    INFO(name);
    REQUIRE(fc.count(name) == 1);
    if (name.ends_with(".jpg")) CHECK(fc.at(name) != bytes);
  }
  // Each image has its own generator: the first images of a bigger dataset are the same files.
  temp_dir d;
  ex::write_example_data(d.path, {7, 4, 10});
  const auto fd = all_files(d.path);
  for (const auto& [name, bytes] : fa)
    if (name.ends_with(".jpg")) CHECK(fd.at(name) == bytes);
}

TEST_CASE("example data: negative counts are refused", "[example_data]") {
  temp_dir t;
  try {
    ex::write_example_data(t.path, {7, -1, 4});
    FAIL("no error");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
  }
}

namespace {

// The default dataset, written once for all the sections below (Catch reruns a test case per section).
struct default_dataset {
  temp_dir dir;
  ex::example_data_summary summary;
  std::map<std::string, json> coco;
  default_dataset() : summary(ex::write_example_data(dir.path)) {
    for (const auto& f : summary.coco_files) coco[f.filename().string()] = load_json(f);
  }
};
const default_dataset& default_data() {
  static const default_dataset data;
  return data;
}

}  // namespace

TEST_CASE("example data: the default dataset's COCO files are complete and consistent", "[example_data]") {
  const auto& data = default_data();
  const temp_dir& t = data.dir;
  const auto& summary = data.summary;
  auto coco = data.coco;
  CHECK(summary.root == t.path);
  CHECK(summary.classes == std::vector<std::string>{"circle", "square", "triangle", "cross"});
  CHECK(summary.images == 200 + 160);
  REQUIRE(summary.coco_files.size() == 6);
  const std::vector<std::string> names{"classification_train.json", "classification_test.json", "multilabel_train.json",
                                       "multilabel_test.json",      "detection_train.json",      "detection_test.json"};
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(summary.coco_files[i] == t.path / names[i]);
    REQUIRE(coco.count(names[i]) == 1);
  }

  const json categories = coco["classification_train.json"]["categories"];
  REQUIRE(categories.size() == 4);
  for (int c = 0; c < 4; ++c) {
    CHECK(categories[static_cast<std::size_t>(c)]["id"] == c + 1);
    CHECK(categories[static_cast<std::size_t>(c)]["name"] == summary.classes[static_cast<std::size_t>(c)]);
  }
  std::set<std::string> all_image_files;
  for (auto& [name, j] : coco) {
    INFO(name);
    CHECK(j["categories"] == categories);
    std::set<int> image_ids, annotation_ids;
    for (const auto& im : j["images"]) {
      CHECK(image_ids.insert(im["id"].get<int>()).second);
      const auto file = im["file_name"].get<std::string>();
      CHECK(file.starts_with("images/"));
      CHECK(fs::is_regular_file(t.path / file));
      all_image_files.insert(file);
    }
    for (const auto& an : j["annotations"]) {
      CHECK(annotation_ids.insert(an["id"].get<int>()).second);
      CHECK(image_ids.count(an["image_id"].get<int>()) == 1);
      const int category = an["category_id"].get<int>();
      CHECK((category >= 1 && category <= 4));
      CHECK(an.contains("bbox") == name.starts_with("detection"));
    }
  }
  CHECK(all_image_files.size() == 360);
  CHECK(std::distance(fs::directory_iterator(t.path / "images"), fs::directory_iterator{}) == 360);

  SECTION("classification: 40 train + 10 test images per class, one label each, 96x96") {
    for (const auto& [name, per_class] : {std::pair{"classification_train.json", 40}, {"classification_test.json", 10}}) {
      const auto& j = coco[name];
      CHECK(j["images"].size() == 4u * per_class);
      CHECK(j["annotations"].size() == j["images"].size());
      std::map<int, int> counts;
      std::set<int> labelled;
      for (const auto& an : j["annotations"]) {
        ++counts[an["category_id"].get<int>()];
        CHECK(labelled.insert(an["image_id"].get<int>()).second);
      }
      CHECK(counts == std::map<int, int>{{1, per_class}, {2, per_class}, {3, per_class}, {4, per_class}});
      for (const auto& im : j["images"]) {
        CHECK(im["width"] == 96);
        CHECK(im["height"] == 96);
      }
    }
  }

  SECTION("detection: 120 train + 40 test images, tight boxes inside the images") {
    CHECK(coco["detection_train.json"]["images"].size() == 120);
    CHECK(coco["detection_test.json"]["images"].size() == 40);
    std::size_t boxes = 0;
    std::map<int, int> per_class;
    for (const char* name : {"detection_train.json", "detection_test.json"}) {
      const auto& j = coco[name];
      std::map<int, std::vector<exd::box>> by_image;
      std::map<int, std::vector<int>> classes_by_image;
      for (const auto& an : j["annotations"]) {
        const auto& bb = an["bbox"];
        REQUIRE(bb.size() == 4);
        const exd::box b{bb[0].get<int>(), bb[1].get<int>(), bb[2].get<int>(), bb[3].get<int>()};
        INFO(name << " annotation " << an["id"]);
        CHECK(b.x >= 0);
        CHECK(b.y >= 0);
        CHECK(b.x + b.w <= 192);
        CHECK(b.y + b.h <= 144);
        CHECK((b.w >= 14 && b.w <= 64));  // the promised object sizes
        CHECK((b.h >= 14 && b.h <= 64));
        CHECK(an["iscrowd"] == 0);
        CHECK(an["area"].get<double>() > 0.25 * b.w * b.h);
        CHECK(an["area"].get<double>() <= b.w * b.h);
        by_image[an["image_id"].get<int>()].push_back(b);
        classes_by_image[an["image_id"].get<int>()].push_back(an["category_id"].get<int>());
        ++per_class[an["category_id"].get<int>()];
        ++boxes;
      }
      for (const auto& im : j["images"]) {
        const int id = im["id"].get<int>();
        INFO(name << " image " << id);
        CHECK(im["width"] == 192);
        CHECK(im["height"] == 144);
        // The boxes are exactly the extents of the shapes as the renderer drew them (before noise
        // and JPEG), in the same order, and each shape drawn alone covers exactly its box.
        const auto r = exd::render_detection_image(7, id - 1);
        const auto& got = by_image[id];
        REQUIRE(got.size() == r.objects.size());
        REQUIRE((got.size() >= 1 && got.size() <= 4));
        for (std::size_t k = 0; k < got.size(); ++k) {
          CHECK(got[k] == r.objects[k].bounds);
          CHECK(classes_by_image[id][k] == r.objects[k].category_id());
          tailor::data::image alone(192, 144);
          CHECK(exd::render_shape(alone, r.objects[k].geometry, {255, 255, 255}) == got[k]);
          CHECK(nonzero_extent(alone) == got[k]);
          for (std::size_t m = 0; m < k; ++m) CHECK(exd::boxes_apart(got[m], got[k], 3));
        }
        // In the JPEG as decoded, a good part of each box stands out from the background just
        // outside it (the ring 1-2 px around the box, which no other shape reaches).
        const auto img = tailor::data::decode_image(t.path / im["file_name"].get<std::string>());
        REQUIRE(img.width == 192);
        REQUIRE(img.height == 144);
        for (const auto& b : got) {
          long sum[3] = {0, 0, 0}, n = 0;
          for (int y = b.y - 2; y < b.y + b.h + 2; ++y)
            for (int x = b.x - 2; x < b.x + b.w + 2; ++x) {
              const bool in_box = x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h;
              if (in_box || x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
              const auto* p = exd::pixel_at(img, x, y);
              for (int ch = 0; ch < 3; ++ch) sum[ch] += p[ch];
              ++n;
            }
          REQUIRE(n > 0);
          int differing = 0;
          for (int y = b.y; y < b.y + b.h; ++y)
            for (int x = b.x; x < b.x + b.w; ++x) {
              const auto* p = exd::pixel_at(img, x, y);
              long d = 0;
              for (int ch = 0; ch < 3; ++ch) d += std::abs(p[ch] * n - sum[ch]);
              if (d > 60 * n) ++differing;
            }
          CHECK(differing >= b.w * b.h / 4);
        }
      }
    }
    CHECK(boxes == summary.boxes);
    CHECK(boxes >= 160 * 2);  // 1 to 4 per image, 2.5 on average
    for (int c = 1; c <= 4; ++c) CHECK(per_class[c] >= static_cast<int>(boxes) / 6);  // every class well present
  }

  SECTION("multilabel: the detection images, tagged with the set of classes each shows") {
    for (const auto& split : {"train", "test"}) {
      const auto& ml = coco[fmt::format("multilabel_{}.json", split)];
      const auto& det = coco[fmt::format("detection_{}.json", split)];
      CHECK(ml["images"] == det["images"]);
      std::map<int, std::set<int>> tags, shown;
      for (const auto& an : ml["annotations"]) CHECK(tags[an["image_id"].get<int>()].insert(an["category_id"].get<int>()).second);
      for (const auto& an : det["annotations"]) shown[an["image_id"].get<int>()].insert(an["category_id"].get<int>());
      CHECK(tags == shown);
      CHECK(tags.size() == ml["images"].size());  // every image shows something
    }
  }

  SECTION("the images decode to the sizes the files say") {
    for (const char* name : {"classification_train.json", "classification_test.json"})
      for (const auto& im : coco[name]["images"]) {
        const auto img = tailor::data::decode_image(t.path / im["file_name"].get<std::string>());
        CHECK(img.width == im["width"].get<int>());
        CHECK(img.height == im["height"].get<int>());
      }
  }
}
