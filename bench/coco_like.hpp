#pragma once
// A deterministic COCO-like detection file, shaped like instances_train2017.json: "info",
// "licenses", "images" (with license, coco_url, date_captured, flickr_url), "annotations" (with
// segmentation polygons, area, iscrowd, image_id, bbox, category_id, id) and the 80 COCO
// "categories", in that order. Ids are sparse like COCO's. The defaults give about 80 MB.
//
//   std::string json = tailor::bench::make_coco_like();
//   tailor::bench::write_coco_like("/tmp/coco_like.json");
//
// Numbers are written from integers (hundredths) rather than formatted as doubles: the same
// bytes as "{:.2f}" would give, several times faster, and identical on every platform.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace tailor::bench {

struct coco_like_options {
  std::size_t images = 20'000;
  std::size_t annotations = 300'000;
  // Polygon numbers (x and y each count) per polygon: uniform in [min, max], even. Real COCO
  // polygons are longer (~20-60 numbers), but 300k such annotations make ~140 MB: these keep the
  // file near 80 MB, and shorter polygons are the harder case for a loader that skips them.
  int polygon_min = 8;
  int polygon_max = 20;
  int two_polygons_percent = 15;  // annotations split in two polygons (occluded objects)
  std::uint64_t seed = 2017;
};

namespace detail {

// splitmix64: our own generator, so the file is byte-identical across standard libraries
// (std:: distributions are implementation-defined).
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (the modulo bias is irrelevant here).
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t state_;
};

struct coco_category_name {
  int id;
  const char* name;
  const char* supercategory;
};

// The 80 COCO categories with their real (gapped) ids.
inline constexpr coco_category_name coco_categories[] = {
    {1, "person", "person"}, {2, "bicycle", "vehicle"}, {3, "car", "vehicle"}, {4, "motorcycle", "vehicle"},
    {5, "airplane", "vehicle"}, {6, "bus", "vehicle"}, {7, "train", "vehicle"}, {8, "truck", "vehicle"},
    {9, "boat", "vehicle"}, {10, "traffic light", "outdoor"}, {11, "fire hydrant", "outdoor"},
    {13, "stop sign", "outdoor"}, {14, "parking meter", "outdoor"}, {15, "bench", "outdoor"},
    {16, "bird", "animal"}, {17, "cat", "animal"}, {18, "dog", "animal"}, {19, "horse", "animal"},
    {20, "sheep", "animal"}, {21, "cow", "animal"}, {22, "elephant", "animal"}, {23, "bear", "animal"},
    {24, "zebra", "animal"}, {25, "giraffe", "animal"}, {27, "backpack", "accessory"},
    {28, "umbrella", "accessory"}, {31, "handbag", "accessory"}, {32, "tie", "accessory"},
    {33, "suitcase", "accessory"}, {34, "frisbee", "sports"}, {35, "skis", "sports"},
    {36, "snowboard", "sports"}, {37, "sports ball", "sports"}, {38, "kite", "sports"},
    {39, "baseball bat", "sports"}, {40, "baseball glove", "sports"}, {41, "skateboard", "sports"},
    {42, "surfboard", "sports"}, {43, "tennis racket", "sports"}, {44, "bottle", "kitchen"},
    {46, "wine glass", "kitchen"}, {47, "cup", "kitchen"}, {48, "fork", "kitchen"}, {49, "knife", "kitchen"},
    {50, "spoon", "kitchen"}, {51, "bowl", "kitchen"}, {52, "banana", "food"}, {53, "apple", "food"},
    {54, "sandwich", "food"}, {55, "orange", "food"}, {56, "broccoli", "food"}, {57, "carrot", "food"},
    {58, "hot dog", "food"}, {59, "pizza", "food"}, {60, "donut", "food"}, {61, "cake", "food"},
    {62, "chair", "furniture"}, {63, "couch", "furniture"}, {64, "potted plant", "furniture"},
    {65, "bed", "furniture"}, {67, "dining table", "furniture"}, {70, "toilet", "furniture"},
    {72, "tv", "electronic"}, {73, "laptop", "electronic"}, {74, "mouse", "electronic"},
    {75, "remote", "electronic"}, {76, "keyboard", "electronic"}, {77, "cell phone", "electronic"},
    {78, "microwave", "appliance"}, {79, "oven", "appliance"}, {80, "toaster", "appliance"},
    {81, "sink", "appliance"}, {82, "refrigerator", "appliance"}, {84, "book", "indoor"},
    {85, "clock", "indoor"}, {86, "vase", "indoor"}, {87, "scissors", "indoor"},
    {88, "teddy bear", "indoor"}, {89, "hair drier", "indoor"}, {90, "toothbrush", "indoor"},
};

// Appends hundredths as a fixed 2-decimal number: 47307 -> "473.07".
template <class Out>
inline Out hundredths(Out out, std::int64_t v) {
  return fmt::format_to(out, "{}.{:02}", v / 100, v % 100);
}

}  // namespace detail

// The file as one string. Every box lies inside its image and has a positive size, every
// annotation points at an existing image and category: the file loads without errors.
inline std::string make_coco_like(const coco_like_options& o = {}) {
  detail::rng r(o.seed);
  fmt::memory_buffer buf;
  buf.reserve(o.images * 260 + o.annotations * 280 + 16'384);
  auto out = std::back_inserter(buf);

  out = fmt::format_to(out,
                       "{{\"info\": {{\"description\": \"COCO-like benchmark file\", \"url\": \"http://cocodataset.org\", "
                       "\"version\": \"1.0\", \"year\": 2017, \"contributor\": \"tailor bench\", "
                       "\"date_created\": \"2017/09/01\"}}, \"licenses\": [");
  for (int l = 1; l <= 8; ++l)
    out = fmt::format_to(out, "{}{{\"url\": \"http://creativecommons.org/licenses/by-nc-sa/2.0/\", \"id\": {}, "
                              "\"name\": \"Attribution-NonCommercial-ShareAlike License {}\"}}",
                         l == 1 ? "" : ", ", l, l);

  // Images: sparse increasing ids (as in COCO, ids are not positions), sizes like COCO's.
  struct image_size {
    int w, h;
  };
  std::vector<std::int64_t> image_ids(o.images);
  std::vector<image_size> sizes(o.images);
  std::int64_t id = 0;
  out = fmt::format_to(out, "], \"images\": [");
  for (std::size_t i = 0; i < o.images; ++i) {
    id += r.between(1, 9);
    image_ids[i] = id;
    const bool landscape = r.between(0, 3) != 0;
    const int longer = 640, shorter = static_cast<int>(r.between(240, 480));
    sizes[i] = landscape ? image_size{longer, shorter} : image_size{shorter, longer};
    out = fmt::format_to(out,
                         "{}{{\"license\": {}, \"file_name\": \"{:012}.jpg\", "
                         "\"coco_url\": \"http://images.cocodataset.org/train2017/{:012}.jpg\", "
                         "\"height\": {}, \"width\": {}, \"date_captured\": \"2013-{:02}-{:02} {:02}:{:02}:{:02}\", "
                         "\"flickr_url\": \"http://farm{}.staticflickr.com/{}/{}_{:010x}_z.jpg\", \"id\": {}}}",
                         i == 0 ? "" : ", ", r.between(1, 8), id, id, sizes[i].h, sizes[i].w, r.between(1, 12),
                         r.between(1, 28), r.between(0, 23), r.between(0, 59), r.between(0, 59), r.between(1, 9),
                         r.between(1000, 9999), r.between(1'000'000'000, 9'999'999'999),
                         r.next() & 0xffffffffffull, id);
  }

  // Annotations: random image, random category; a box inside the image, and polygons inside
  // the box. Coordinates in hundredths of a pixel.
  constexpr std::size_t category_count = std::size(detail::coco_categories);
  std::int64_t annotation_id = 0;
  out = fmt::format_to(out, "], \"annotations\": [");
  for (std::size_t a = 0; a < o.annotations; ++a) {
    const auto image = static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(o.images) - 1));
    const std::int64_t W = sizes[image].w * 100, H = sizes[image].h * 100;
    const std::int64_t bw = r.between(200, W / 2), bh = r.between(200, H / 2);
    const std::int64_t bx = r.between(0, W - bw), by = r.between(0, H - bh);
    out = fmt::format_to(out, "{}{{\"segmentation\": [", a == 0 ? "" : ", ");
    const int polygons = r.between(0, 99) < o.two_polygons_percent ? 2 : 1;
    for (int p = 0; p < polygons; ++p) {
      const int numbers = static_cast<int>(r.between(o.polygon_min / 2, o.polygon_max / 2)) * 2;
      *out++ = p == 0 ? '[' : ',';
      if (p != 0) *out++ = '[';
      for (int k = 0; k < numbers; k += 2) {
        if (k != 0) *out++ = ',';
        out = detail::hundredths(out, bx + r.between(0, bw));
        *out++ = ',';
        out = detail::hundredths(out, by + r.between(0, bh));
      }
      *out++ = ']';
    }
    // Area of the polygon is below the box's: about 60% of it, in square pixels.
    const std::int64_t area = bw * bh * static_cast<std::int64_t>(r.between(40, 80)) / 10'000;
    annotation_id += r.between(1, 3);
    out = fmt::format_to(out, "], \"area\": ");
    out = detail::hundredths(out, area);
    out = fmt::format_to(out, ", \"iscrowd\": 0, \"image_id\": {}, \"bbox\": [", image_ids[image]);
    out = detail::hundredths(out, bx);
    *out++ = ',';
    out = detail::hundredths(out, by);
    *out++ = ',';
    out = detail::hundredths(out, bw);
    *out++ = ',';
    out = detail::hundredths(out, bh);
    out = fmt::format_to(out, "], \"category_id\": {}, \"id\": {}}}",
                         detail::coco_categories[r.next() % category_count].id, annotation_id);
  }

  out = fmt::format_to(out, "], \"categories\": [");
  for (std::size_t c = 0; c < category_count; ++c)
    out = fmt::format_to(out, "{}{{\"supercategory\": \"{}\", \"id\": {}, \"name\": \"{}\"}}", c == 0 ? "" : ", ",
                         detail::coco_categories[c].supercategory, detail::coco_categories[c].id,
                         detail::coco_categories[c].name);
  out = fmt::format_to(out, "]}}\n");
  return fmt::to_string(buf);
}

// Writes the file (for the Python peer). Throws std::runtime_error when it cannot.
inline void write_coco_like(const std::filesystem::path& path, const std::string& json) {
  std::FILE* f = std::fopen(path.string().c_str(), "wb");
  if (f == nullptr) throw std::runtime_error(fmt::format("cannot open {} for writing", path.string()));
  const bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
}

inline void write_coco_like(const std::filesystem::path& path, const coco_like_options& o = {}) {
  write_coco_like(path, make_coco_like(o));
}

}  // namespace tailor::bench
