#pragma once
// Image size and EXIF orientation from the first bytes of a file, without decoding it.
//
// Dataset checks probe every image of a folder; reading a few KiB per file instead of decoding
// megapixels is what makes "check 100k images" take seconds. Only JPEG and PNG are accepted; any
// other file, and any header that is truncated or garbled, is an error{invalid_image} whose message
// names the file and says what to do.
//
// Needs no codec library: this header walks the JPEG markers / PNG chunks itself.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tailor/core/error.hpp"
#include "tailor/data/image.hpp"

namespace tailor::data {

// What a header says about an image.
// stored_width/height: the pixel grid as encoded. orientation: EXIF tag 0x0112 (1..8), 1 when the
// file has none or an invalid one. width()/height(): the size as displayed, i.e. after the EXIF
// rotation, which swaps the axes for orientations 5..8.
struct image_info {
  image_format format = image_format::unknown;
  int stored_width = 0;
  int stored_height = 0;
  int orientation = 1;

  int width() const noexcept { return orientation >= 5 && orientation <= 8 ? stored_height : stored_width; }
  int height() const noexcept { return orientation >= 5 && orientation <= 8 ? stored_width : stored_height; }
};

namespace detail {

inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint16_t load_le16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[1] << 8) | p[0]);
}
inline std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

[[noreturn]] inline void throw_invalid_image(std::string_view name, std::string_view what, std::string_view fix) {
  throw error(failure_code::invalid_image, fmt::format("{}: {}; {}", name, what, fix));
}

inline constexpr std::uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

inline bool starts_with(std::span<const std::uint8_t> bytes, std::string_view magic) noexcept {
  return bytes.size() >= magic.size() && std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
}

// "'GIF8'" when the first bytes are printable, else "ff d8 00 12", plus a guess at what the file is,
// so that the user knows which converter to reach for.
inline std::string describe_file_start(std::span<const std::uint8_t> bytes) {
  const auto head = bytes.first(std::min<std::size_t>(bytes.size(), 4));
  bool printable = std::all_of(head.begin(), head.end(), [](std::uint8_t c) { return c >= 0x20 && c < 0x7f; });
  std::string text;
  if (printable) {
    text = fmt::format("'{}'", std::string_view(reinterpret_cast<const char*>(head.data()), head.size()));
  } else {
    for (std::size_t i = 0; i < head.size(); ++i) text += fmt::format("{}{:02x}", i ? " " : "", head[i]);
  }
  std::string_view kind;
  if (starts_with(bytes, "GIF8"))
    kind = "a GIF image";
  else if (starts_with(bytes, "BM"))
    kind = "a BMP image";
  else if (starts_with(bytes, "RIFF") && bytes.size() >= 12 && std::memcmp(bytes.data() + 8, "WEBP", 4) == 0)
    kind = "a WebP image";
  else if (starts_with(bytes, "II*") || starts_with(bytes, std::string_view("MM\0*", 4)))
    kind = "a TIFF image";
  else if (bytes.size() >= 12 && std::memcmp(bytes.data() + 4, "ftyp", 4) == 0)
    kind = "a HEIC/AVIF image";
  else if (starts_with(bytes, "%PDF"))
    kind = "a PDF document";
  else if (starts_with(bytes, "<") || starts_with(bytes, "{"))
    kind = "text, perhaps an HTML error page";
  return kind.empty() ? fmt::format("starts with {}", text) : fmt::format("starts with {}, {}", text, kind);
}

// EXIF orientation from the TIFF block of an APP1 "Exif\0\0" segment. A broken EXIF block is common
// (editors that half-rewrite it) and must not reject an otherwise good photo: anything unreadable
// or out of range gives 1.
inline int exif_orientation(std::span<const std::uint8_t> tiff) noexcept {
  if (tiff.size() < 8) return 1;
  bool little;
  if (tiff[0] == 'I' && tiff[1] == 'I')
    little = true;
  else if (tiff[0] == 'M' && tiff[1] == 'M')
    little = false;
  else
    return 1;
  auto u16 = [&](std::size_t at) { return little ? load_le16(&tiff[at]) : load_be16(&tiff[at]); };
  auto u32 = [&](std::size_t at) { return little ? load_le32(&tiff[at]) : load_be32(&tiff[at]); };
  if (u16(2) != 42) return 1;
  const std::size_t ifd0 = u32(4);
  if (ifd0 > tiff.size() - 2) return 1;
  const std::size_t count = u16(ifd0);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t entry = ifd0 + 2 + 12 * i;
    if (entry + 12 > tiff.size()) break;
    if (u16(entry) != 0x0112) continue;
    const auto type = u16(entry + 2);
    std::uint32_t value = 0;
    if (type == 3)
      value = u16(entry + 8);  // SHORT, as the standard says
    else if (type == 4)
      value = u32(entry + 8);  // LONG, written by a few tools
    else
      return 1;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

// Parsers over a prefix of the file. They return nullopt when the prefix ends before the header
// does, with `need` set to a prefix length that lets them get further; they throw for garbage.
inline bool is_jpeg_sof(std::uint8_t m) noexcept {
  return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;  // not DHT, JPG, DAC
}

// A JPEG is SOI, then segments "FF marker length(2, big-endian, counting itself) payload" up to the
// frame header (SOFn), whose payload is precision(1) height(2) width(2) components(1) ...; APPn
// segments, EXIF among them, come before it.
inline std::optional<image_info> parse_jpeg_header(std::span<const std::uint8_t> b, std::string_view name,
                                                   std::size_t& need) {
  const std::size_t n = b.size();
  std::size_t pos = 2;  // after SOI
  int orientation = 1;
  bool seen_exif = false;
  for (;;) {
    // Like libjpeg, tolerate stray bytes between segments: scan to the next 0xFF, skip fill bytes.
    while (pos < n && b[pos] != 0xff) ++pos;
    while (pos < n && b[pos] == 0xff) ++pos;
    if (pos >= n) {
      need = n + 1;
      return std::nullopt;
    }
    const std::uint8_t marker = b[pos++];
    // Stuffed zero, TEM and RSTn carry no length; SOI/EOI/SOS before the frame header mean garbage.
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker == 0xd8 || marker == 0xd9 || marker == 0xda)
      throw_invalid_image(name, fmt::format("garbled JPEG header (marker 0x{:02x} before the frame header)", marker),
                          "the file is corrupt: re-export it or remove it from the dataset");
    if (pos + 2 > n) {
      need = pos + 2;
      return std::nullopt;
    }
    const std::size_t length = load_be16(&b[pos]);
    if (length < 2)
      throw_invalid_image(name, "garbled JPEG header (segment length below 2)",
                          "the file is corrupt: re-export it or remove it from the dataset");
    const std::size_t end = pos + length;
    if (is_jpeg_sof(marker)) {
      if (length < 8)
        throw_invalid_image(name, "garbled JPEG frame header", "the file is corrupt: re-export it or remove it");
      if (pos + 8 > n) {
        need = pos + 8;
        return std::nullopt;
      }
      // Height 0 means "given later by a DNL marker", which libjpeg-turbo does not support.
      const int height = load_be16(&b[pos + 3]);
      const int width = load_be16(&b[pos + 5]);
      if (width == 0 || height == 0)
        throw_invalid_image(name, fmt::format("JPEG frame header gives a size of {}x{}", width, height),
                            "the file is corrupt or uses a DNL marker: re-save it with an ordinary JPEG encoder");
      return image_info{image_format::jpeg, width, height, orientation};
    }
    if (marker == 0xe1 && !seen_exif) {
      // APP1: the first one that says "Exif" carries the orientation.
      if (end > n) {
        need = end;
        return std::nullopt;
      }
      auto payload = b.subspan(pos + 2, length - 2);
      if (payload.size() >= 6 && std::memcmp(payload.data(), "Exif\0\0", 6) == 0) {
        seen_exif = true;
        orientation = exif_orientation(payload.subspan(6));
      }
    }
    pos = end;
  }
}

// A PNG is the 8-byte signature, then chunks "length(4) type(4) data CRC(4)"; the first must be
// IHDR: width(4) height(4) bit depth(1) color type(1) compression filter interlace. The CRC is left
// to libpng: a probe reports what the header says.
inline std::optional<image_info> parse_png_header(std::span<const std::uint8_t> b, std::string_view name,
                                                  std::size_t& need) {
  constexpr std::size_t ihdr_end = 8 + 8 + 13;  // signature, chunk length + type, IHDR data
  if (b.size() < ihdr_end) {
    need = ihdr_end;
    return std::nullopt;
  }
  if (load_be32(&b[8]) != 13 || std::memcmp(&b[12], "IHDR", 4) != 0)
    throw_invalid_image(name, "garbled PNG header (the first chunk is not a valid IHDR)",
                        "the file is corrupt: re-export it or remove it from the dataset");
  const std::uint32_t width = load_be32(&b[16]);
  const std::uint32_t height = load_be32(&b[20]);
  const int depth = b[24], color = b[25];
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu)
    throw_invalid_image(name, fmt::format("PNG header gives an impossible size of {}x{}", width, height),
                        "the file is corrupt: re-export it or remove it from the dataset");
  const bool depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
  const bool color_ok = color == 0 || color == 2 || color == 3 || color == 4 || color == 6;
  if (!depth_ok || !color_ok)
    throw_invalid_image(name,
                        fmt::format("PNG header has bit depth {} and color type {}, which is not valid", depth, color),
                        "the file is corrupt: re-export it or remove it from the dataset");
  return image_info{image_format::png, static_cast<int>(width), static_cast<int>(height), 1};
}

// Dispatches on the signature. Throws for anything that is not JPEG or PNG.
inline std::optional<image_info> parse_image_header(std::span<const std::uint8_t> b, std::string_view name,
                                                    std::size_t& need) {
  if (b.empty()) throw_invalid_image(name, "the file is empty", "re-copy the image or remove it from the dataset");
  const std::size_t k = std::min<std::size_t>(b.size(), 8);
  if (std::memcmp(b.data(), png_signature, k) == 0) {
    if (b.size() < 8) {
      need = 8;
      return std::nullopt;
    }
    return parse_png_header(b, name, need);
  }
  static constexpr std::uint8_t soi[3] = {0xff, 0xd8, 0xff};
  if (std::memcmp(b.data(), soi, std::min<std::size_t>(b.size(), 3)) == 0) {
    if (b.size() < 3) {
      need = 3;
      return std::nullopt;
    }
    return parse_jpeg_header(b, name, need);
  }
  throw_invalid_image(name, fmt::format("not a JPEG or PNG file ({})", describe_file_start(b)),
                      "convert it to JPEG or PNG");
}

[[noreturn]] inline void throw_truncated_header(std::string_view name, std::span<const std::uint8_t> b) {
  const bool png = !b.empty() && b[0] == 0x89;
  throw_invalid_image(name,
                      fmt::format("the file ends inside its {} header (only {} bytes): it is truncated",
                                  png ? "PNG" : "JPEG", b.size()),
                      "re-copy or re-download the image, or remove it from the dataset");
}

}  // namespace detail

// Reads format, size and EXIF orientation from a complete in-memory file (or any prefix of it
// that holds the whole header). `name` is only used in error messages.
// Throws error{invalid_image} for non-JPEG/PNG content and truncated or garbled headers.
inline image_info read_image_info(std::span<const std::uint8_t> bytes, std::string_view name) {
  std::size_t need = 0;
  if (auto info = detail::parse_image_header(bytes, name, need)) return *info;
  detail::throw_truncated_header(name, bytes);
}

// Same, reading only as much of the file as the header needs: 64 KiB first, more only when EXIF
// or ICC segments push the JPEG frame header further. Throws error{io_error} naming the file when
// it cannot be opened or read.
inline image_info read_image_info(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto io_fail = [&](std::string_view what) -> error {
    return error(failure_code::io_error, fmt::format("cannot {} {}: {}; check that the file exists and is readable",
                                                     what, name, std::strerror(errno)));
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_fail("open");
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_on_exit{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw io_fail("inspect");
  if (!S_ISREG(st.st_mode))
    throw error(failure_code::io_error, fmt::format("{} is not a regular file; give the path of an image file", name));
  const auto file_size = static_cast<std::size_t>(st.st_size);

  // Read a prefix, parse, and only when the header runs past it read at least twice as much (or
  // what the parser says it needs): large EXIF thumbnails and ICC profiles cost a second read,
  // ordinary files one.
  std::vector<std::uint8_t> buf;
  std::size_t want = std::min<std::size_t>(file_size, 64 * 1024);
  for (;;) {
    const std::size_t have = buf.size();
    buf.resize(want);
    std::size_t done = have;
    while (done < want) {
      const ssize_t got = ::pread(fd, buf.data() + done, want - done, static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw io_fail("read");
      if (got == 0) break;  // the file shrank since fstat
      done += static_cast<std::size_t>(got);
    }
    buf.resize(done);
    std::size_t need = 0;
    if (auto info = detail::parse_image_header(buf, name, need)) return *info;
    // Nothing more to read: the header really is cut off.
    if (done < want || done >= file_size) detail::throw_truncated_header(name, buf);
    want = std::min(file_size, std::max(need + 4096, 2 * done));
  }
}

}  // namespace tailor::data
