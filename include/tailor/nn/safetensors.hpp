#pragma once
// Reading and writing the safetensors format (huggingface/safetensors), the file format tailor
// keeps weights in and the one PyTorch users can write in one line (safetensors.torch.save_file).
//
// Layout: 8 bytes, the header length N as a little-endian u64; N bytes of UTF-8 JSON,
//   {"__metadata__": {"key": "value", ...},
//    "<name>": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [begin, end]}, ...}
// (the header may end with spaces, which the reference writer adds so that the data starts at a
// multiple of 8); then the data section: every tensor's bytes, row-major, little-endian, at
// [begin, end) relative to the start of the data section, with no gaps and no overlaps.
//
// The reader checks everything the reference implementation checks, and says which file, which
// tensor and what to do in every error: the header length fits the file, the header is a JSON
// object, every tensor has a known dtype, a shape of non-negative integers and two offsets inside
// the data section; shape product x dtype size equals the byte length; tensors cover the data
// section exactly, with no overlap, no gap and nothing after them; no name appears twice; the
// metadata maps strings to strings.
//
// The writer sorts tensors by dtype size (largest first, so every tensor is aligned to its element
// size) then by name, as the reference writer does, pads the header with spaces to a multiple of
// 8, and replaces the file atomically (temporary file + rename).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "../core/error.hpp"
#include "../core/file_io.hpp"

namespace tailor::nn {

static_assert(std::endian::native == std::endian::little,
              "tailor: safetensors.hpp reads and writes little-endian data in place; this host is big-endian");

// The element types of the format (the reference implementation's names in to_string).
enum class tensor_dtype { boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64 };

constexpr std::string_view to_string(tensor_dtype d) noexcept {
  switch (d) {
    case tensor_dtype::boolean: return "BOOL";
    case tensor_dtype::u8: return "U8";
    case tensor_dtype::i8: return "I8";
    case tensor_dtype::f8_e5m2: return "F8_E5M2";
    case tensor_dtype::f8_e4m3: return "F8_E4M3";
    case tensor_dtype::i16: return "I16";
    case tensor_dtype::u16: return "U16";
    case tensor_dtype::f16: return "F16";
    case tensor_dtype::bf16: return "BF16";
    case tensor_dtype::i32: return "I32";
    case tensor_dtype::u32: return "U32";
    case tensor_dtype::f32: return "F32";
    case tensor_dtype::f64: return "F64";
    case tensor_dtype::i64: return "I64";
    case tensor_dtype::u64: return "U64";
  }
  return "?";
}

inline constexpr tensor_dtype all_tensor_dtypes[] = {
    tensor_dtype::boolean, tensor_dtype::u8,  tensor_dtype::i8,  tensor_dtype::f8_e5m2, tensor_dtype::f8_e4m3,
    tensor_dtype::i16,     tensor_dtype::u16, tensor_dtype::f16, tensor_dtype::bf16,    tensor_dtype::i32,
    tensor_dtype::u32,     tensor_dtype::f32, tensor_dtype::f64, tensor_dtype::i64,     tensor_dtype::u64};

constexpr std::optional<tensor_dtype> parse_tensor_dtype(std::string_view s) noexcept {
  for (auto d : all_tensor_dtypes)
    if (to_string(d) == s) return d;
  return std::nullopt;
}

constexpr std::size_t dtype_size(tensor_dtype d) noexcept {
  switch (d) {
    case tensor_dtype::boolean:
    case tensor_dtype::u8:
    case tensor_dtype::i8:
    case tensor_dtype::f8_e5m2:
    case tensor_dtype::f8_e4m3: return 1;
    case tensor_dtype::i16:
    case tensor_dtype::u16:
    case tensor_dtype::f16:
    case tensor_dtype::bf16: return 2;
    case tensor_dtype::i32:
    case tensor_dtype::u32:
    case tensor_dtype::f32: return 4;
    case tensor_dtype::f64:
    case tensor_dtype::i64:
    case tensor_dtype::u64: return 8;
  }
  return 0;
}

constexpr bool is_floating(tensor_dtype d) noexcept {
  return d == tensor_dtype::f8_e5m2 || d == tensor_dtype::f8_e4m3 || d == tensor_dtype::f16 || d == tensor_dtype::bf16 ||
         d == tensor_dtype::f32 || d == tensor_dtype::f64;
}

// The dtype that holds T exactly (float -> F32, double -> F64, std::int64_t -> I64, ...).
template <class T>
constexpr tensor_dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return tensor_dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return tensor_dtype::f64;
  else if constexpr (std::is_same_v<T, bool>) return tensor_dtype::boolean;
  else if constexpr (std::is_same_v<T, std::int8_t>) return tensor_dtype::i8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return tensor_dtype::u8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return tensor_dtype::i16;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return tensor_dtype::u16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return tensor_dtype::i32;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return tensor_dtype::u32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return tensor_dtype::i64;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return tensor_dtype::u64;
  else static_assert(sizeof(T) == 0, "tailor: no safetensors dtype holds this type");
}

namespace detail {

template <class T>
T load_le(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// IEEE half -> float, exactly (subnormals, infinities and NaNs included).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: mantissa * 2^-24
    const float v = std::ldexp(float(mantissa), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}

inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

// float8 e4m3fn (bias 7, no infinities, S.1111.111 is NaN) and e5m2 (the upper byte of a half).
inline float f8_e4m3_to_float(std::uint8_t v) {
  const bool negative = v & 0x80;
  const int exponent = (v >> 3) & 0xF, mantissa = v & 0x7;
  float x;
  if (exponent == 0xF && mantissa == 0x7) x = std::numeric_limits<float>::quiet_NaN();
  else if (exponent == 0) x = std::ldexp(float(mantissa), -9);
  else x = std::ldexp(1.0f + float(mantissa) / 8.0f, exponent - 7);
  return negative ? -x : x;
}
inline float f8_e5m2_to_float(std::uint8_t v) { return half_to_float(std::uint16_t(v) << 8); }

}  // namespace detail

// One tensor: its dtype, shape and raw little-endian bytes, as stored in the file.
struct safetensor {
  tensor_dtype dtype = tensor_dtype::f32;
  std::vector<std::size_t> shape;  // empty: a scalar (one element)
  std::vector<std::uint8_t> bytes;

  std::size_t numel() const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }

  // The elements converted to T (any dtype to any arithmetic T; F16, BF16, F8 and F64 to float
  // round as a cast would).
  template <class T>
  std::vector<T> values() const {
    static_assert(std::is_arithmetic_v<T>, "tailor: safetensor::values<T> needs an arithmetic T");
    const std::size_t n = numel(), size = dtype_size(dtype);
    if (bytes.size() != n * size)
      throw error(failure_code::invalid_argument,
                  fmt::format("safetensor: {} bytes for {} elements of {}", bytes.size(), n, to_string(dtype)));
    std::vector<T> out(n);
    const std::uint8_t* p = bytes.data();
    auto each = [&](auto convert) {
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(convert(p + i * size));
    };
    using detail::load_le;
    switch (dtype) {
      case tensor_dtype::boolean: each([](const std::uint8_t* q) { return *q != 0; }); break;
      case tensor_dtype::u8: each([](const std::uint8_t* q) { return *q; }); break;
      case tensor_dtype::i8: each([](const std::uint8_t* q) { return load_le<std::int8_t>(q); }); break;
      case tensor_dtype::f8_e5m2: each([](const std::uint8_t* q) { return detail::f8_e5m2_to_float(*q); }); break;
      case tensor_dtype::f8_e4m3: each([](const std::uint8_t* q) { return detail::f8_e4m3_to_float(*q); }); break;
      case tensor_dtype::i16: each([](const std::uint8_t* q) { return load_le<std::int16_t>(q); }); break;
      case tensor_dtype::u16: each([](const std::uint8_t* q) { return load_le<std::uint16_t>(q); }); break;
      case tensor_dtype::f16:
        each([](const std::uint8_t* q) { return detail::half_to_float(load_le<std::uint16_t>(q)); });
        break;
      case tensor_dtype::bf16:
        each([](const std::uint8_t* q) { return detail::bf16_to_float(load_le<std::uint16_t>(q)); });
        break;
      case tensor_dtype::i32: each([](const std::uint8_t* q) { return load_le<std::int32_t>(q); }); break;
      case tensor_dtype::u32: each([](const std::uint8_t* q) { return load_le<std::uint32_t>(q); }); break;
      case tensor_dtype::f32: each([](const std::uint8_t* q) { return load_le<float>(q); }); break;
      case tensor_dtype::f64: each([](const std::uint8_t* q) { return load_le<double>(q); }); break;
      case tensor_dtype::i64: each([](const std::uint8_t* q) { return load_le<std::int64_t>(q); }); break;
      case tensor_dtype::u64: each([](const std::uint8_t* q) { return load_le<std::uint64_t>(q); }); break;
    }
    return out;
  }
  std::vector<float> to_float() const { return values<float>(); }

  // A tensor holding `data` as `as` (default: the dtype that holds T exactly). Converting to
  // another dtype is supported towards F32, F64 and I64 (what tailor writes).
  template <class T>
  static safetensor from_values(std::span<const T> data, std::vector<std::size_t> shape, tensor_dtype as = dtype_of<T>()) {
    safetensor t;
    t.dtype = as;
    t.shape = std::move(shape);
    if (t.numel() != data.size())
      throw error(failure_code::invalid_argument,
                  fmt::format("safetensor: shape [{}] holds {} elements, {} given", fmt::join(t.shape, ", "), t.numel(),
                              data.size()));
    t.bytes.resize(data.size() * dtype_size(as));
    auto store = [&]<class U>(U) {
      for (std::size_t i = 0; i < data.size(); ++i) {
        const U v = static_cast<U>(data[i]);
        std::memcpy(t.bytes.data() + i * sizeof(U), &v, sizeof(U));
      }
    };
    if (as == dtype_of<T>()) {
      if (!data.empty()) std::memcpy(t.bytes.data(), data.data(), t.bytes.size());
    } else if (as == tensor_dtype::f32) store(float{});
    else if (as == tensor_dtype::f64) store(double{});
    else if (as == tensor_dtype::i64) store(std::int64_t{});
    else
      throw error(failure_code::invalid_argument,
                  fmt::format("safetensor: cannot convert to {} (F32, F64 and I64 are supported)", to_string(as)));
    return t;
  }
};

using safetensors_map = std::map<std::string, safetensor, std::less<>>;
using safetensors_metadata = std::map<std::string, std::string, std::less<>>;

// A whole file: its tensors by name, its "__metadata__", and where it came from (for messages).
struct safetensors_file {
  safetensors_map tensors;
  safetensors_metadata metadata;
  std::string source;  // the path, or what the bytes were called

  const safetensor* find(std::string_view name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
  const safetensor& at(std::string_view name) const {
    if (auto* t = find(name)) return *t;
    throw error(failure_code::invalid_argument,
                fmt::format("{}: no tensor named \"{}\" (the file has {} tensors{}); check the name against the file's "
                            "list (python: safetensors.safe_open(path, 'pt').keys())",
                            source, name, tensors.size(),
                            tensors.empty() ? std::string() : fmt::format(", the first \"{}\"", tensors.begin()->first)));
  }
};

// The reference implementation's limit on the header (a guard against absurd allocations).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

namespace detail {

inline constexpr std::string_view safetensors_rewrite_fix =
    "The file is damaged (truncated or partly overwritten) or was not written by a safetensors writer: write it again "
    "(python: safetensors.torch.save_file(model.state_dict(), path); see docs/weights.md)";

[[noreturn]] inline void bad_safetensors(std::string_view source, std::string_view what,
                                         std::string_view fix = safetensors_rewrite_fix) {
  throw error(failure_code::invalid_argument, fmt::format("{}: {}. {}", source, what, fix));
}

inline std::string tensor_label(std::string_view name) { return fmt::format("tensor \"{}\"", name); }

}  // namespace detail

// Parses a whole file held in memory; `source` names it in errors.
inline safetensors_file parse_safetensors(std::span<const std::uint8_t> file, std::string source = "<memory>") {
  using detail::bad_safetensors;
  using detail::tensor_label;
  safetensors_file out;
  out.source = std::move(source);
  const std::string_view src = out.source;
  if (file.size() < 8)
    bad_safetensors(src, fmt::format("the file is {} bytes, shorter than the 8-byte header length that starts a safetensors "
                                     "file",
                                     file.size()));
  const auto header_len = detail::load_le<std::uint64_t>(file.data());
  if (header_len > safetensors_max_header)
    bad_safetensors(src, fmt::format("the header length is {} bytes, more than the {} a safetensors header may have (the first "
                                     "8 bytes are not a header length: not a safetensors file?)",
                                     header_len, safetensors_max_header));
  if (header_len > file.size() - 8)
    bad_safetensors(src, fmt::format("the header length is {} bytes but only {} bytes follow it (the file is truncated)",
                                     header_len, file.size() - 8));
  if (header_len < 2 || file[8] != '{')
    bad_safetensors(src, "the header does not start with '{' (the header must be a JSON object)");
  const std::string_view header(reinterpret_cast<const char*>(file.data() + 8), std::size_t(header_len));
  const std::span<const std::uint8_t> data = file.subspan(8 + std::size_t(header_len));

  simdjson::dom::parser parser;
  simdjson::padded_string padded(header);
  simdjson::dom::element root;
  if (auto e = parser.parse(padded).get(root))
    bad_safetensors(src, fmt::format("the {}-byte header is not valid JSON ({})", header_len, simdjson::error_message(e)));
  simdjson::dom::object object;
  if (root.get_object().get(object)) bad_safetensors(src, "the header is not a JSON object");

  struct extent {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<extent> extents;
  bool seen_metadata = false;
  for (auto field : object) {
    const std::string name(field.key);
    const simdjson::dom::element value = field.value;
    if (name == "__metadata__") {
      if (seen_metadata) bad_safetensors(src, "\"__metadata__\" appears twice in the header");
      seen_metadata = true;
      simdjson::dom::object meta;
      if (value.get_object().get(meta)) bad_safetensors(src, "\"__metadata__\" is not a JSON object of strings");
      for (auto m : meta) {
        std::string_view text;
        if (m.value.get_string().get(text))
          bad_safetensors(src, fmt::format("metadata \"{}\" is not a string (safetensors metadata maps strings to strings)", m.key));
        if (!out.metadata.emplace(std::string(m.key), std::string(text)).second)
          bad_safetensors(src, fmt::format("metadata \"{}\" appears twice", m.key));
      }
      continue;
    }
    const std::string label = tensor_label(name);
    if (out.tensors.contains(name)) bad_safetensors(src, fmt::format("{} appears twice in the header", label));
    simdjson::dom::object info;
    if (value.get_object().get(info))
      bad_safetensors(src, fmt::format("{} is not described by a JSON object {{\"dtype\", \"shape\", \"data_offsets\"}}", label));
    std::string_view dtype_text;
    if (info["dtype"].get_string().get(dtype_text))
      bad_safetensors(src, fmt::format("{} has no \"dtype\" string", label));
    const auto dtype = parse_tensor_dtype(dtype_text);
    if (!dtype) {
      std::vector<std::string_view> known;
      for (auto d : all_tensor_dtypes) known.push_back(to_string(d));
      bad_safetensors(src, fmt::format("{} has the unknown dtype \"{}\"", label, dtype_text),
                      fmt::format("Known dtypes: {}; convert the tensor to one of them (e.g. tensor.float()) and write the "
                                  "file again",
                                  fmt::join(known, ", ")));
    }
    safetensor t;
    t.dtype = *dtype;
    simdjson::dom::array shape;
    if (info["shape"].get_array().get(shape)) bad_safetensors(src, fmt::format("{} has no \"shape\" array", label));
    std::uint64_t count = 1;
    bool overflow = false;
    for (auto d : shape) {
      std::uint64_t v;
      if (d.get_uint64().get(v))
        bad_safetensors(src, fmt::format("{} has a shape entry that is not a non-negative integer", label));
      t.shape.push_back(std::size_t(v));
      if (v != 0 && count > std::numeric_limits<std::uint64_t>::max() / v) overflow = true;
      else count *= v;
    }
    simdjson::dom::array offsets;
    if (info["data_offsets"].get_array().get(offsets) || offsets.size() != 2)
      bad_safetensors(src, fmt::format("{} has no \"data_offsets\" [begin, end]", label));
    std::uint64_t begin = 0, end = 0;
    if (offsets.at(0).get_uint64().get(begin) || offsets.at(1).get_uint64().get(end))
      bad_safetensors(src, fmt::format("{} has data_offsets that are not non-negative integers", label));
    if (end < begin) bad_safetensors(src, fmt::format("{} has data_offsets [{}, {}] that end before they begin", label, begin, end));
    if (end > data.size())
      bad_safetensors(src, fmt::format("{} has data_offsets [{}, {}] past the end of the {}-byte data section (out of range: "
                                       "the file is truncated or its header is wrong)",
                                       label, begin, end, data.size()));
    const std::uint64_t size = dtype_size(*dtype);
    if (overflow || (count != 0 && count > std::numeric_limits<std::uint64_t>::max() / size) || count * size != end - begin)
      bad_safetensors(src, fmt::format("{} is {} of shape [{}]: {} bytes, but its data_offsets [{}, {}] hold {} bytes", label,
                                       dtype_text, fmt::join(t.shape, ", "),
                                       overflow ? std::string("too many") : std::to_string(count * size), begin, end,
                                       end - begin));
    extents.push_back({begin, end, name});
    t.bytes.assign(data.begin() + std::ptrdiff_t(begin), data.begin() + std::ptrdiff_t(end));
    out.tensors.emplace(name, std::move(t));
  }

  // The tensors must tile the data section: sorted by offset, each starts where the previous ended.
  std::sort(extents.begin(), extents.end(), [](const extent& a, const extent& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t position = 0;
  const extent* previous = nullptr;
  for (const auto& e : extents) {
    if (e.begin < position)
      bad_safetensors(src, fmt::format("{} at bytes [{}, {}] overlaps {} at bytes [{}, {}]", tensor_label(e.name), e.begin, e.end,
                                       tensor_label(previous->name), previous->begin, previous->end));
    if (e.begin > position)
      bad_safetensors(src, fmt::format("{} starts at byte {} of the data section, but {} ends at byte {}: {} bytes belong to no "
                                       "tensor",
                                       tensor_label(e.name), e.begin,
                                       previous ? tensor_label(previous->name) : std::string("the data section starts"),
                                       position, e.begin - position));
    position = e.end;
    previous = &e;
  }
  if (position != data.size())
    bad_safetensors(src, fmt::format("the data section is {} bytes but its tensors end at byte {}{}: {} bytes belong to no "
                                     "tensor",
                                     data.size(), position,
                                     previous ? fmt::format(" ({} is last)", tensor_label(previous->name)) : std::string(),
                                     data.size() - position));
  return out;
}

// Reads and checks a .safetensors file. Throws error{io_error} when it cannot be read and
// error{invalid_argument} naming the file, the tensor and the fix when it is malformed.
inline safetensors_file read_safetensors(const std::filesystem::path& path) {
  const auto bytes = read_file(path);
  return parse_safetensors(bytes, path.string());
}

// The bytes of a safetensors file holding `tensors` (and `metadata` when not empty).
inline std::vector<std::uint8_t> serialize_safetensors(const safetensors_map& tensors, const safetensors_metadata& metadata = {},
                                                       std::string_view destination = "safetensors") {
  std::vector<std::pair<const std::string*, const safetensor*>> order;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: a tensor cannot be named \"{}\"; rename it", destination, name));
    if (t.bytes.size() != t.numel() * dtype_size(t.dtype))
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: tensor \"{}\" is {} of shape [{}] ({} bytes) but holds {} bytes; fill it with "
                              "safetensor::from_values",
                              destination, name, to_string(t.dtype), fmt::join(t.shape, ", "),
                              t.numel() * dtype_size(t.dtype), t.bytes.size()));
    order.emplace_back(&name, &t);
  }
  // Largest element first, then by name (the reference writer's order): every tensor aligned.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second->dtype) > dtype_size(b.second->dtype);
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"] = nlohmann::json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    header[*name] = {{"dtype", to_string(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw error(failure_code::invalid_argument,
                fmt::format("{}: a tensor name or metadata entry is not valid UTF-8 ({}); use UTF-8 names", destination, e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::uint8_t> out(8 + text.size() + std::size_t(offset));
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  auto at = std::copy(text.begin(), text.end(), out.begin() + 8);
  for (const auto& [name, t] : order) at = std::copy(t->bytes.begin(), t->bytes.end(), at);
  return out;
}

// Writes a .safetensors file atomically: readers see the old file or the whole new one.
inline void write_safetensors(const std::filesystem::path& path, const safetensors_map& tensors,
                              const safetensors_metadata& metadata = {}) {
  const auto bytes = serialize_safetensors(tensors, metadata, path.string());
  write_file_atomically(path, std::span<const std::uint8_t>(bytes));
}

}  // namespace tailor::nn
