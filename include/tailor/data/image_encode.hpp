#pragma once
// Encoding RGB images to JPEG (TurboJPEG) and PNG (libpng), and writing them to disk.
//
// Used for exported crops, debug renderings, example data and test fixtures.
// with_exif_orientation() makes "rotated phone photo" fixtures: a JPEG whose stored pixels must be
// rotated/flipped by the reader, as cameras write them.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/core/file_io.hpp"
#include "tailor/data/image.hpp"

namespace tailor::data {

namespace detail {

// Refuses images whose buffer does not match their size, before a codec reads past it.
inline void check_encodable(const image& img) {
  if (img.empty() || img.pixels.size() != img.row_bytes() * static_cast<std::size_t>(img.height))
    throw error(failure_code::invalid_argument,
                fmt::format("cannot encode a {}x{} image holding {} bytes: expected width * height * 3 bytes",
                            img.width, img.height, img.pixels.size()));
}

inline tjhandle jpeg_compressor() {
  struct holder {
    tjhandle handle = nullptr;
    ~holder() {
      if (handle) tjDestroy(handle);
    }
  };
  thread_local holder h;  // one per thread: creation allocates
  if (!h.handle) h.handle = tjInitCompress();
  if (!h.handle)
    throw error(failure_code::unknown,
                fmt::format("cannot initialize the TurboJPEG compressor: {}", tjGetErrorStr2(nullptr)));
  return h.handle;
}

// libpng write state; see image_decode.hpp for why it all sits behind one pointer.
struct png_write_job {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const image* img = nullptr;
  std::vector<std::uint8_t>* out = nullptr;
  char message[200] = {};
};

inline void png_on_write_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<png_write_job*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof job->message, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

inline void png_on_write_warning(png_structp, png_const_charp) {}

// libpng's output callback: appends to the caller's vector. An allocation failure must not unwind
// through libpng's C frames, so it becomes a png_error (longjmp) after the catch block has ended.
inline void png_on_write(png_structp png, png_bytep data, std::size_t n) {
  auto* job = static_cast<png_write_job*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    job->out->insert(job->out->end(), data, data + n);
  } catch (...) {
    failed = true;  // longjmp only once the exception is finished with
  }
  if (failed) png_error(png, "out of memory");
}

inline void png_on_flush(png_structp) {}

// The setjmp frame: returns false when libpng reported an error (message in job->message).
inline bool run_png_encode(png_write_job* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  const image& img = *job->img;
  png_set_IHDR(job->png, job->info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(job->png, job->info);
  for (int y = 0; y < img.height; ++y) png_write_row(job->png, img.row(y));
  png_write_end(job->png, nullptr);
  return true;
}

}  // namespace detail

// Encodes as a baseline JPEG with 4:2:0 chroma subsampling (what cameras write).
// Requires 1 <= quality <= 100 (error{invalid_argument}).
inline std::vector<std::uint8_t> encode_jpeg(const image& img, int quality = 90) {
  detail::check_encodable(img);
  if (quality < 1 || quality > 100)
    throw error(failure_code::invalid_argument, fmt::format("JPEG quality must be 1..100, not {}", quality));
  tjhandle tj = detail::jpeg_compressor();
  // Encode straight into a buffer of the worst-case size: no TurboJPEG-owned memory to free.
  std::vector<std::uint8_t> out(tjBufSize(img.width, img.height, TJSAMP_420));
  unsigned char* dst = out.data();
  unsigned long size = static_cast<unsigned long>(out.size());
  if (tjCompress2(tj, img.pixels.data(), img.width, 0, img.height, TJPF_RGB, &dst, &size, TJSAMP_420, quality,
                  TJFLAG_NOREALLOC) != 0)
    throw error(failure_code::unknown, fmt::format("JPEG encoding failed: {}", tjGetErrorStr2(tj)));
  out.resize(size);
  return out;
}

// Encodes as an 8-bit RGB PNG (lossless).
inline std::vector<std::uint8_t> encode_png(const image& img) {
  detail::check_encodable(img);
  std::vector<std::uint8_t> out;
  out.reserve(img.pixels.size() / 2 + 1024);
  detail::png_write_job job;
  job.img = &img;
  job.out = &out;
  job.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, detail::png_on_write_error, detail::png_on_write_warning);
  if (job.png) job.info = png_create_info_struct(job.png);
  if (!job.png || !job.info) {
    png_destroy_write_struct(job.png ? &job.png : nullptr, nullptr);
    throw error(failure_code::unknown, "cannot initialize libpng (out of memory?)");
  }
  png_set_write_fn(job.png, &job, detail::png_on_write, detail::png_on_flush);
  const bool ok = detail::run_png_encode(&job);
  png_destroy_write_struct(&job.png, &job.info);
  if (!ok) throw error(failure_code::unknown, fmt::format("PNG encoding failed: {}", job.message));
  return out;
}

// Writes `img` to `file`, atomically (tailor::write_file_atomically). The format follows the
// extension: .jpg/.jpeg (any case) as JPEG at `jpeg_quality`, .png as PNG; anything else is
// error{invalid_argument}.
inline void write_image(const std::filesystem::path& file, const image& img, int jpeg_quality = 90) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".jpg" || ext == ".jpeg")
    write_file_atomically(file, encode_jpeg(img, jpeg_quality));
  else if (ext == ".png")
    write_file_atomically(file, encode_png(img));
  else
    throw error(failure_code::invalid_argument,
                fmt::format("cannot tell the image format of {} from its extension: name it .jpg, .jpeg or .png",
                            file.string()));
}

// Returns `jpeg` with a minimal APP1 Exif segment (IFD0 holding only tag 0x0112 = orientation)
// inserted right after SOI; the TIFF block is big-endian ("MM") or little-endian ("II").
// `orientation` may be any 0..65535 so that invalid tags can be produced for tests; readers take
// only 1..8. Requires a buffer starting with SOI (error{invalid_argument} otherwise).
inline std::vector<std::uint8_t> with_exif_orientation(std::span<const std::uint8_t> jpeg, int orientation,
                                                       bool big_endian = true) {
  if (jpeg.size() < 2 || jpeg[0] != 0xff || jpeg[1] != 0xd8)
    throw error(failure_code::invalid_argument, "with_exif_orientation needs JPEG data (starting with FF D8)");
  if (orientation < 0 || orientation > 0xffff)
    throw error(failure_code::invalid_argument, fmt::format("EXIF orientation {} does not fit 16 bits", orientation));
  const auto v = static_cast<std::uint16_t>(orientation);
  auto u16 = [&](std::uint16_t x) -> std::array<std::uint8_t, 2> {
    const auto hi = static_cast<std::uint8_t>(x >> 8), lo = static_cast<std::uint8_t>(x & 0xff);
    return big_endian ? std::array<std::uint8_t, 2>{hi, lo} : std::array<std::uint8_t, 2>{lo, hi};
  };
  // TIFF header (byte order, 42, offset of IFD0 = 8), then IFD0 with its one 12-byte entry.
  std::vector<std::uint8_t> tiff;
  auto put16 = [&](std::uint16_t x) {
    auto b = u16(x);
    tiff.insert(tiff.end(), b.begin(), b.end());
  };
  auto put32 = [&](std::uint32_t x) {  // two halves, most significant first only when big-endian
    const auto hi = static_cast<std::uint16_t>(x >> 16), lo = static_cast<std::uint16_t>(x & 0xffff);
    put16(big_endian ? hi : lo);
    put16(big_endian ? lo : hi);
  };
  tiff.push_back(big_endian ? 'M' : 'I');
  tiff.push_back(big_endian ? 'M' : 'I');
  put16(42);
  put32(8);       // IFD0 right after the header
  put16(1);       // one entry
  put16(0x0112);  // Orientation
  put16(3);       // SHORT
  put32(1);       // count
  put16(v);       // value, left-justified in the 4-byte field
  put16(0);
  put32(0);  // no next IFD

  // APP1 = FF E1, length (big-endian, counting itself), "Exif\0\0", the TIFF block.
  const std::size_t length = 2 + 6 + tiff.size();
  // Sized once and filled with memcpy (GCC 12 reports false -Wstringop-overflow / -Warray-bounds
  // on vector::insert chains here).
  const std::array<std::uint8_t, 12> head{0xff, 0xd8, 0xff, 0xe1, static_cast<std::uint8_t>(length >> 8),
                                          static_cast<std::uint8_t>(length & 0xff), 'E', 'x', 'i', 'f', 0, 0};
  std::vector<std::uint8_t> out(head.size() + tiff.size() + (jpeg.size() - 2));
  std::memcpy(out.data(), head.data(), head.size());
  std::memcpy(out.data() + head.size(), tiff.data(), tiff.size());
  std::memcpy(out.data() + head.size() + tiff.size(), jpeg.data() + 2, jpeg.size() - 2);
  return out;
}

}  // namespace tailor::data
