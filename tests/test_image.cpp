// Tests of image probing, decoding, resizing and encoding (tailor/data/image_*.hpp).
#include <png.h>
#include <turbojpeg.h>

#include <array>
#include <catch2/catch.hpp>
#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tailor/data/image.hpp"
#include "tailor/data/image_decode.hpp"
#include "tailor/data/image_encode.hpp"
#include "tailor/data/image_info.hpp"
#include "tailor/data/image_resize.hpp"

using namespace tailor::data;
using tailor::failure_code;
using bytes_t = std::vector<std::uint8_t>;
using rgb = std::array<int, 3>;

namespace {

rgb pixel(const image& img, int x, int y) {
  const std::uint8_t* p = img.row(y) + static_cast<std::size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

void set_pixel(image& img, int x, int y, rgb c) {
  std::uint8_t* p = img.row(y) + static_cast<std::size_t>(x) * 3;
  for (int i = 0; i < 3; ++i) p[i] = static_cast<std::uint8_t>(c[static_cast<std::size_t>(i)]);
}

bool near(rgb a, rgb b, int tolerance) {
  for (std::size_t i = 0; i < 3; ++i)
    if (std::abs(a[i] - b[i]) > tolerance) return false;
  return true;
}

int max_abs_diff(const image& a, const image& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  int m = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int{a.pixels[i]} - int{b.pixels[i]}));
  return m;
}

double mean_abs_diff(const image& a, const image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double s = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return s / static_cast<double>(a.pixels.size());
}

// Smooth content: what JPEG and DCT scaling reproduce closely.
image smooth_image(int w, int h) {
  image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      set_pixel(img, x, y, {x * 255 / std::max(1, w - 1), y * 255 / std::max(1, h - 1), 128 + (x - y) * 100 / (w + h)});
  return img;
}

// Four colored quadrants, so that any flip or rotation is visible.
const rgb red{255, 0, 0}, green{0, 255, 0}, blue{0, 0, 255}, yellow{255, 255, 0};
image quadrants(int w, int h) {
  image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      set_pixel(img, x, y, y < h / 2 ? (x < w / 2 ? red : green) : (x < w / 2 ? blue : yellow));
  return img;
}

void check_upright_quadrants(const image& img, int w, int h) {
  REQUIRE(img.width == w);
  REQUIRE(img.height == h);
  CHECK(near(pixel(img, w / 4, h / 4), red, 40));
  CHECK(near(pixel(img, 3 * w / 4, h / 4), green, 40));
  CHECK(near(pixel(img, w / 4, 3 * h / 4), blue, 40));
  CHECK(near(pixel(img, 3 * w / 4, 3 * h / 4), yellow, 40));
}

// Runs f and returns the tailor::error it throws (fails the test when it throws nothing).
tailor::error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tailor::error& e) {
    return e;
  }
  FAIL("expected a tailor::error");
  return tailor::error(failure_code::unknown, "");
}

void check_invalid_image(const std::function<void()>& f, const std::string& name, const std::string& word = "") {
  const auto e = error_of(f);
  INFO(e.what());
  CHECK(e.code() == failure_code::invalid_image);
  CHECK_THAT(e.what(), Catch::Contains(name));
  if (!word.empty()) CHECK_THAT(e.what(), Catch::Contains(word, Catch::CaseSensitive::No));
}

// ---- a PNG writer independent of the library's, for every color type / depth / interlace ----
struct png_spec {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  bool interlaced = false;
  bytes_t data;  // rows as PNG stores them (16-bit samples big-endian, sub-byte samples packed)
  std::vector<png_color> palette;
  std::vector<png_byte> trns;
};

void append_bytes(png_structp png, png_bytep d, std::size_t n) {
  auto* out = static_cast<bytes_t*>(png_get_io_ptr(png));
  out->insert(out->end(), d, d + n);
}

bool write_png_spec(const png_spec* s, png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, static_cast<png_uint_32>(s->width), static_cast<png_uint_32>(s->height), s->bit_depth,
               s->color_type, s->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s->palette.empty()) png_set_PLTE(png, info, s->palette.data(), static_cast<int>(s->palette.size()));
  if (!s->trns.empty()) png_set_tRNS(png, info, s->trns.data(), static_cast<int>(s->trns.size()), nullptr);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

bytes_t make_png(const png_spec& s) {
  const int channels = s.color_type == PNG_COLOR_TYPE_RGB          ? 3
                       : s.color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                       : s.color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                                   : 1;
  const std::size_t row_bytes = (static_cast<std::size_t>(s.width) * channels * s.bit_depth + 7) / 8;
  REQUIRE(s.data.size() == row_bytes * static_cast<std::size_t>(s.height));
  std::vector<png_bytep> rows;
  for (int y = 0; y < s.height; ++y) rows.push_back(const_cast<png_bytep>(s.data.data() + row_bytes * y));
  bytes_t out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, append_bytes, nullptr);
  const bool ok = write_png_spec(&s, png, info, rows.data());
  png_destroy_write_struct(&png, &info);
  REQUIRE(ok);
  return out;
}

bytes_t jpeg_of(const image& img, int quality = 90) { return encode_jpeg(img, quality); }

// A grayscale or CMYK JPEG straight from TurboJPEG (encode_jpeg only writes RGB).
bytes_t tj_encode(const bytes_t& pixels, int w, int h, int pixel_format, int subsamp, int flags = 0) {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels.data(), w, 0, h, pixel_format, &buf, &size, subsamp, 95, flags);
  bytes_t out;
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  REQUIRE(rc == 0);
  return out;
}

std::filesystem::path temp_dir() {
  static const auto dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("tailor_test_image_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void save(const std::filesystem::path& p, const bytes_t& b) { tailor::write_file_atomically(p, b); }

int inverse_orientation(int o) { return o == 6 ? 8 : o == 8 ? 6 : o; }

}  // namespace

TEST_CASE("image: construction and format names", "[image]") {
  image img(3, 2);
  CHECK(img.pixels.size() == 18);
  CHECK(img.row(1) == img.pixels.data() + 9);
  CHECK(error_of([] { image bad(0, 5); }).code() == failure_code::invalid_argument);
  CHECK(error_of([] { image bad(4, -1); }).code() == failure_code::invalid_argument);
  CHECK(to_string(image_format::jpeg) == "jpeg");
  CHECK(to_string(image_format::png) == "png");
}

TEST_CASE("image: PNG round trip is exact", "[image]") {
  image img(37, 23);
  std::mt19937 rng(7);
  for (auto& v : img.pixels) v = static_cast<std::uint8_t>(rng());
  const auto png = encode_png(img);
  const image back = decode_image(png, "noise.png");
  CHECK(back.pixels == img.pixels);
  CHECK(back.width == 37);
  CHECK(back.height == 23);
}

TEST_CASE("image: JPEG round trip at quality 95 is close on a smooth image", "[image]") {
  const image img = smooth_image(96, 64);
  const image back = decode_image(jpeg_of(img, 95), "smooth.jpg");
  CHECK(mean_abs_diff(img, back) < 1.5);
  CHECK(max_abs_diff(img, back) <= 12);
}

TEST_CASE("image: read_image_info gives the size of JPEG and PNG files", "[image]") {
  const image img = smooth_image(50, 20);
  const auto jpg = jpeg_of(img), png = encode_png(img);
  const auto ij = read_image_info(jpg, "a.jpg");
  CHECK(ij.format == image_format::jpeg);
  CHECK(ij.stored_width == 50);
  CHECK(ij.stored_height == 20);
  CHECK(ij.orientation == 1);
  const auto ip = read_image_info(png, "a.png");
  CHECK(ip.format == image_format::png);
  CHECK(ip.width() == 50);
  CHECK(ip.height() == 20);

  SECTION("from files, including a frame header beyond the first 64 KiB") {
    // A 3 x 60 KB APP2 block (like a large ICC profile) pushes SOF past the first read.
    bytes_t big = {0xff, 0xd8};
    for (int k = 0; k < 3; ++k) {
      big.insert(big.end(), {0xff, 0xe2, 0xea, 0x60});
      big.insert(big.end(), 60000 - 2, std::uint8_t{0x42});
    }
    big.insert(big.end(), jpg.begin() + 2, jpg.end());
    save(temp_dir() / "big_app.jpg", big);
    save(temp_dir() / "a.png", png);
    const auto fj = read_image_info(temp_dir() / "big_app.jpg");
    CHECK(fj.stored_width == 50);
    CHECK(fj.stored_height == 20);
    CHECK(decode_image(temp_dir() / "big_app.jpg").width == 50);
    CHECK(read_image_info(temp_dir() / "a.png").stored_height == 20);
  }
  SECTION("a missing file is an io_error naming it") {
    const auto e = error_of([] { read_image_info(temp_dir() / "missing.jpg"); });
    CHECK(e.code() == failure_code::io_error);
    CHECK_THAT(e.what(), Catch::Contains("missing.jpg"));
    CHECK(error_of([] { decode_image(temp_dir() / "missing.jpg"); }).code() == failure_code::io_error);
  }
}

TEST_CASE("image: apply_orientation matches the EXIF definitions", "[image]") {
  // Stored 3x2:  a b c / d e f, each pixel a distinct value.
  image s(3, 2);
  for (int i = 0; i < 6; ++i) set_pixel(s, i % 3, i / 3, {'a' + i, 0, 0});
  auto layout = [](const image& img) {
    std::string out;
    for (int y = 0; y < img.height; ++y) {
      if (y) out += '/';
      for (int x = 0; x < img.width; ++x) out += static_cast<char>(pixel(img, x, y)[0]);
    }
    return out;
  };
  CHECK(layout(apply_orientation(s, 1)) == "abc/def");
  CHECK(layout(apply_orientation(s, 2)) == "cba/fed");   // mirror left-right
  CHECK(layout(apply_orientation(s, 3)) == "fed/cba");   // rotate 180
  CHECK(layout(apply_orientation(s, 4)) == "def/abc");   // mirror top-bottom
  CHECK(layout(apply_orientation(s, 5)) == "ad/be/cf");  // transpose
  CHECK(layout(apply_orientation(s, 6)) == "da/eb/fc");  // rotate 90 clockwise
  CHECK(layout(apply_orientation(s, 7)) == "fc/eb/da");  // transverse
  CHECK(layout(apply_orientation(s, 8)) == "cf/be/ad");  // rotate 90 counter-clockwise
  CHECK(error_of([&] { apply_orientation(s, 9); }).code() == failure_code::invalid_argument);
  // Large enough to cross the 64-pixel tiles.
  image big = smooth_image(130, 70);
  for (int o = 1; o <= 8; ++o)
    CHECK(apply_orientation(apply_orientation(big, o), inverse_orientation(o)).pixels == big.pixels);
}

TEST_CASE("image: all 8 EXIF orientations come back upright, both byte orders", "[image]") {
  const image upright = quadrants(40, 30);
  for (bool big_endian : {true, false}) {
    for (int o = 1; o <= 8; ++o) {
      INFO("orientation " << o << (big_endian ? " big-endian" : " little-endian"));
      const image stored = apply_orientation(upright, inverse_orientation(o));
      const auto file = with_exif_orientation(jpeg_of(stored, 95), o, big_endian);

      const auto info = read_image_info(file, "phone.jpg");
      CHECK(info.orientation == o);
      CHECK(info.stored_width == stored.width);
      CHECK(info.stored_height == stored.height);
      CHECK(info.width() == 40);
      CHECK(info.height() == 30);
      if (o >= 5) CHECK(info.stored_width == 30);

      check_upright_quadrants(decode_image(file, "phone.jpg"), 40, 30);
      check_upright_quadrants(decode_resized(file, "phone.jpg", 20, 16), 20, 16);

      decode_options raw;
      raw.apply_exif_orientation = false;
      const image as_stored = decode_image(file, "phone.jpg", raw);
      CHECK(as_stored.width == stored.width);
      CHECK(near(pixel(as_stored, 2, 2), pixel(stored, 2, 2), 40));
    }
  }
  SECTION("invalid orientation values are ignored") {
    for (int bad : {0, 9, 300}) {
      const auto file = with_exif_orientation(jpeg_of(upright), bad, false);
      CHECK(read_image_info(file, "x.jpg").orientation == 1);
      check_upright_quadrants(decode_image(file, "x.jpg"), 40, 30);
    }
  }
  SECTION("with_exif_orientation needs a JPEG") {
    CHECK(error_of([&] { with_exif_orientation(encode_png(upright), 6); }).code() == failure_code::invalid_argument);
  }
}

TEST_CASE("image: harmless JPEG defects are accepted", "[image]") {
  const image img = smooth_image(48, 32);
  const auto clean = jpeg_of(img);
  // Stray bytes between two segments: libjpeg-turbo warns ("3 extraneous bytes before marker")
  // but decodes the whole image, as do browsers.
  const std::size_t after_app0 = 4 + ((std::size_t{clean[4]} << 8) | clean[5]);
  REQUIRE(clean[after_app0] == 0xff);
  bytes_t stray = clean;
  stray.insert(stray.begin() + static_cast<std::ptrdiff_t>(after_app0), {0x00, 0x12, 0x34});
  CHECK(read_image_info(stray, "stray.jpg").stored_width == 48);
  CHECK(decode_image(stray, "stray.jpg").pixels == decode_image(clean, "clean.jpg").pixels);
  CHECK(decode_resized(stray, "stray.jpg", 24, 16).pixels == decode_resized(clean, "clean.jpg", 24, 16).pixels);
  // Data appended after the end-of-image marker (some phones do that).
  bytes_t trailer = clean;
  trailer.insert(trailer.end(), 100, std::uint8_t{0xab});
  CHECK(decode_image(trailer, "trailer.jpg").pixels == decode_image(clean, "clean.jpg").pixels);
}

TEST_CASE("image: a JPEG error after a harmless warning is still an error", "[image]") {
  // TurboJPEG 2.1 reports a fatal error that follows a warning as a warning (tjGetErrorCode);
  // the decoder must not take such a half-decoded image for a good one.
  const image img = smooth_image(64, 48);
  const auto progressive = tj_encode(img.pixels, 64, 48, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE);
  CHECK(decode_image(progressive, "progressive.jpg").width == 64);
  // Stray bytes after APP0 (the warning), and a bad component ID in the second scan header, which
  // only the full decode reads (the error).
  bytes_t bad = progressive;
  const std::size_t after_app0 = 4 + ((std::size_t{bad[4]} << 8) | bad[5]);
  bad.insert(bad.begin() + static_cast<std::ptrdiff_t>(after_app0), {0x00, 0x12, 0x34});
  std::vector<std::size_t> scans;
  for (std::size_t i = 0; i + 1 < bad.size(); ++i)
    if (bad[i] == 0xff && bad[i + 1] == 0xda) scans.push_back(i);
  REQUIRE(scans.size() >= 2);
  bad[scans[1] + 5] = 0x7f;  // the first component selector of the second scan
  check_invalid_image([&] { decode_image(bad, "bad_scan.jpg"); }, "bad_scan.jpg", "component");
}

TEST_CASE("image: grayscale and CMYK JPEGs decode to RGB", "[image]") {
  SECTION("grayscale") {
    bytes_t gray(32 * 16);
    for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<std::uint8_t>((i % 32) * 8);
    const image img = decode_image(tj_encode(gray, 32, 16, TJPF_GRAY, TJSAMP_GRAY), "gray.jpg");
    REQUIRE(img.width == 32);
    for (int x = 0; x < 32; x += 5) {
      const rgb p = pixel(img, x, 7);
      CHECK(p[0] == p[1]);
      CHECK(p[1] == p[2]);
      CHECK(std::abs(p[0] - x * 8) <= 6);
    }
    CHECK(decode_resized(tj_encode(gray, 32, 16, TJPF_GRAY, TJSAMP_GRAY), "gray.jpg", 8, 4).width == 8);
  }
  SECTION("Adobe (inverted) CMYK") {
    // TurboJPEG writes an Adobe APP14 segment and stores the given bytes; Photoshop's convention is
    // that those bytes are inverted ink amounts, so red (C=0, M=Y=1, K=0) is stored as 255,0,0,255.
    bytes_t cmyk;
    for (int i = 0; i < 16 * 16; ++i) {
      const bool left = (i % 16) < 8;
      const std::array<std::uint8_t, 4> px = left ? std::array<std::uint8_t, 4>{255, 0, 0, 255}       // red
                                                  : std::array<std::uint8_t, 4>{255, 255, 255, 128};  // gray
      cmyk.insert(cmyk.end(), px.begin(), px.end());
    }
    const auto file = tj_encode(cmyk, 16, 16, TJPF_CMYK, TJSAMP_444);
    const image img = decode_image(file, "print.jpg");
    CHECK(near(pixel(img, 2, 8), red, 6));
    CHECK(near(pixel(img, 13, 8), {128, 128, 128}, 6));
    CHECK(decode_resized(file, "print.jpg", 4, 4).width == 4);
  }
}

TEST_CASE("image: PNG color types and depths decode to RGB", "[image]") {
  SECTION("RGBA: alpha is dropped, RGB kept as stored") {
    png_spec s{2, 1, 8, PNG_COLOR_TYPE_RGB_ALPHA, false, {10, 20, 30, 0, 200, 100, 50, 255}, {}, {}};
    const image img = decode_image(make_png(s), "alpha.png");
    CHECK(pixel(img, 0, 0) == rgb{10, 20, 30});
    CHECK(pixel(img, 1, 0) == rgb{200, 100, 50});
  }
  SECTION("16-bit RGB is scaled to 8 bits") {
    png_spec s{
        1,  2, 16, PNG_COLOR_TYPE_RGB, false, {0x12, 0x34, 0xff, 0xff, 0x00, 0x00, 0x80, 0x00, 0x7f, 0xff, 0x01, 0x00},
        {}, {}};
    const image img = decode_image(make_png(s), "deep.png");
    CHECK(pixel(img, 0, 0) == rgb{0x12, 0xff, 0x00});
    CHECK(pixel(img, 0, 1) == rgb{0x80, 0x7f, 0x01});
  }
  SECTION("palette, with tRNS ignored") {
    png_spec s{4,  1, 2, PNG_COLOR_TYPE_PALETTE, false, {0b00011011}, {{1, 2, 3}, {40, 50, 60}, {255, 0, 0}, {7, 8, 9}},
               {0}};
    const image img = decode_image(make_png(s), "palette.png");
    CHECK(pixel(img, 0, 0) == rgb{1, 2, 3});
    CHECK(pixel(img, 1, 0) == rgb{40, 50, 60});
    CHECK(pixel(img, 2, 0) == rgb{255, 0, 0});
    CHECK(pixel(img, 3, 0) == rgb{7, 8, 9});
  }
  SECTION("gray 8-bit, gray 1-bit, gray + alpha") {
    const image g8 = decode_image(make_png({3, 1, 8, PNG_COLOR_TYPE_GRAY, false, {0, 77, 255}, {}, {}}), "g8.png");
    CHECK(pixel(g8, 1, 0) == rgb{77, 77, 77});
    CHECK(pixel(g8, 2, 0) == rgb{255, 255, 255});
    const image g1 = decode_image(make_png({8, 1, 1, PNG_COLOR_TYPE_GRAY, false, {0b10100000}, {}, {}}), "g1.png");
    CHECK(pixel(g1, 0, 0) == rgb{255, 255, 255});
    CHECK(pixel(g1, 1, 0) == rgb{0, 0, 0});
    CHECK(pixel(g1, 2, 0) == rgb{255, 255, 255});
    const image ga =
        decode_image(make_png({2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, false, {90, 0, 180, 255}, {}, {}}), "ga.png");
    CHECK(pixel(ga, 0, 0) == rgb{90, 90, 90});
    CHECK(pixel(ga, 1, 0) == rgb{180, 180, 180});
  }
  SECTION("interlaced (Adam7)") {
    const image src = smooth_image(19, 13);
    png_spec s{19, 13, 8, PNG_COLOR_TYPE_RGB, true, src.pixels, {}, {}};
    const auto file = make_png(s);
    CHECK(file[28] == 1);  // the IHDR interlace byte: really interlaced
    CHECK(decode_image(file, "adam7.png").pixels == src.pixels);
  }
}

TEST_CASE("image: broken and unsupported files are invalid_image errors naming the file", "[image]") {
  // Noisy, so that most of each file is entropy-coded data and the cuts below land inside it.
  image img = smooth_image(64, 48);
  std::mt19937 noise(9);
  for (auto& v : img.pixels) v = static_cast<std::uint8_t>(v / 2 + noise() % 128);
  const auto jpg = jpeg_of(img), png = encode_png(img);

  SECTION("truncated JPEG") {
    const bytes_t cut(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2));
    check_invalid_image([&] { decode_image(cut, "cut.jpg"); }, "cut.jpg", "truncated");
    check_invalid_image([&] { decode_resized(cut, "cut.jpg", 16, 16); }, "cut.jpg", "truncated");
    // Cut, then an EOI glued on: libjpeg-turbo only warns ("premature end of data segment").
    bytes_t glued = cut;
    glued.insert(glued.end(), {0xff, 0xd9});
    check_invalid_image([&] { decode_image(glued, "glued.jpg"); }, "glued.jpg", "truncated");
    // Cut inside the header.
    const bytes_t head(jpg.begin(), jpg.begin() + 40);
    check_invalid_image([&] { decode_image(head, "head.jpg"); }, "head.jpg", "truncated");
    check_invalid_image([&] { read_image_info(head, "head.jpg"); }, "head.jpg", "truncated");
  }
  SECTION("truncated PNG") {
    const bytes_t cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));
    check_invalid_image([&] { decode_image(cut, "cut.png"); }, "cut.png", "truncated");
    const bytes_t no_iend(png.begin(), png.end() - 12);
    check_invalid_image([&] { decode_image(no_iend, "tail.png"); }, "tail.png", "truncated");
    const bytes_t head(png.begin(), png.begin() + 20);
    check_invalid_image([&] { read_image_info(head, "head.png"); }, "head.png", "truncated");
  }
  SECTION("empty, garbage, other formats") {
    check_invalid_image([] { decode_image(bytes_t{}, "empty.jpg"); }, "empty.jpg", "empty");
    bytes_t garbage(1000);
    std::mt19937 rng(3);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    garbage[0] = 0x00;
    check_invalid_image([&] { decode_image(garbage, "noise.jpg"); }, "noise.jpg", "not a JPEG or PNG");
    const bytes_t gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
    check_invalid_image([&] { decode_image(gif, "photo.gif"); }, "photo.gif", "'GIF8'");
    check_invalid_image([&] { read_image_info(gif, "photo.gif"); }, "photo.gif", "convert it to JPEG or PNG");
    const bytes_t bmp = {'B', 'M', 0x36, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0};
    check_invalid_image([&] { decode_image(bmp, "scan.bmp"); }, "scan.bmp", "BMP");
    // Garbage after a valid JPEG signature.
    bytes_t fake(3 + garbage.size());  // (built in place: GCC 12 at -O2 misreads an insert after 3 bytes)
    fake[0] = 0xff, fake[1] = 0xd8, fake[2] = 0xff;
    std::copy(garbage.begin(), garbage.end(), fake.begin() + 3);
    check_invalid_image([&] { decode_image(fake, "fake.jpg"); }, "fake.jpg");
  }
  SECTION("empty file on disk") {
    save(temp_dir() / "empty.png", {});
    check_invalid_image([] { read_image_info(temp_dir() / "empty.png"); }, "empty.png", "empty");
    check_invalid_image([] { decode_image(temp_dir() / "empty.png"); }, "empty.png", "empty");
  }
  SECTION("random corruption never crashes") {
    const image small = smooth_image(24, 16);
    const std::array<bytes_t, 2> sources = {jpeg_of(small, 80), encode_png(small)};
    std::mt19937 rng(12345);
    decode_options opts;
    opts.max_pixels = 1'000'000;  // mutated headers must not make the test allocate gigabytes
    int failures = 0;
    for (int i = 0; i < 400; ++i) {
      bytes_t b = sources[static_cast<std::size_t>(i % 2)];
      if (i % 5 == 0) {
        b.resize(rng() % b.size());
      } else {
        const int flips = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      }
      try {
        (void)decode_image(b, "fuzz", opts);
        (void)decode_resized(b, "fuzz", 7, 5, opts);
      } catch (const tailor::error& e) {
        ++failures;
        INFO(e.what());
        REQUIRE(e.code() == failure_code::invalid_image);
      }
    }
    CHECK(failures > 0);
  }
}

TEST_CASE("image: the pixel limit is checked from the header", "[image]") {
  SECTION("a PNG header claiming 60000 x 60000") {
    bytes_t bomb = {0x89, 'P',  'N',  'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
                    0,    0xea, 0x60, 0,   0,    0xea, 0x60, 8,    2, 0, 0, 0,  0,   0,   0,   0};
    const auto info = read_image_info(bomb, "bomb.png");
    CHECK(info.stored_width == 60000);
    CHECK(info.stored_height == 60000);
    check_invalid_image([&] { decode_image(bomb, "bomb.png"); }, "bomb.png", "max_pixels");
    check_invalid_image([&] { decode_resized(bomb, "bomb.png", 10, 10); }, "bomb.png", "max_pixels");
  }
  SECTION("a 100 x 100 image with max_pixels = 1000") {
    decode_options opts;
    opts.max_pixels = 1000;
    const image img = smooth_image(100, 100);
    check_invalid_image([&] { decode_image(encode_png(img), "big.png", opts); }, "big.png", "max_pixels");
    check_invalid_image([&] { decode_image(jpeg_of(img), "big.jpg", opts); }, "big.jpg", "max_pixels");
    opts.max_pixels = 10000;
    CHECK(decode_image(jpeg_of(img), "big.jpg", opts).width == 100);
  }
}

TEST_CASE("image: resize filters", "[image]") {
  SECTION("a constant image stays constant") {
    image c(37, 29);
    for (std::size_t i = 0; i < c.pixels.size(); i += 3) c.pixels[i] = 200, c.pixels[i + 1] = 3, c.pixels[i + 2] = 255;
    for (auto [w, h] : {std::pair{10, 7}, std::pair{100, 60}, std::pair{36, 90}, std::pair{1, 1}, std::pair{37, 5}}) {
      const image r = resize(c, w, h);
      REQUIRE(r.width == w);
      REQUIRE(r.height == h);
      for (std::size_t i = 0; i < r.pixels.size(); i += 3) {
        REQUIRE(r.pixels[i] == 200);
        REQUIRE(r.pixels[i + 1] == 3);
        REQUIRE(r.pixels[i + 2] == 255);
      }
    }
  }
  SECTION("shrinking by 2 gives the exact 2x2 block means (rounded half up)") {
    image src(8, 6);
    std::mt19937 rng(1);
    for (auto& v : src.pixels) v = static_cast<std::uint8_t>(rng());
    const image r = resize(src, 4, 3);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x)
        for (std::size_t c = 0; c < 3; ++c) {
          const int sum = pixel(src, 2 * x, 2 * y)[c] + pixel(src, 2 * x + 1, 2 * y)[c] +
                          pixel(src, 2 * x, 2 * y + 1)[c] + pixel(src, 2 * x + 1, 2 * y + 1)[c];
          REQUIRE(pixel(r, x, y)[c] == (sum + 2) / 4);
        }
  }
  SECTION("shrinking by 1.5 weighs the shared pixel by halves") {
    image src(3, 1);
    set_pixel(src, 0, 0, {0, 0, 0});
    set_pixel(src, 1, 0, {90, 90, 90});
    set_pixel(src, 2, 0, {180, 180, 180});
    const image r = resize(src, 2, 1);
    // Output 0 covers [0, 1.5): (0 * 1 + 90 * 0.5) / 1.5 = 30; output 1: (90 * 0.5 + 180) / 1.5 = 150.
    CHECK(pixel(r, 0, 0) == rgb{30, 30, 30});
    CHECK(pixel(r, 1, 0) == rgb{150, 150, 150});
  }
  SECTION("bilinear enlargement of a 2-pixel gradient") {
    image src(2, 1);
    set_pixel(src, 0, 0, {0, 100, 200});
    set_pixel(src, 1, 0, {100, 0, 200});
    const image r = resize(src, 4, 2);
    // Centers map to x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    for (int y = 0; y < 2; ++y) {
      CHECK(pixel(r, 0, y) == rgb{0, 100, 200});
      CHECK(pixel(r, 1, y) == rgb{25, 75, 200});
      CHECK(pixel(r, 2, y) == rgb{75, 25, 200});
      CHECK(pixel(r, 3, y) == rgb{100, 0, 200});
    }
    // 2 -> 5: x = 0.5 * 0.4 * ... centers at (i + 0.5) * 0.4 - 0.5 = -0.3, 0.1, 0.5, 0.9, 1.3.
    const image r5 = resize(src, 5, 1);
    CHECK(pixel(r5, 0, 0)[0] == 0);
    CHECK(pixel(r5, 1, 0)[0] == 10);
    CHECK(pixel(r5, 2, 0)[0] == 50);
    CHECK(pixel(r5, 3, 0)[0] == 90);
    CHECK(pixel(r5, 4, 0)[0] == 100);
  }
  SECTION("same size is the identity; shrink one axis, enlarge the other") {
    const image src = smooth_image(31, 17);
    CHECK(resize(src, 31, 17).pixels == src.pixels);
    const image r = resize(src, 62, 17);  // only x enlarged: rows must stay rows
    for (int y = 0; y < 17; ++y) CHECK(pixel(r, 0, y) == pixel(src, 0, y));
    const image mixed = resize(src, 10, 40);
    CHECK(mixed.width == 10);
    CHECK(mixed.height == 40);
  }
  SECTION("bad arguments") {
    CHECK(error_of([] { resize(image(4, 4), 0, 3); }).code() == failure_code::invalid_argument);
    CHECK(error_of([] { resize(image{}, 3, 3); }).code() == failure_code::invalid_argument);
  }
}

TEST_CASE("image: decode_resized matches decode_image + resize", "[image]") {
  const image src = smooth_image(640, 480);
  const auto jpg = jpeg_of(src, 95);
  for (auto [w, h] :
       {std::pair{224, 224}, std::pair{97, 31}, std::pair{640, 480}, std::pair{800, 500}, std::pair{600, 7}}) {
    INFO(w << "x" << h);
    const image fast = decode_resized(jpg, "smooth.jpg", w, h);
    REQUIRE(fast.width == w);
    REQUIRE(fast.height == h);
    const image slow = resize(decode_image(jpg, "smooth.jpg"), w, h);
    CHECK(mean_abs_diff(fast, slow) < 0.5);
    CHECK(max_abs_diff(fast, slow) <= 4);
  }
  SECTION("with EXIF rotation") {
    const image stored = smooth_image(480, 640);  // a portrait phone photo stored landscape... or not
    const auto rotated = with_exif_orientation(jpeg_of(stored, 95), 6, true);
    const image fast = decode_resized(rotated, "phone.jpg", 224, 160);
    REQUIRE(fast.width == 224);
    REQUIRE(fast.height == 160);
    const image slow = resize(decode_image(rotated, "phone.jpg"), 224, 160);
    CHECK(mean_abs_diff(fast, slow) < 0.5);
    CHECK(max_abs_diff(fast, slow) <= 4);
  }
  SECTION("PNG") {
    const auto png = encode_png(src);
    const image fast = decode_resized(png, "smooth.png", 97, 31);
    CHECK(fast.pixels == resize(src, 97, 31).pixels);
  }
  SECTION("files") {
    save(temp_dir() / "smooth.jpg", jpg);
    CHECK(decode_resized(temp_dir() / "smooth.jpg", 224, 224).width == 224);
    CHECK(error_of([&] { decode_resized(jpg, "x.jpg", 0, 10); }).code() == failure_code::invalid_argument);
  }
}

TEST_CASE("image: write_image picks the format from the extension", "[image]") {
  const image img = smooth_image(33, 21);
  write_image(temp_dir() / "out.png", img);
  CHECK(decode_image(temp_dir() / "out.png").pixels == img.pixels);
  write_image(temp_dir() / "out.JPEG", img, 95);
  const auto info = read_image_info(temp_dir() / "out.JPEG");
  CHECK(info.format == image_format::jpeg);
  CHECK(info.stored_width == 33);
  CHECK(mean_abs_diff(decode_image(temp_dir() / "out.JPEG"), img) < 2.0);
  const auto e = error_of([&] { write_image(temp_dir() / "out.gif", img); });
  CHECK(e.code() == failure_code::invalid_argument);
  CHECK_THAT(e.what(), Catch::Contains("out.gif"));
  CHECK(error_of([&] { encode_jpeg(img, 0); }).code() == failure_code::invalid_argument);
}
