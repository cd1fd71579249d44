#pragma once
// The deterministic example dataset: rendered scenes of simple objects (circles, squares,
// triangles, crosses) of random colours, sizes, positions and rotations on varied backgrounds with
// noise, written as JPEG files with COCO association files for classification, multilabel and
// detection.
//
// The class of an object is its shape only: colours, sizes and backgrounds are drawn independently
// of it, so a model has to learn shape. Every random value comes from std::mt19937_64 (whose output
// the standard fixes) through arithmetic written here (the standard distributions are not
// portable), and the rasterizer works in integers, so the same seed gives the same pixels with any
// standard library, compiler or CPU, and byte-identical files wherever the JPEG encoder is the same
// libjpeg-turbo. Each image has its own generator, seeded from (seed, kind, index), so an image
// does not depend on how many images come before it.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <tailor/core/error.hpp>
#include <tailor/core/file_io.hpp>
#include <tailor/data/image.hpp>
#include <tailor/data/image_encode.hpp>

namespace tailor::examples {

struct example_data_options {
  std::uint64_t seed = 7;
  int classification_images_per_class = 50;  // split 80/20: every fifth image of a class is a test image
  int detection_images = 160;                // split 75/25: every fourth image is a test image
};

struct example_data_summary {
  std::filesystem::path root;
  std::vector<std::string> classes;                  // category ids are 1..classes.size(), in this order
  std::vector<std::filesystem::path> coco_files;     // classification, multilabel, detection; train then test
  std::size_t images = 0, boxes = 0;                 // image files written; detection boxes written
};

namespace detail {

// ---- random values from the raw 64-bit output (portable, unlike std::*_distribution) ----------

using rng_t = std::mt19937_64;

// SplitMix64 finalizer: spreads (seed, stream, index) into independent generator seeds.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline rng_t image_rng(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return rng_t{mix64(mix64(mix64(seed) ^ stream) ^ index)};
}

// Integer in [lo, hi]. The modulo bias is below 2^-50 for the ranges used here.
inline int uniform_int(rng_t& rng, int lo, int hi) {
  const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo) + 1;
  return static_cast<int>(lo + static_cast<std::int64_t>(rng() % span));
}

// ---- geometry ------------------------------------------------------------------------------

enum class shape_kind { circle = 0, square = 1, triangle = 2, cross = 3 };
inline constexpr int shape_kind_count = 4;
inline constexpr std::array<const char*, shape_kind_count> shape_names{"circle", "square", "triangle", "cross"};

// Shape coordinates are in 1/subpixel pixel units so the rasterizer needs no floating point.
inline constexpr int subpixel = 8;
inline constexpr int samples_per_axis = 4;  // 4x4 supersampling: coverage 0..16 per pixel
inline constexpr int samples_per_pixel = samples_per_axis * samples_per_axis;
inline constexpr std::int64_t trig_one = 4096;  // fixed-point scale of sines and cosines

// A shape: its centre, the radius of its circumscribed circle (every vertex lies on it, so it
// bounds the drawn pixels), and its rotation. cx, cy, radius are in 1/subpixel pixels.
struct shape {
  shape_kind kind = shape_kind::circle;
  int cx = 0, cy = 0, radius = 0;
  int angle_degrees = 0;
};

struct rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// A box in absolute pixels: the pixel columns x..x+w-1 and rows y..y+h-1. Empty when w or h is 0.
struct box {
  int x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
  friend bool operator==(const box&, const box&) = default;
};

// cos and sin of a whole number of degrees, times trig_one, rounded. Rounding makes any libm's
// last-bit differences irrelevant: for every angle the product is at least 0.0048 from a .5
// rounding boundary.
inline std::array<std::int64_t, 2> unit_vector(int degrees) {
  const double a = static_cast<double>(((degrees % 360) + 360) % 360) * (3.14159265358979323846 / 180.0);
  return {static_cast<std::int64_t>(std::llround(std::cos(a) * static_cast<double>(trig_one))),
          static_cast<std::int64_t>(std::llround(std::sin(a) * static_cast<double>(trig_one)))};
}

// Coverage of a shape over a window of pixels: 0..samples_per_pixel samples inside, per pixel.
struct coverage {
  int x0 = 0, y0 = 0, width = 0, height = 0;
  std::vector<std::uint8_t> samples;  // row-major, width * height

  int at(int x, int y) const { return samples[static_cast<std::size_t>(y - y0) * width + (x - x0)]; }

  // The tight box of the pixels the shape touches (coverage > 0).
  box extent() const {
    int xmin = std::numeric_limits<int>::max(), ymin = xmin, xmax = -1, ymax = -1;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        if (samples[static_cast<std::size_t>(y) * width + x] > 0) {
          xmin = std::min(xmin, x), xmax = std::max(xmax, x);
          ymin = std::min(ymin, y), ymax = std::max(ymax, y);
        }
    if (xmax < 0) return {};
    return {x0 + xmin, y0 + ymin, xmax - xmin + 1, ymax - ymin + 1};
  }

  // Covered area in pixels (exact: a multiple of 1/16).
  double area() const {
    std::int64_t n = 0;
    for (auto s : samples) n += s;
    return static_cast<double>(n) / samples_per_pixel;
  }
};

// Floor division for possibly negative numerators.
inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The inside test of a shape, in integers. |dx|, |dy| < 2^16 and the scales are 2^12, so
// nothing overflows int64.
struct shape_tester {
  shape_kind kind;
  std::int64_t r, c, s;             // radius; cos and sin of the rotation, times trig_one
  std::int64_t half_side;           // square: r / sqrt(2), times trig_one
  std::int64_t arm, thickness;      // cross: half arm length and half arm width, times trig_one
  std::array<std::array<std::int64_t, 2>, 3> normals{};  // triangle: outward edge normals

  explicit shape_tester(const shape& sh) : kind(sh.kind), r(sh.radius) {
    const auto cs = unit_vector(sh.angle_degrees);
    c = cs[0], s = cs[1];
    half_side = r * 2896;  // 4096 / sqrt(2)
    arm = r * 3850;        // 0.94 r: the arm's corner then lies at 1.007 r, about on the circle
    thickness = r * 1386;  // 0.36 of the arm
    // Vertices at rotation - 90, + 30, + 150 degrees; each edge's normal points away from the
    // opposite vertex. Inradius is r / 2.
    for (int k = 0; k < 3; ++k) normals[static_cast<std::size_t>(k)] = unit_vector(sh.angle_degrees + 90 + 120 * k);
  }

  // For the polygons: a max/min of linear functions of (dx, dy) with coefficients of at most
  // trig_one, <= 0 exactly inside. Moving the point by at most 3 subpixels per axis changes it by
  // at most 3 * (|c| + |s|) < polygon_margin, which lets a whole pixel be decided from its centre.
  std::int64_t field(std::int64_t dx, std::int64_t dy) const {
    switch (kind) {
      case shape_kind::circle: return 0;  // not used: circles compare squared distances
      case shape_kind::square: {
        const std::int64_t u = std::abs(dx * c + dy * s), v = std::abs(dy * c - dx * s);
        return std::max(u, v) - half_side;
      }
      case shape_kind::triangle: {
        std::int64_t m = std::numeric_limits<std::int64_t>::min();
        for (const auto& n : normals) m = std::max(m, dx * n[0] + dy * n[1]);
        return m - r * trig_one / 2;
      }
      case shape_kind::cross: {
        const std::int64_t u = std::abs(dx * c + dy * s), v = std::abs(dy * c - dx * s);
        return std::min(std::max(u - arm, v - thickness), std::max(v - arm, u - thickness));
      }
    }
    return 0;
  }
  static constexpr std::int64_t polygon_margin = 18000;  // > 3 * sqrt(2) * (trig_one + 1)

  // Whether one sample point (dx, dy relative to the centre, in 1/subpixel pixels) is inside.
  bool inside(std::int64_t dx, std::int64_t dy) const {
    return kind == shape_kind::circle ? dx * dx + dy * dy <= r * r : field(dx, dy) <= 0;
  }

  // How many of the 4x4 samples of the pixel centred at (dx, dy) are inside (samples sit at
  // +-1 and +-3 subpixels from the centre). Pixels far from the outline are decided at once.
  int pixel_coverage(std::int64_t dx, std::int64_t dy) const {
    if (kind == shape_kind::circle) {
      const std::int64_t d2 = dx * dx + dy * dy;  // samples are within 3 sqrt(2) < 5 of the centre
      if (d2 >= (r + 5) * (r + 5)) return 0;
      if (r > 5 && d2 <= (r - 5) * (r - 5)) return samples_per_pixel;
    } else {
      const std::int64_t f = field(dx, dy);
      if (f > polygon_margin) return 0;
      if (f < -polygon_margin) return samples_per_pixel;
    }
    int n = 0;
    for (int sy = -3; sy <= 3; sy += 2)
      for (int sx = -3; sx <= 3; sx += 2) n += inside(dx + sx, dy + sy) ? 1 : 0;
    return n;
  }
};

// Supersampled coverage of `sh`, clipped to an image of the given size.
inline coverage rasterize(const shape& sh, int image_width, int image_height) {
  static_assert(subpixel == 8 && samples_per_axis == 4, "pixel_coverage assumes samples at +-1, +-3 of 8");
  // The shape lies within its circumscribed circle; the cross's corners reach 1.007 r.
  const int reach = sh.radius + sh.radius / 64 + subpixel;
  coverage cov;
  cov.x0 = std::max(0, floor_div(sh.cx - reach, subpixel));
  cov.y0 = std::max(0, floor_div(sh.cy - reach, subpixel));
  const int x1 = std::min(image_width - 1, floor_div(sh.cx + reach, subpixel));
  const int y1 = std::min(image_height - 1, floor_div(sh.cy + reach, subpixel));
  if (x1 < cov.x0 || y1 < cov.y0) return cov;
  cov.width = x1 - cov.x0 + 1, cov.height = y1 - cov.y0 + 1;
  cov.samples.assign(static_cast<std::size_t>(cov.width) * cov.height, 0);
  const shape_tester t(sh);
  std::size_t i = 0;
  for (int y = cov.y0; y <= y1; ++y)
    for (int x = cov.x0; x <= x1; ++x)
      cov.samples[i++] = static_cast<std::uint8_t>(
          t.pixel_coverage(std::int64_t{x} * subpixel + subpixel / 2 - sh.cx, std::int64_t{y} * subpixel + subpixel / 2 - sh.cy));
  return cov;
}

inline std::uint8_t* pixel_at(data::image& img, int x, int y) {
  return img.pixels.data() + (static_cast<std::size_t>(y) * img.width + x) * 3;
}
inline const std::uint8_t* pixel_at(const data::image& img, int x, int y) {
  return img.pixels.data() + (static_cast<std::size_t>(y) * img.width + x) * 3;
}

// Blends `colour` over the image by coverage (anti-aliased edges).
inline void paint(data::image& img, const coverage& cov, rgb colour) {
  const std::array<int, 3> fg{colour.r, colour.g, colour.b};
  for (int y = cov.y0; y < cov.y0 + cov.height; ++y)
    for (int x = cov.x0; x < cov.x0 + cov.width; ++x) {
      const int n = cov.at(x, y);
      if (n == 0) continue;
      auto* p = pixel_at(img, x, y);
      for (int ch = 0; ch < 3; ++ch)
        p[ch] = static_cast<std::uint8_t>((p[ch] * (samples_per_pixel - n) + fg[static_cast<std::size_t>(ch)] * n +
                                           samples_per_pixel / 2) / samples_per_pixel);
    }
}

// Draws a shape and returns the tight box of the pixels it touched.
inline box render_shape(data::image& img, const shape& sh, rgb colour) {
  const auto cov = rasterize(sh, img.width, img.height);
  paint(img, cov, colour);
  return cov.extent();
}

// ---- backgrounds, colours, noise -------------------------------------------------------------

enum class background_kind { solid = 0, vertical_gradient = 1, horizontal_gradient = 2, blobs = 3 };

inline std::uint8_t clamp_byte(int v) { return static_cast<std::uint8_t>(std::clamp(v, 0, 255)); }

inline rgb random_colour(rng_t& rng) {
  return {static_cast<std::uint8_t>(uniform_int(rng, 0, 255)), static_cast<std::uint8_t>(uniform_int(rng, 0, 255)),
          static_cast<std::uint8_t>(uniform_int(rng, 0, 255))};
}

// A colour near `base`: each channel moved by at most `spread`.
inline rgb nearby_colour(rng_t& rng, rgb base, int spread) {
  return {clamp_byte(base.r + uniform_int(rng, -spread, spread)), clamp_byte(base.g + uniform_int(rng, -spread, spread)),
          clamp_byte(base.b + uniform_int(rng, -spread, spread))};
}

// Linear interpolation a + (b - a) * t / one, rounded, in integers.
inline std::uint8_t lerp_byte(int a, int b, std::int64_t t, std::int64_t one) {
  return static_cast<std::uint8_t>((a * (one - t) + b * t + one / 2) / one);
}

// A random background: a solid colour, a vertical or horizontal gradient between two colours, or
// low-frequency blobs (a coarse grid of colours, smoothly interpolated).
inline data::image render_background(rng_t& rng, int width, int height) {
  data::image img(width, height);
  const auto kind = static_cast<background_kind>(uniform_int(rng, 0, 3));
  const rgb base = random_colour(rng);
  switch (kind) {
    case background_kind::solid:
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          auto* p = pixel_at(img, x, y);
          p[0] = base.r, p[1] = base.g, p[2] = base.b;
        }
      break;
    case background_kind::vertical_gradient:
    case background_kind::horizontal_gradient: {
      const rgb other = nearby_colour(rng, base, 90);
      const bool vertical = kind == background_kind::vertical_gradient;
      const std::int64_t one = std::max(1, (vertical ? height : width) - 1);
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          const std::int64_t t = vertical ? y : x;
          auto* p = pixel_at(img, x, y);
          p[0] = lerp_byte(base.r, other.r, t, one), p[1] = lerp_byte(base.g, other.g, t, one);
          p[2] = lerp_byte(base.b, other.b, t, one);
        }
      break;
    }
    case background_kind::blobs: {
      const int gx = uniform_int(rng, 2, 4), gy = uniform_int(rng, 2, 3);
      std::vector<rgb> grid(static_cast<std::size_t>((gx + 1) * (gy + 1)));
      for (auto& g : grid) g = nearby_colour(rng, base, 80);
      auto node = [&](int i, int j) { return grid[static_cast<std::size_t>(j * (gx + 1) + i)]; };
      // Position in the grid in 1/256 cells, eased by smoothstep so cell borders do not show.
      auto cell = [](int p, int size, int cells, int& index, std::int64_t& frac) {
        const int q = p * cells * 256 / std::max(1, size - 1);
        index = std::min(q / 256, cells - 1);
        const std::int64_t f = q - index * 256;
        frac = f * f * (768 - 2 * f) / 65536;  // 0..256
      };
      std::vector<int> column_cell(static_cast<std::size_t>(width));
      std::vector<std::int64_t> column_frac(static_cast<std::size_t>(width));
      for (int x = 0; x < width; ++x)
        cell(x, width, gx, column_cell[static_cast<std::size_t>(x)], column_frac[static_cast<std::size_t>(x)]);
      for (int y = 0; y < height; ++y) {
        int j = 0;
        std::int64_t fy = 0;
        cell(y, height, gy, j, fy);
        auto* p = img.row(y);
        for (int x = 0; x < width; ++x, p += 3) {
          const int i = column_cell[static_cast<std::size_t>(x)];
          const std::int64_t fx = column_frac[static_cast<std::size_t>(x)];
          const rgb a = node(i, j), b = node(i + 1, j), c = node(i, j + 1), d = node(i + 1, j + 1);
          auto mix = [&](int va, int vb, int vc, int vd) {
            const std::int64_t v = va * (256 - fx) * (256 - fy) + vb * fx * (256 - fy) + vc * (256 - fx) * fy + vd * fx * fy;
            return static_cast<std::uint8_t>((v + 32768) >> 16);
          };
          p[0] = mix(a.r, b.r, c.r, d.r), p[1] = mix(a.g, b.g, c.g, d.g), p[2] = mix(a.b, b.b, c.b, d.b);
        }
      }
      break;
    }
  }
  return img;
}

inline int luma(int r, int g, int b) { return (77 * r + 150 * g + 29 * b + 128) >> 8; }

// A random colour that stands out from every part of the background under the shape: far in RGB
// and in brightness from a 5x5 grid of background samples over the shape's window. Falls back to
// black or white, whichever is further in brightness, when a few dozen tries find none.
inline rgb contrasting_colour(rng_t& rng, const data::image& background, const coverage& window) {
  if (window.width <= 0 || window.height <= 0) return random_colour(rng);
  std::vector<std::array<int, 3>> samples;
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 5; ++i) {
      const int x = window.x0 + (window.width - 1) * i / 4, y = window.y0 + (window.height - 1) * j / 4;
      const auto* p = pixel_at(background, x, y);
      samples.push_back({p[0], p[1], p[2]});
    }
  for (int attempt = 0; attempt < 64; ++attempt) {
    const rgb c = random_colour(rng);
    const int y = luma(c.r, c.g, c.b);
    bool ok = true;
    for (const auto& s : samples) {
      const int dr = c.r - s[0], dg = c.g - s[1], db = c.b - s[2];
      if (dr * dr + dg * dg + db * db < 110 * 110 || std::abs(y - luma(s[0], s[1], s[2])) < 45) {
        ok = false;
        break;
      }
    }
    if (ok) return c;
  }
  int lo = 255, hi = 0;
  for (const auto& s : samples) lo = std::min(lo, luma(s[0], s[1], s[2])), hi = std::max(hi, luma(s[0], s[1], s[2]));
  return lo > 255 - hi ? rgb{0, 0, 0} : rgb{255, 255, 255};
}

// SplitMix64: a fast portable stream for the per-pixel noise (mt19937_64 would dominate the run
// time), seeded from the image's generator.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t operator()() {
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// Adds approximately Gaussian noise, of a standard deviation between 2 and 10 grey levels drawn
// per image. Each channel's noise is the sum of three 7-bit uniform values (Irwin-Hall: mean
// 190.5, standard deviation 64.0), centred, scaled and rounded through a table.
inline void add_noise(rng_t& rng, data::image& img) {
  const int sigma_quarters = uniform_int(rng, 8, 40);
  std::array<int, 382> table{};
  for (int sum = 0; sum < 382; ++sum) {
    const int num = (2 * sum - 381) * sigma_quarters, den = 2 * 64 * 4;
    table[static_cast<std::size_t>(sum)] = num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
  }
  splitmix64 noise{rng()};
  std::uint8_t* p = img.pixels.data();
  for (std::size_t i = 0, n = img.pixels.size() / 3; i < n; ++i, p += 3) {
    std::uint64_t r = noise();
    for (int ch = 0; ch < 3; ++ch, r >>= 21) {
      const auto sum = (r & 127) + ((r >> 7) & 127) + ((r >> 14) & 127);
      p[ch] = clamp_byte(p[ch] + table[sum]);
    }
  }
}

// ---- scenes --------------------------------------------------------------------------------

inline constexpr int classification_size = 96;
inline constexpr int detection_width = 192, detection_height = 144;

struct placed_object {
  shape geometry;
  rgb colour;
  box bounds;        // tight box of the drawn pixels
  double area = 0;   // covered area in pixels
  int category_id() const { return static_cast<int>(geometry.kind) + 1; }
};

// An image before noise and JPEG encoding, with what was drawn on it.
struct rendered_image {
  data::image pixels;
  std::vector<placed_object> objects;
};

inline constexpr std::uint64_t classification_stream = 1, detection_stream = 2;

// Index i of the classification images shows class i % 4, centred with jitter, 44..68 px across.
inline rendered_image render_classification_image(std::uint64_t seed, int index) {
  auto rng = image_rng(seed, classification_stream, static_cast<std::uint64_t>(index));
  const auto background = render_background(rng, classification_size, classification_size);
  rendered_image out{background, {}};
  placed_object o;
  o.geometry.kind = static_cast<shape_kind>(index % shape_kind_count);
  o.geometry.radius = uniform_int(rng, 22 * subpixel, 33 * subpixel);
  const int centre = classification_size * subpixel / 2;
  o.geometry.cx = centre + uniform_int(rng, -8 * subpixel, 8 * subpixel);
  o.geometry.cy = centre + uniform_int(rng, -8 * subpixel, 8 * subpixel);
  o.geometry.angle_degrees = uniform_int(rng, 0, 359);
  const auto cov = rasterize(o.geometry, classification_size, classification_size);
  o.colour = contrasting_colour(rng, background, cov);
  paint(out.pixels, cov, o.colour);
  o.bounds = cov.extent();
  o.area = cov.area();
  out.objects.push_back(o);
  add_noise(rng, out.pixels);
  return out;
}

inline bool boxes_apart(const box& a, const box& b, int gap) {
  return a.x + a.w + gap <= b.x || b.x + b.w + gap <= a.x || a.y + a.h + gap <= b.y || b.y + b.h + gap <= a.y;
}

// 1 to 4 shapes of random classes, 14..64 px across, at random places with at least 3 px between
// their boxes (a shape that finds no free place in 64 tries is left out; the first always fits).
inline rendered_image render_detection_image(std::uint64_t seed, int index) {
  auto rng = image_rng(seed, detection_stream, static_cast<std::uint64_t>(index));
  const auto background = render_background(rng, detection_width, detection_height);
  rendered_image out{background, {}};
  const int count = uniform_int(rng, 1, 4);
  for (int k = 0; k < count; ++k) {
    for (int attempt = 0; attempt < 64; ++attempt) {
      placed_object o;
      o.geometry.kind = static_cast<shape_kind>(uniform_int(rng, 0, shape_kind_count - 1));
      o.geometry.radius = uniform_int(rng, 10 * subpixel, 29 * subpixel);
      // Keep the whole shape (and its anti-aliased rim) inside the image, so boxes are never clipped.
      const int reach = o.geometry.radius + o.geometry.radius / 64 + 2 * subpixel;
      o.geometry.cx = uniform_int(rng, reach, detection_width * subpixel - reach);
      o.geometry.cy = uniform_int(rng, reach, detection_height * subpixel - reach);
      o.geometry.angle_degrees = uniform_int(rng, 0, 359);
      const auto cov = rasterize(o.geometry, detection_width, detection_height);
      o.bounds = cov.extent();
      const bool free = std::all_of(out.objects.begin(), out.objects.end(),
                                    [&](const placed_object& p) { return boxes_apart(p.bounds, o.bounds, 3); });
      if (!free) continue;
      o.colour = contrasting_colour(rng, background, cov);
      o.area = cov.area();
      paint(out.pixels, cov, o.colour);
      out.objects.push_back(o);
      break;
    }
  }
  add_noise(rng, out.pixels);
  return out;
}

// Which split an image is in.
inline bool classification_is_test(int index) { return (index / shape_kind_count) % 5 == 4; }
inline bool detection_is_test(int index) { return index % 4 == 3; }

inline std::string image_name(const char* prefix, int index) { return fmt::format("images/{}_{:05d}.jpg", prefix, index + 1); }

inline nlohmann::ordered_json coco_skeleton(const char* description, std::uint64_t seed) {
  nlohmann::ordered_json j;
  j["info"] = {{"description", description}, {"version", "1"}, {"seed", seed}};
  j["licenses"] = nlohmann::ordered_json::array();
  j["categories"] = nlohmann::ordered_json::array();
  for (int c = 0; c < shape_kind_count; ++c)
    j["categories"].push_back({{"id", c + 1}, {"name", shape_names[static_cast<std::size_t>(c)]}, {"supercategory", "shape"}});
  j["images"] = nlohmann::ordered_json::array();
  j["annotations"] = nlohmann::ordered_json::array();
  return j;
}

inline void add_image(nlohmann::ordered_json& coco, int id, const std::string& file, int width, int height) {
  coco["images"].push_back({{"id", id}, {"file_name", file}, {"width", width}, {"height", height}});
}

inline void add_annotation(nlohmann::ordered_json& coco, int image_id, int category_id) {
  const auto id = static_cast<int>(coco["annotations"].size()) + 1;
  coco["annotations"].push_back({{"id", id}, {"image_id", image_id}, {"category_id", category_id}});
}

inline void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
  write_file_atomically(path, std::string_view(j.dump(1) + "\n"));
}

// Runs fn(0..count-1) on a few threads. The work is mostly waiting for fsync (each file is written
// atomically), so more threads than cores help; the results do not depend on the order. The first
// exception is rethrown once all threads have stopped; if no thread can be started, runs inline.
template <class F>
void parallel_for(int count, F&& fn) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::exception_ptr failure;
  auto work = [&] {
    for (int i = next++; i < count && !failed; i = next++) {
      try {
        fn(i);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < std::min(count, 8); ++t) {
      try {
        pool.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // fewer threads, same result
      }
    }
    work();
  }  // joins
  if (failure) std::rethrow_exception(failure);
}

}  // namespace detail

// Writes the example dataset under `dir` (created if missing; files of the same names are replaced):
// images/cls_NNNNN.jpg (96x96, one shape), images/det_NNNNN.jpg (192x144, 1-4 shapes), and
// classification_{train,test}.json, multilabel_{train,test}.json, detection_{train,test}.json.
// Throws tailor::error (invalid_argument for negative counts, io_error when a write fails).
inline example_data_summary write_example_data(const std::filesystem::path& dir, const example_data_options& options = {}) {
  using namespace detail;
  if (options.classification_images_per_class < 0 || options.detection_images < 0)
    throw error(failure_code::invalid_argument, "example data: image counts must not be negative");
  std::error_code ec;
  std::filesystem::create_directories(dir / "images", ec);
  if (ec) throw error(failure_code::io_error, fmt::format("cannot create {}: {}", dir / "images", ec.message()));

  example_data_summary summary;
  summary.root = dir;
  for (const char* name : shape_names) summary.classes.emplace_back(name);

  // Render, encode and write every image (in parallel: each has its own generator), keeping what
  // was drawn for the association files, which are then built in image order.
  const int cls_count = options.classification_images_per_class * shape_kind_count;
  const int total = cls_count + options.detection_images;
  std::vector<std::vector<placed_object>> drawn(static_cast<std::size_t>(total));
  parallel_for(total, [&](int k) {
    const bool is_cls = k < cls_count;
    const int i = is_cls ? k : k - cls_count;
    auto r = is_cls ? render_classification_image(options.seed, i) : render_detection_image(options.seed, i);
    const auto jpeg = data::encode_jpeg(r.pixels, 90);
    write_file_atomically(dir / image_name(is_cls ? "cls" : "det", i), std::span<const std::uint8_t>(jpeg));
    drawn[static_cast<std::size_t>(k)] = std::move(r.objects);
  });
  summary.images = static_cast<std::size_t>(total);

  std::array<nlohmann::ordered_json, 2> cls{coco_skeleton("tailor example data: one shape per image (classification)", options.seed),
                                            coco_skeleton("tailor example data: one shape per image (classification)", options.seed)};
  for (int i = 0; i < cls_count; ++i) {
    auto& coco = cls[classification_is_test(i) ? 1 : 0];
    add_image(coco, i + 1, image_name("cls", i), classification_size, classification_size);
    add_annotation(coco, i + 1, drawn[static_cast<std::size_t>(i)].front().category_id());
  }

  std::array<nlohmann::ordered_json, 2> ml{coco_skeleton("tailor example data: the shapes present (multilabel)", options.seed),
                                           coco_skeleton("tailor example data: the shapes present (multilabel)", options.seed)};
  std::array<nlohmann::ordered_json, 2> det{coco_skeleton("tailor example data: shape boxes (detection)", options.seed),
                                            coco_skeleton("tailor example data: shape boxes (detection)", options.seed)};
  for (int i = 0; i < options.detection_images; ++i) {
    const auto name = image_name("det", i);
    const std::size_t split = detection_is_test(i) ? 1 : 0;
    add_image(ml[split], i + 1, name, detection_width, detection_height);
    add_image(det[split], i + 1, name, detection_width, detection_height);
    std::array<bool, shape_kind_count> present{};
    for (const auto& o : drawn[static_cast<std::size_t>(cls_count + i)]) {
      present[static_cast<std::size_t>(o.category_id() - 1)] = true;
      auto& annotations = det[split]["annotations"];
      annotations.push_back({{"id", static_cast<int>(annotations.size()) + 1},
                             {"image_id", i + 1},
                             {"category_id", o.category_id()},
                             {"bbox", {o.bounds.x, o.bounds.y, o.bounds.w, o.bounds.h}},
                             {"area", o.area},
                             {"iscrowd", 0}});
      ++summary.boxes;
    }
    for (int c = 0; c < shape_kind_count; ++c)
      if (present[static_cast<std::size_t>(c)]) add_annotation(ml[split], i + 1, c + 1);
  }

  const std::array<std::pair<const char*, const std::array<nlohmann::ordered_json, 2>*>, 3> files{
      {{"classification", &cls}, {"multilabel", &ml}, {"detection", &det}}};
  for (const auto& [stem, pair] : files)
    for (std::size_t split = 0; split < 2; ++split) {
      auto path = dir / fmt::format("{}_{}.json", stem, split == 0 ? "train" : "test");
      write_json(path, (*pair)[split]);
      summary.coco_files.push_back(std::move(path));
    }
  return summary;
}

}  // namespace tailor::examples
