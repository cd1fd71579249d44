#pragma once
// Drawing detection boxes with their labels onto an image, to look at what a detector found.
//
// Self-contained on purpose: a built-in 5x7 bitmap font and plain rectangle fills, so showing
// detections needs no font files or drawing library. Everything is clipped to the image, and the
// boxes are all checked before the first pixel is written, so a bad box leaves the image untouched.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/data/image.hpp"

namespace tailor::data {

struct box_drawing {
  double x = 0, y = 0, width = 0, height = 0;  // pixels of the image, COCO-style top-left + size
  std::string label;                           // drawn above the box (inside it when no room above); may be empty
  int colour_index = 0;                        // picks a colour of the palette, modulo its 10 colours
};

using rgb_colour = std::array<std::uint8_t, 3>;

// Ten colours far apart in hue and lightness (from Trubetskoy's "distinct colours"), so up to ten
// classes can be told apart at a glance; index 0 is red, the colour most people look for first.
inline constexpr std::array<rgb_colour, 10> box_palette{{
    {230, 25, 75},    // red
    {60, 180, 75},    // green
    {255, 225, 25},   // yellow
    {0, 130, 200},    // blue
    {245, 130, 48},   // orange
    {145, 30, 180},   // purple
    {70, 240, 240},   // cyan
    {240, 50, 230},   // magenta
    {0, 128, 128},    // teal
    {170, 110, 40},   // brown
}};

// The colour draw_boxes uses for a colour_index (any int, negative ones included), e.g. for a legend.
constexpr rgb_colour box_colour(int colour_index) noexcept {
  const int n = static_cast<int>(box_palette.size());
  return box_palette[static_cast<std::size_t>(((colour_index % n) + n) % n)];
}

namespace detail {

// The 5x7 font for printable ASCII 32..126: five column bytes per glyph, left to right, bit 0 the
// top row and bit 6 the bottom row (descenders of g, j, p, q, y included). Columns, not rows,
// because that keeps each glyph on one short line.
inline constexpr int draw_glyph_width = 5;
inline constexpr int draw_glyph_height = 7;
inline constexpr std::array<std::array<std::uint8_t, 5>, 95> draw_font{{
    {0x00, 0x00, 0x00, 0x00, 0x00},  // ' '
    {0x00, 0x00, 0x5F, 0x00, 0x00},  // !
    {0x00, 0x07, 0x00, 0x07, 0x00},  // "
    {0x14, 0x7F, 0x14, 0x7F, 0x14},  // #
    {0x24, 0x2A, 0x7F, 0x2A, 0x12},  // $
    {0x23, 0x13, 0x08, 0x64, 0x62},  // %
    {0x36, 0x49, 0x55, 0x22, 0x50},  // &
    {0x00, 0x05, 0x03, 0x00, 0x00},  // '
    {0x00, 0x1C, 0x22, 0x41, 0x00},  // (
    {0x00, 0x41, 0x22, 0x1C, 0x00},  // )
    {0x14, 0x08, 0x3E, 0x08, 0x14},  // *
    {0x08, 0x08, 0x3E, 0x08, 0x08},  // +
    {0x00, 0x50, 0x30, 0x00, 0x00},  // ,
    {0x08, 0x08, 0x08, 0x08, 0x08},  // -
    {0x00, 0x60, 0x60, 0x00, 0x00},  // .
    {0x20, 0x10, 0x08, 0x04, 0x02},  // /
    {0x3E, 0x51, 0x49, 0x45, 0x3E},  // 0
    {0x00, 0x42, 0x7F, 0x40, 0x00},  // 1
    {0x42, 0x61, 0x51, 0x49, 0x46},  // 2
    {0x21, 0x41, 0x45, 0x4B, 0x31},  // 3
    {0x18, 0x14, 0x12, 0x7F, 0x10},  // 4
    {0x27, 0x45, 0x45, 0x45, 0x39},  // 5
    {0x3C, 0x4A, 0x49, 0x49, 0x30},  // 6
    {0x01, 0x71, 0x09, 0x05, 0x03},  // 7
    {0x36, 0x49, 0x49, 0x49, 0x36},  // 8
    {0x06, 0x49, 0x49, 0x29, 0x1E},  // 9
    {0x00, 0x36, 0x36, 0x00, 0x00},  // :
    {0x00, 0x56, 0x36, 0x00, 0x00},  // ;
    {0x08, 0x14, 0x22, 0x41, 0x00},  // <
    {0x14, 0x14, 0x14, 0x14, 0x14},  // =
    {0x00, 0x41, 0x22, 0x14, 0x08},  // >
    {0x02, 0x01, 0x51, 0x09, 0x06},  // ?
    {0x32, 0x49, 0x79, 0x41, 0x3E},  // @
    {0x7E, 0x11, 0x11, 0x11, 0x7E},  // A
    {0x7F, 0x49, 0x49, 0x49, 0x36},  // B
    {0x3E, 0x41, 0x41, 0x41, 0x22},  // C
    {0x7F, 0x41, 0x41, 0x22, 0x1C},  // D
    {0x7F, 0x49, 0x49, 0x49, 0x41},  // E
    {0x7F, 0x09, 0x09, 0x09, 0x01},  // F
    {0x3E, 0x41, 0x49, 0x49, 0x7A},  // G
    {0x7F, 0x08, 0x08, 0x08, 0x7F},  // H
    {0x00, 0x41, 0x7F, 0x41, 0x00},  // I
    {0x20, 0x40, 0x41, 0x3F, 0x01},  // J
    {0x7F, 0x08, 0x14, 0x22, 0x41},  // K
    {0x7F, 0x40, 0x40, 0x40, 0x40},  // L
    {0x7F, 0x02, 0x0C, 0x02, 0x7F},  // M
    {0x7F, 0x04, 0x08, 0x10, 0x7F},  // N
    {0x3E, 0x41, 0x41, 0x41, 0x3E},  // O
    {0x7F, 0x09, 0x09, 0x09, 0x06},  // P
    {0x3E, 0x41, 0x51, 0x21, 0x5E},  // Q
    {0x7F, 0x09, 0x19, 0x29, 0x46},  // R
    {0x46, 0x49, 0x49, 0x49, 0x31},  // S
    {0x01, 0x01, 0x7F, 0x01, 0x01},  // T
    {0x3F, 0x40, 0x40, 0x40, 0x3F},  // U
    {0x1F, 0x20, 0x40, 0x20, 0x1F},  // V
    {0x3F, 0x40, 0x38, 0x40, 0x3F},  // W
    {0x63, 0x14, 0x08, 0x14, 0x63},  // X
    {0x07, 0x08, 0x70, 0x08, 0x07},  // Y
    {0x61, 0x51, 0x49, 0x45, 0x43},  // Z
    {0x00, 0x7F, 0x41, 0x41, 0x00},  // [
    {0x02, 0x04, 0x08, 0x10, 0x20},  // backslash
    {0x00, 0x41, 0x41, 0x7F, 0x00},  // ]
    {0x04, 0x02, 0x01, 0x02, 0x04},  // ^
    {0x40, 0x40, 0x40, 0x40, 0x40},  // _
    {0x00, 0x01, 0x02, 0x04, 0x00},  // `
    {0x20, 0x54, 0x54, 0x54, 0x78},  // a
    {0x7F, 0x48, 0x44, 0x44, 0x38},  // b
    {0x38, 0x44, 0x44, 0x44, 0x20},  // c
    {0x38, 0x44, 0x44, 0x48, 0x7F},  // d
    {0x38, 0x54, 0x54, 0x54, 0x18},  // e
    {0x08, 0x7E, 0x09, 0x01, 0x02},  // f
    {0x08, 0x54, 0x54, 0x54, 0x3C},  // g
    {0x7F, 0x08, 0x04, 0x04, 0x78},  // h
    {0x00, 0x44, 0x7D, 0x40, 0x00},  // i
    {0x20, 0x40, 0x44, 0x3D, 0x00},  // j
    {0x7F, 0x10, 0x28, 0x44, 0x00},  // k
    {0x00, 0x41, 0x7F, 0x40, 0x00},  // l
    {0x7C, 0x04, 0x18, 0x04, 0x78},  // m
    {0x7C, 0x08, 0x04, 0x04, 0x78},  // n
    {0x38, 0x44, 0x44, 0x44, 0x38},  // o
    {0x7C, 0x14, 0x14, 0x14, 0x08},  // p
    {0x08, 0x14, 0x14, 0x18, 0x7C},  // q
    {0x7C, 0x08, 0x04, 0x04, 0x08},  // r
    {0x48, 0x54, 0x54, 0x54, 0x20},  // s
    {0x04, 0x3F, 0x44, 0x40, 0x20},  // t
    {0x3C, 0x40, 0x40, 0x20, 0x7C},  // u
    {0x1C, 0x20, 0x40, 0x20, 0x1C},  // v
    {0x3C, 0x40, 0x30, 0x40, 0x3C},  // w
    {0x44, 0x28, 0x10, 0x28, 0x44},  // x
    {0x0C, 0x50, 0x50, 0x50, 0x3C},  // y
    {0x44, 0x64, 0x54, 0x4C, 0x44},  // z
    {0x00, 0x08, 0x36, 0x41, 0x00},  // {
    {0x00, 0x00, 0x7F, 0x00, 0x00},  // |
    {0x00, 0x41, 0x36, 0x08, 0x00},  // }
    {0x08, 0x04, 0x08, 0x10, 0x08},  // ~
}};

// Drawn for anything outside printable ASCII, so an unsupported character is visibly there.
inline constexpr std::array<std::uint8_t, 5> draw_unknown_glyph{0x7F, 0x41, 0x41, 0x41, 0x7F};

// A pixel rectangle [x0, x1) x [y0, y1). 64-bit so that far-off boxes cannot overflow.
struct draw_rect {
  std::int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Fills the part of r inside the image; the only place pixels are written, so clipping lives here.
inline void draw_fill(image& img, draw_rect r, const rgb_colour& c) noexcept {
  const auto x0 = std::max<std::int64_t>(r.x0, 0), x1 = std::min<std::int64_t>(r.x1, img.width);
  const auto y0 = std::max<std::int64_t>(r.y0, 0), y1 = std::min<std::int64_t>(r.y1, img.height);
  if (x0 >= x1 || y0 >= y1) return;
  for (auto y = y0; y < y1; ++y) {
    std::uint8_t* p = img.row(static_cast<int>(y)) + x0 * 3;
    for (auto x = x0; x < x1; ++x, p += 3) {
      p[0] = c[0];
      p[1] = c[1];
      p[2] = c[2];
    }
  }
}

// A coordinate rounded to the nearest pixel edge, held within +-2^40 so that huge but finite
// values convert to integers without overflow and still land far outside any image.
inline std::int64_t draw_edge(double v) noexcept {
  constexpr double limit = 1099511627776.0;
  return static_cast<std::int64_t>(std::clamp(std::floor(v + 0.5), -limit, limit));
}

// Black or white, whichever has the higher WCAG contrast ratio against the background.
inline rgb_colour draw_text_colour(const rgb_colour& background) noexcept {
  double luminance = 0;
  constexpr std::array<double, 3> weights{0.2126, 0.7152, 0.0722};
  for (std::size_t i = 0; i < 3; ++i) {
    const double s = background[i] / 255.0;
    luminance += weights[i] * (s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4));
  }
  const double against_black = (luminance + 0.05) / 0.05, against_white = 1.05 / (luminance + 0.05);
  return against_black >= against_white ? rgb_colour{0, 0, 0} : rgb_colour{255, 255, 255};
}

// Number of glyphs drawn for a label: UTF-8 continuation bytes are skipped so that a non-ASCII
// character shows as one hollow box rather than one per byte.
inline std::int64_t draw_glyph_count(const std::string& text) noexcept {
  std::int64_t n = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// Draws text with its top-left corner at (x, y), each font pixel an s x s block.
inline void draw_text(image& img, std::int64_t x, std::int64_t y, const std::string& text, std::int64_t s,
                      const rgb_colour& c) noexcept {
  for (char byte : text) {
    const auto ch = static_cast<unsigned char>(byte);
    if ((ch & 0xC0) == 0x80) continue;
    const auto& glyph = ch >= 32 && ch <= 126 ? draw_font[ch - 32] : draw_unknown_glyph;
    for (int col = 0; col < draw_glyph_width; ++col)
      for (int row = 0; row < draw_glyph_height; ++row)
        if ((glyph[static_cast<std::size_t>(col)] >> row) & 1)
          draw_fill(img, {x + col * s, y + row * s, x + (col + 1) * s, y + (row + 1) * s}, c);
    x += (draw_glyph_width + 1) * s;
    if (x >= img.width) return;  // the rest is clipped anyway
  }
}

}  // namespace detail

// Draws each box's outline (inside the box, `thickness` pixels thick, or when thickness <= 0
// max(1, round(min(width, height) / 200))) and, when its label is not empty, the label in black or
// white on a filled background of the box colour. Labels sit above their box, inside it when there
// is no room above, and are drawn after every outline so no outline crosses a label. Text scales by
// max(1, min(image width, image height) / 400). Everything is clipped to the image; a box entirely
// outside it draws nothing. A box with a non-finite value or a negative size throws
// error{invalid_argument} naming it, before anything is drawn.
inline void draw_boxes(image& img, const std::vector<box_drawing>& boxes, int thickness = 0) {
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    const bool finite =
        std::isfinite(b.x) && std::isfinite(b.y) && std::isfinite(b.width) && std::isfinite(b.height);
    if (!finite || b.width < 0 || b.height < 0)
      throw error(failure_code::invalid_argument,
                  fmt::format("cannot draw box {} (x={}, y={}, width={}, height={}): every value must be finite "
                              "and width and height must not be negative",
                              i, b.x, b.y, b.width, b.height));
  }
  if (img.width <= 0 || img.height <= 0 || boxes.empty()) return;
  if (img.pixels.size() != img.row_bytes() * static_cast<std::size_t>(img.height))
    throw error(failure_code::invalid_argument,
                fmt::format("cannot draw on an image of {}x{} pixels holding {} bytes instead of {}", img.width,
                            img.height, img.pixels.size(), img.row_bytes() * static_cast<std::size_t>(img.height)));

  // The pixel rectangle of a box; a zero-size box still covers one pixel so it stays visible.
  const auto box_rect = [](const box_drawing& b) {
    detail::draw_rect r{detail::draw_edge(b.x), detail::draw_edge(b.y), detail::draw_edge(b.x + b.width),
                        detail::draw_edge(b.y + b.height)};
    r.x1 = std::max(r.x1, r.x0 + 1);
    r.y1 = std::max(r.y1, r.y0 + 1);
    return r;
  };
  const auto outside = [&](const detail::draw_rect& r) {
    return r.x1 <= 0 || r.y1 <= 0 || r.x0 >= img.width || r.y0 >= img.height;
  };

  for (const auto& b : boxes) {
    const auto r = box_rect(b);
    if (outside(r)) continue;
    std::int64_t t = thickness;
    if (t <= 0)  // capped before the conversion: huge boxes would overflow it, and no image is that large
      t = static_cast<std::int64_t>(std::max(1.0, std::min(std::round(std::min(b.width, b.height) / 200), 1e9)));
    const auto c = box_colour(b.colour_index);
    // The four bands, each kept within the box so a thick outline never grows outward.
    detail::draw_fill(img, {r.x0, r.y0, r.x1, std::min(r.y0 + t, r.y1)}, c);
    detail::draw_fill(img, {r.x0, std::max(r.y1 - t, r.y0), r.x1, r.y1}, c);
    detail::draw_fill(img, {r.x0, r.y0, std::min(r.x0 + t, r.x1), r.y1}, c);
    detail::draw_fill(img, {std::max(r.x1 - t, r.x0), r.y0, r.x1, r.y1}, c);
  }

  const std::int64_t s = std::max(1, std::min(img.width, img.height) / 400);
  for (const auto& b : boxes) {
    const auto r = box_rect(b);
    if (b.label.empty() || outside(r)) continue;
    // A margin of one font pixel (s) around the text; the glyph gap after the last glyph is the right margin.
    const std::int64_t label_w = s + detail::draw_glyph_count(b.label) * (detail::draw_glyph_width + 1) * s;
    const std::int64_t label_h = (detail::draw_glyph_height + 2) * s;
    // Slid sideways to stay on the image when the box touches its left or right edge.
    const std::int64_t lx = std::clamp<std::int64_t>(r.x0, 0, std::max<std::int64_t>(img.width - label_w, 0));
    const std::int64_t ly = r.y0 - label_h >= 0 ? r.y0 - label_h : std::max<std::int64_t>(r.y0, 0);
    const auto c = box_colour(b.colour_index);
    detail::draw_fill(img, {lx, ly, lx + label_w, ly + label_h}, c);
    detail::draw_text(img, lx + s, ly + s, b.label, s, detail::draw_text_colour(c));
  }
}

}  // namespace tailor::data
