#pragma once
// Decoding JPEG (TurboJPEG) and PNG (libpng) files into 8-bit RGB images.
//
// What comes out is always RGB, upright, 3 bytes per pixel:
//  - JPEG: grayscale is replicated to RGB; CMYK/YCCK is converted with the naive formula
//    R = (1 - C)(1 - K), ... (no color management). Files carrying an Adobe APP14 segment store
//    inverted CMYK (what Photoshop writes) and are read as such, like browsers and PIL do.
//  - PNG: palette expanded, gray replicated, 16-bit scaled to 8-bit (rounded), interlaced
//    supported; alpha (and tRNS) is DROPPED, not composited: the RGB under a transparent pixel is
//    kept as stored. This matches PIL's convert("RGB"), which most pretrained weights were fed.
//  - EXIF orientation (JPEG APP1) is applied unless decode_options says otherwise.
//
// Every failure is an error{invalid_image} whose message names the file and says what to do:
// unsupported format, truncated file (a JPEG without its EOI marker, a PNG cut short), corrupt
// data, or a size above decode_options::max_pixels (checked from the header, before allocating).
// Garbage input must produce that error and nothing worse (the decoders run under ASan in CI).
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/core/file_io.hpp"
#include "tailor/data/image.hpp"
#include "tailor/data/image_info.hpp"
#include "tailor/data/image_resize.hpp"

namespace tailor::data {

struct decode_options {
  // Decompression-bomb guard: images with more stored pixels than this are refused from their
  // header, before any allocation. The default (100 MP) admits every camera up to ~100 MP.
  std::uint64_t max_pixels = 100'000'000;
  // Rotate/flip JPEGs as their EXIF orientation tag says, so that phone photos come out upright.
  bool apply_exif_orientation = true;
};

namespace detail {

inline void check_pixel_limit(const image_info& info, std::string_view name, const decode_options& options) {
  const std::uint64_t pixels =
      static_cast<std::uint64_t>(info.stored_width) * static_cast<std::uint64_t>(info.stored_height);
  if (pixels > options.max_pixels)
    throw_invalid_image(name,
                        fmt::format("{}x{} is {} pixels, more than the limit of {} (decode_options::max_pixels) that "
                                    "guards against decompression bombs",
                                    info.stored_width, info.stored_height, pixels, options.max_pixels),
                        "downscale the image, or raise max_pixels if the image is genuine");
}

// ---- JPEG ------------------------------------------------------------------------------------

// One TurboJPEG decompressor per thread: creating one costs allocations that would otherwise be
// paid per image.
struct jpeg_decompressor {
  tjhandle handle = nullptr;
  ~jpeg_decompressor() { reset(); }
  // libjpeg-turbo 2.1's tjDecompressHeader3 leaves the handle mid-header after an error, and the
  // next image then fails with nonsense ("Unsupported marker type"): after any failure the
  // handle is thrown away and a fresh one is made for the next image.
  void reset() noexcept {
    if (handle) tjDestroy(handle);
    handle = nullptr;
  }
  static jpeg_decompressor& for_this_thread() {
    thread_local jpeg_decompressor d;
    if (!d.handle) d.handle = tjInitDecompress();
    if (!d.handle)
      throw error(failure_code::unknown,
                  fmt::format("cannot initialize the TurboJPEG decompressor: {}", tjGetErrorStr2(nullptr)));
    return d;
  }
};

// Facts about a JPEG's segments that TurboJPEG does not report.
struct jpeg_layout {
  bool adobe_app14 = false;       // an Adobe APP14 segment: CMYK data is stored inverted
  std::size_t first_scan = 0;     // offset just past the first SOS header; 0 when none was found
  bool ends_before_scan = false;  // the data runs out before the first SOS: truncated
};

inline jpeg_layout scan_jpeg_layout(std::span<const std::uint8_t> b) noexcept {
  jpeg_layout out;
  const std::size_t n = b.size();
  std::size_t pos = 2;
  for (;;) {
    while (pos < n && b[pos] != 0xff) ++pos;
    while (pos < n && b[pos] == 0xff) ++pos;
    if (pos >= n) {
      out.ends_before_scan = true;
      return out;
    }
    const std::uint8_t m = b[pos++];
    if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) continue;
    if (m == 0xd9) return out;
    if (pos + 2 > n) {
      out.ends_before_scan = true;
      return out;
    }
    const std::size_t length = load_be16(&b[pos]);
    if (length < 2) return out;
    if (pos + length > n) {
      out.ends_before_scan = true;
      return out;
    }
    if (m == 0xee && length >= 7 && std::memcmp(&b[pos + 2], "Adobe", 5) == 0) out.adobe_app14 = true;
    if (m == 0xda) {
      out.first_scan = pos + length;
      return out;
    }
    pos += length;
  }
}

// A complete JPEG has an EOI marker after its scans. Inside entropy-coded data 0xFF is always
// followed by 0x00 or a restart marker, so any FF D9 after the first scan is the real EOI (data
// appended after it, as some phones do, is fine).
inline bool jpeg_has_eoi(std::span<const std::uint8_t> b, std::size_t from) noexcept {
  const std::size_t n = b.size();
  if (n >= 2 && b[n - 2] == 0xff && b[n - 1] == 0xd9) return true;
  const std::uint8_t* p = b.data() + from;
  const std::uint8_t* end = b.data() + n;
  while (p < end) {
    p = static_cast<const std::uint8_t*>(std::memchr(p, 0xff, static_cast<std::size_t>(end - p)));
    if (!p || p + 1 >= end) return false;
    if (p[1] == 0xd9) return true;
    ++p;
  }
  return false;
}

[[noreturn]] inline void throw_truncated_jpeg(std::string_view name) {
  throw_invalid_image(
      name,
      "the JPEG data ends early (its end-of-image marker or part of the image data is missing): the file is truncated",
      "re-copy or re-download the image, or remove it from the dataset");
}

inline bool contains_nocase(std::string_view text, std::string_view what) noexcept {
  auto it = std::search(text.begin(), text.end(), what.begin(), what.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != text.end();
}

// libjpeg warnings after which the whole image has been decoded as intended (stray bytes between
// segments, an unknown JFIF version, odd APP markers). TurboJPEG keeps the first warning's text.
inline bool is_benign_jpeg_warning(std::string_view message) noexcept {
  for (std::string_view benign :
       {"extraneous bytes before marker", "unknown JFIF revision", "Unknown Adobe color transform", "bad ICC marker",
        "Invalid SOS parameters for sequential JPEG"})
    if (contains_nocase(message, benign)) return true;
  return false;
}

// CMYK (4 bytes per pixel) to RGB (3 bytes per pixel).
inline void cmyk_to_rgb(const std::uint8_t* src, std::uint8_t* dst, std::size_t pixels, bool inverted) noexcept {
  for (std::size_t i = 0; i < pixels; ++i, src += 4, dst += 3) {
    // Stored inverted (Adobe): the byte is already 255 - C, i.e. the "ink left out".
    const unsigned c = inverted ? src[0] : 255u - src[0];
    const unsigned m = inverted ? src[1] : 255u - src[1];
    const unsigned y = inverted ? src[2] : 255u - src[2];
    const unsigned k = inverted ? src[3] : 255u - src[3];
    dst[0] = static_cast<std::uint8_t>((c * k + 127) / 255);
    dst[1] = static_cast<std::uint8_t>((m * k + 127) / 255);
    dst[2] = static_cast<std::uint8_t>((y * k + 127) / 255);
  }
}

// Makes `img` a w x h image, reusing its buffer when it is large enough (contents unspecified).
inline void reshape(image& img, int w, int h) {
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
}

// Decodes a JPEG into `out` at scaling factor `scale` (TurboJPEG DCT-domain scaling; {1, 1} for
// full size), without applying EXIF orientation. The pixel limit has been checked by the caller.
inline void decode_jpeg(std::span<const std::uint8_t> bytes, std::string_view name, const image_info& info,
                        tjscalingfactor scale, image& out) {
  const std::string_view fix = "the file is corrupt: re-export it or remove it from the dataset";
  const jpeg_layout layout = scan_jpeg_layout(bytes);
  // Checked before decoding: a truncated file is refused without spending a decode on it.
  if (layout.ends_before_scan || (layout.first_scan != 0 && !jpeg_has_eoi(bytes, layout.first_scan)))
    throw_truncated_jpeg(name);

  jpeg_decompressor& decompressor = jpeg_decompressor::for_this_thread();
  tjhandle tj = decompressor.handle;
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), &width, &height, &subsamp,
                          &colorspace) != 0) {
    // A benign warning here ("N extraneous bytes before marker", common in real photos) still
    // yields the header (see the comment on tjDecompress2 below for why the message decides).
    const std::string message = tjGetErrorStr2(tj);
    const bool fatal = width <= 0 || height <= 0 || !is_benign_jpeg_warning(message);
    decompressor.reset();
    if (fatal) throw_invalid_image(name, fmt::format("cannot read the JPEG header ({})", message), fix);
    tj = jpeg_decompressor::for_this_thread().handle;
  }
  // The pixel limit was checked on our own reading of the header; libjpeg must agree with it.
  if (width != info.stored_width || height != info.stored_height)
    throw_invalid_image(name,
                        fmt::format("garbled JPEG header (frame size {}x{}, then {}x{})", info.stored_width,
                                    info.stored_height, width, height),
                        fix);
  const int out_w = TJSCALED(width, scale), out_h = TJSCALED(height, scale);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;

  reshape(out, out_w, out_h);
  std::vector<std::uint8_t> cmyk_pixels;
  if (cmyk) cmyk_pixels.resize(static_cast<std::size_t>(out_w) * static_cast<std::size_t>(out_h) * 4);
  unsigned char* dst = cmyk ? cmyk_pixels.data() : out.pixels.data();
  // LIMITSCANS: refuse progressive files with absurd scan counts (a known CPU-exhaustion attack).
  const int rc = tjDecompress2(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), dst, out_w, 0, out_h,
                               cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_LIMITSCANS);
  if (rc != 0) {
    // What failed is decided from the message, not tjGetErrorCode: in TurboJPEG 2.1 a fatal error
    // that follows a warning is reported as a warning. Running out of data ("Premature end of JPEG
    // file", "premature end of data segment") is only a warning to libjpeg-turbo, which pads the
    // image with gray; a truncated training image is corrupt, so that is an error, as is every
    // other problem except the benign warnings below.
    const std::string message = tjGetErrorStr2(tj);
    decompressor.reset();
    if (contains_nocase(message, "premature end")) throw_truncated_jpeg(name);
    if (!is_benign_jpeg_warning(message))
      throw_invalid_image(name, fmt::format("cannot decode the JPEG data ({})", message), fix);
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels.data(), out.pixels.data(), cmyk_pixels.size() / 4, layout.adobe_app14);
}

// The DCT scaling factor (<= 1) giving the smallest size still >= target_w x target_h, so the
// remaining resize only ever shrinks a little. {1, 1} when the target exceeds the full size.
inline tjscalingfactor choose_jpeg_scale(int width, int height, int target_w, int target_h) {
  tjscalingfactor best{1, 1};
  std::uint64_t best_area = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  for (int i = 0; factors && i < count; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;  // never upscale in the DCT domain
    const int w = TJSCALED(width, f), h = TJSCALED(height, f);
    const std::uint64_t area = static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h);
    if (w >= target_w && h >= target_h && area < best_area) best = f, best_area = area;
  }
  return best;
}

// ---- PNG -------------------------------------------------------------------------------------
// libpng reports errors by longjmp. Everything the setjmp frame touches lives in png_job, behind a
// pointer: no local needs `volatile`, and longjmp never skips a C++ destructor (the buffers are
// owned by the caller, outside the jump).

struct png_job {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_bytepp rows = nullptr;  // `height` row pointers into the caller's RGB buffer
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  char message[200] = {};
};

inline void png_on_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<png_job*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof job->message, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

// Warnings (a bad iCCP profile, a damaged ancillary chunk) leave the pixels intact: ignored.
inline void png_on_warning(png_structp, png_const_charp) {}

inline void png_on_read(png_structp png, png_bytep out, std::size_t n) {
  auto* job = static_cast<png_job*>(png_get_io_ptr(png));
  if (job->size - job->pos < n) png_error(png, "the file ends early: it is truncated");
  std::memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

inline bool run_png_decode(png_job* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_structp png = job->png;
  png_infop info = job->info;
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  if (w != job->width || h != job->height) png_error(png, "the IHDR chunk is inconsistent");
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_scale_16(png);
  // Unconditional: palette and gray expansion also turn a tRNS chunk into an alpha channel.
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<std::size_t>(w) * 3)
    png_error(png, "unexpected row layout after conversion to RGB");
  png_read_image(png, job->rows);
  png_read_end(png, nullptr);  // the rest of the file, so that a cut-off tail is noticed
  return true;
}

inline void decode_png(std::span<const std::uint8_t> bytes, std::string_view name, const image_info& info, image& out) {
  reshape(out, info.stored_width, info.stored_height);
  std::vector<png_bytep> rows(static_cast<std::size_t>(out.height));
  for (int y = 0; y < out.height; ++y) rows[static_cast<std::size_t>(y)] = out.row(y);

  png_job job;
  job.data = bytes.data();
  job.size = bytes.size();
  job.rows = rows.data();
  job.width = static_cast<png_uint_32>(out.width);
  job.height = static_cast<png_uint_32>(out.height);
  job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
  if (job.png) job.info = png_create_info_struct(job.png);
  if (!job.png || !job.info) {
    png_destroy_read_struct(job.png ? &job.png : nullptr, nullptr, nullptr);
    throw error(failure_code::unknown, fmt::format("{}: cannot initialize libpng (out of memory?)", name));
  }
  png_set_read_fn(job.png, &job, png_on_read);
  const bool ok = run_png_decode(&job);
  png_destroy_read_struct(&job.png, &job.info, nullptr);
  if (!ok) {
    if (std::strstr(job.message, "truncated"))
      throw_invalid_image(name, "the PNG data ends early: the file is truncated",
                          "re-copy or re-download the image, or remove it from the dataset");
    throw_invalid_image(name, fmt::format("cannot decode the PNG data ({})", job.message),
                        "the file is corrupt: re-export it or remove it from the dataset");
  }
}

// Decodes at (roughly) stored size, without orientation: full size for PNG, the given DCT scale
// for JPEG.
inline void decode_stored(std::span<const std::uint8_t> bytes, std::string_view name, const image_info& info,
                          tjscalingfactor scale, image& out) {
  if (info.format == image_format::jpeg)
    decode_jpeg(bytes, name, info, scale, out);
  else
    decode_png(bytes, name, info, out);
}

}  // namespace detail

// Decodes a JPEG or PNG file held in memory to upright RGB. `name` is used in error messages.
// Throws error{invalid_image} (see the top of this header).
inline image decode_image(std::span<const std::uint8_t> bytes, std::string_view name,
                          const decode_options& options = {}) {
  const image_info info = read_image_info(bytes, name);
  detail::check_pixel_limit(info, name, options);
  image img;
  detail::decode_stored(bytes, name, info, tjscalingfactor{1, 1}, img);
  if (options.apply_exif_orientation && info.orientation != 1) img = apply_orientation(img, info.orientation);
  return img;
}

// Reads and decodes a file. Throws error{io_error} when it cannot be read.
inline image decode_image(const std::filesystem::path& file, const decode_options& options = {}) {
  const auto bytes = read_file(file);
  return decode_image(bytes, file.string(), options);
}

// Decodes and resizes to exactly width x height (displayed orientation; no aspect preservation).
// JPEGs are decoded with DCT-domain downscaling to the smallest size still covering the target,
// which makes this cheaper than a full decode; the rest is done by resize() (area filter when
// shrinking, bilinear when enlarging), before the EXIF rotation so that it touches fewer pixels.
// Requires width, height > 0 (error{invalid_argument}).
inline image decode_resized(std::span<const std::uint8_t> bytes, std::string_view name, int width, int height,
                            const decode_options& options = {}) {
  if (width <= 0 || height <= 0)
    throw error(failure_code::invalid_argument,
                fmt::format("{}: cannot decode to {}x{}: both sides must be at least 1 pixel", name, width, height));
  const image_info info = read_image_info(bytes, name);
  detail::check_pixel_limit(info, name, options);
  const int orientation = options.apply_exif_orientation ? info.orientation : 1;
  const bool swap = orientation >= 5;
  // The target in the stored (unrotated) frame.
  const int stored_w = swap ? height : width, stored_h = swap ? width : height;
  tjscalingfactor scale{1, 1};
  if (info.format == image_format::jpeg)
    scale = detail::choose_jpeg_scale(info.stored_width, info.stored_height, stored_w, stored_h);
  // The intermediate decode goes to a per-thread buffer: no allocation, zeroing or fresh pages
  // per image. Buffers grown by an unusually large image are released afterwards.
  thread_local image scratch;
  struct release_if_large {
    image& img;
    ~release_if_large() {
      if (img.pixels.capacity() > (std::size_t{16} << 20)) img = image{};
    }
  } guard{scratch};
  detail::decode_stored(bytes, name, info, scale, scratch);
  image img = scratch.width == stored_w && scratch.height == stored_h ? scratch : resize(scratch, stored_w, stored_h);
  if (orientation != 1) img = apply_orientation(img, orientation);
  return img;
}

inline image decode_resized(const std::filesystem::path& file, int width, int height,
                            const decode_options& options = {}) {
  const auto bytes = read_file(file);
  return decode_resized(bytes, file.string(), width, height, options);
}

}  // namespace tailor::data
