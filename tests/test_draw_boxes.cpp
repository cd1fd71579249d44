// Tests of drawing detection boxes and labels onto images (tailor/data/draw_boxes.hpp).
#include <array>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tailor/data/draw_boxes.hpp"

using namespace tailor::data;
using tailor::failure_code;

namespace {

constexpr rgb_colour grey{100, 100, 100};

image grey_image(int w, int h) {
  image img(w, h);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = grey[i % 3];
  return img;
}

rgb_colour pixel(const image& img, int x, int y) {
  const std::uint8_t* p = img.row(y) + static_cast<std::size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

// Every pixel is the box colour exactly on the t-pixel band inside [x0, x1) x [y0, y1) and grey
// everywhere else, just inside and just outside the edges included. Counted, then checked once,
// so that large images stay fast; the first wrong pixel is reported.
void check_outline(const image& img, int x0, int y0, int x1, int y1, int t, const rgb_colour& c) {
  int wrong = 0;
  std::string first;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const bool in_box = x >= x0 && x < x1 && y >= y0 && y < y1;
      const bool on_edge = in_box && (x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t);
      if (pixel(img, x, y) != (on_edge ? c : grey) && wrong++ == 0)
        first = fmt::format("({}, {}) {}", x, y, on_edge ? "not drawn" : "drawn");  // (string + chains trip GCC 12's -Wrestrict at -O3)
    }
  INFO("first wrong pixel: " << first);
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("draw_boxes: the outline lands exactly on the box edges", "[draw]") {
  for (int t : {1, 3}) {
    SECTION("thickness " + std::to_string(t)) {
      auto img = grey_image(40, 30);
      draw_boxes(img, {{10, 8, 15, 12, "", 2}}, t);
      check_outline(img, 10, 8, 25, 20, t, box_colour(2));
    }
  }
  SECTION("automatic thickness grows with the box: a 400-pixel box gets 2") {
    auto img = grey_image(420, 410);
    draw_boxes(img, {{5, 3, 400, 400, "", 0}});
    check_outline(img, 5, 3, 405, 403, 2, box_colour(0));
  }
}

TEST_CASE("draw_boxes: a box partly outside the image is clipped", "[draw]") {
  auto img = grey_image(60, 40);
  // Over the top-left corner, and over the bottom-right corner with a huge but finite size.
  draw_boxes(img, {{-5, -5, 15, 15, "left", 0}, {55, 35, 1e300, 1e300, "r", 1}}, 1);
  REQUIRE(img.width == 60);
  REQUIRE(img.height == 40);
  REQUIRE(img.pixels.size() == 60u * 40u * 3u);
  // The visible right and bottom edges of the first box (its label sits inside it, at the top)...
  CHECK(pixel(img, 9, 9) == box_colour(0));
  CHECK(pixel(img, 5, 9) == box_colour(0));
  CHECK(pixel(img, 0, 0) != grey);
  // ... and the top and left edges of the second, whose label slides left to stay on the image.
  CHECK(pixel(img, 59, 35) == box_colour(1));
  CHECK(pixel(img, 55, 39) == box_colour(1));
  CHECK(pixel(img, 52, 30) == grey);
  CHECK(pixel(img, 53, 30) == box_colour(1));
  CHECK(pixel(img, 59, 30) == box_colour(1));
  CHECK(pixel(img, 30, 20) == grey);
  CHECK(pixel(img, 12, 12) == grey);
}

TEST_CASE("draw_boxes: a box entirely outside the image changes nothing", "[draw]") {
  auto img = grey_image(30, 20);
  const auto before = img.pixels;
  draw_boxes(img, {{30, 0, 10, 10, "right of it", 0},
                   {-50, -50, 10, 10, "above it", 1},
                   {0, 20, 5, 5, "below it", 2},
                   {-1e300, 5, 1e10, 5, "far left", 3}});
  CHECK(img.pixels == before);
}

TEST_CASE("draw_boxes: the label is drawn above the box in a contrasting colour", "[draw]") {
  auto img = grey_image(80, 60);
  draw_boxes(img, {{10, 30, 40, 20, "A1", 3}}, 1);
  const auto c = box_colour(3);
  // The label is 9 pixels tall at scale 1 and spans the 9 rows just above the box.
  int background = 0, text = 0;
  rgb_colour text_colour{};
  for (int y = 21; y < 30; ++y)
    for (int x = 10; x < 10 + 13; ++x) {
      const auto p = pixel(img, x, y);
      if (p == c) {
        ++background;
      } else {
        REQUIRE(p != grey);
        if (text == 0) text_colour = p;
        REQUIRE(p == text_colour);
        ++text;
      }
    }
  CHECK(background > 0);
  CHECK(text > 0);
  CHECK((text_colour == rgb_colour{0, 0, 0} || text_colour == rgb_colour{255, 255, 255}));
  CHECK(pixel(img, 10, 20) == grey);  // nothing above the label
  CHECK(pixel(img, 30, 35) == grey);  // nor inside the box

  SECTION("with no room above it goes inside the box") {
    auto top = grey_image(80, 60);
    draw_boxes(top, {{10, 2, 40, 20, "A1", 3}}, 1);
    CHECK(pixel(top, 10, 1) == grey);
    int changed = 0;
    for (int y = 3; y < 11; ++y)
      for (int x = 11; x < 22; ++x) changed += pixel(top, x, y) != grey;
    CHECK(changed == 8 * 11);
  }
}

TEST_CASE("draw_boxes: different colour indices give different colours", "[draw]") {
  auto img = grey_image(40, 20);
  draw_boxes(img, {{2, 2, 10, 10, "", 0}, {20, 2, 10, 10, "", 1}}, 1);
  CHECK(pixel(img, 2, 2) != pixel(img, 20, 2));
  CHECK(pixel(img, 2, 2) != grey);
  CHECK(pixel(img, 20, 2) != grey);
  for (int i = 0; i < 10; ++i)
    for (int j = i + 1; j < 10; ++j) CHECK(box_colour(i) != box_colour(j));
  CHECK(box_colour(10) == box_colour(0));
  CHECK(box_colour(-1) == box_colour(9));
}

TEST_CASE("draw_boxes: an invalid box throws invalid_argument and draws nothing", "[draw]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const auto& bad : {box_drawing{nan, 0, 5, 5, "", 0}, box_drawing{0, 0, -1, 5, "", 0},
                          box_drawing{0, inf, 5, 5, "", 0}, box_drawing{0, 0, 5, nan, "", 0}}) {
    auto img = grey_image(20, 20);
    const auto before = img.pixels;
    try {
      draw_boxes(img, {{1, 1, 5, 5, "ok", 0}, bad});
      FAIL("no error thrown");
    } catch (const tailor::error& e) {
      CHECK(e.code() == failure_code::invalid_argument);
      CHECK(std::string(e.what()).find("box 1") != std::string::npos);
    }
    CHECK(img.pixels == before);
  }
}

TEST_CASE("draw_boxes: an empty box list changes nothing", "[draw]") {
  auto img = grey_image(16, 9);
  const auto before = img.pixels;
  draw_boxes(img, {});
  draw_boxes(img, {}, 4);
  CHECK(img.pixels == before);
}
