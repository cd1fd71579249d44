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
#include <algorithm>
#include <cmath>
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

// A detection-evaluation case shaped like COCO val2017 with a detector's output: the ground truth
// (5,000 images, 36,000 boxes of the 80 categories, about 1% of them crowd regions) and a results
// file with 100 detections per image. Each image shows 1 to 4 categories (person the most
// frequent), box sides are log-uniform (about 40% small, 30% medium, 30% large by COCO's ranges)
// and the 'area' field is 45-90% of the box, as a segmentation area is. Detections: most boxes
// are found once or more with jittered position and size and a high score (some with a confused
// category), crowd regions catch a few, and random boxes with low scores fill each image to 100.
// Every number is written in hundredths (scores in 1e-5), so the C++ and Python sides parse the
// same doubles; scores tie often, which exercises the stable sorts.
//
//   auto c = tailor::bench::make_detection_case();   // c.ground_truth, c.results: JSON text
struct detection_case_options {
  std::size_t images = 5'000;
  std::size_t boxes = 36'000;  // ground-truth boxes, crowd regions included
  std::size_t detections_per_image = 100;
  int crowd_permille = 10;
  std::uint64_t seed = 2017;
};

struct detection_case {
  std::string ground_truth;  // COCO file: images (with sizes and file names), annotations, categories
  std::string results;       // COCO results: [{image_id, category_id, bbox, score}, ...]
  std::size_t crowd_boxes = 0;
};

inline detection_case make_detection_case(const detection_case_options& o = {}) {
  detail::rng r(o.seed);
  auto uniform = [&] { return static_cast<double>(r.next() >> 11) * 0x1.0p-53; };  // [0, 1)
  auto normal = [&] { return (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772; };  // ~N(0,1)
  constexpr std::size_t category_count = std::size(detail::coco_categories);
  // Category frequencies falling off with the list position (person first), as in COCO.
  std::vector<double> cumulative(category_count);
  double total = 0;
  for (std::size_t c = 0; c < category_count; ++c) cumulative[c] = total += 1.0 / (static_cast<double>(c) + 3.0);
  auto pick_category = [&] {
    const double u = uniform() * total;
    const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    return static_cast<std::size_t>(std::min<std::ptrdiff_t>(it - cumulative.begin(), category_count - 1));
  };

  struct image_info {
    std::int64_t id;
    std::int64_t w, h;  // hundredths of a pixel
    std::vector<std::size_t> palette;
  };
  std::vector<image_info> images(o.images);
  std::int64_t id = 0;
  for (auto& im : images) {
    id += r.between(1, 200);
    im.id = id;
    const bool landscape = r.between(0, 3) != 0;
    const std::int64_t longer = 640, shorter = r.between(240, 480);
    im.w = (landscape ? longer : shorter) * 100;
    im.h = (landscape ? shorter : longer) * 100;
    const auto n = static_cast<std::size_t>(r.between(1, 4));
    while (im.palette.size() < n) {
      const auto c = pick_category();
      if (std::find(im.palette.begin(), im.palette.end(), c) == im.palette.end()) im.palette.push_back(c);
    }
  }

  // A box inside a w x h image (hundredths): log-uniform side from 6 px to 90% of the shorter
  // side, aspect ratio within e^+-0.8.
  struct box {
    std::int64_t x, y, w, h;
  };
  auto random_box = [&](const image_info& im, double scale) {
    const double lo = std::log(6.0), hi = std::log(0.9 * static_cast<double>(std::min(im.w, im.h)) / 100.0);
    const double side = std::exp(lo + uniform() * (hi - lo)) * scale, aspect = std::exp((uniform() - 0.5) * 1.6);
    const auto bw = std::clamp<std::int64_t>(static_cast<std::int64_t>(side * std::sqrt(aspect) * 100), 200, im.w);
    const auto bh = std::clamp<std::int64_t>(static_cast<std::int64_t>(side / std::sqrt(aspect) * 100), 200, im.h);
    return box{r.between(0, im.w - bw), r.between(0, im.h - bh), bw, bh};
  };
  // A detection of box b: centre shifted by ~N(0, 7%) of the size, size scaled by ~e^N(0, 0.12),
  // clipped to the image (at least 1 px).
  auto jitter = [&](const image_info& im, const box& b) {
    const double cx = static_cast<double>(b.x) + static_cast<double>(b.w) * (0.5 + 0.07 * normal());
    const double cy = static_cast<double>(b.y) + static_cast<double>(b.h) * (0.5 + 0.07 * normal());
    const double w = static_cast<double>(b.w) * std::exp(0.12 * normal()), h = static_cast<double>(b.h) * std::exp(0.12 * normal());
    auto x0 = std::clamp<std::int64_t>(static_cast<std::int64_t>(cx - w / 2), 0, im.w - 100);
    auto y0 = std::clamp<std::int64_t>(static_cast<std::int64_t>(cy - h / 2), 0, im.h - 100);
    auto x1 = std::clamp<std::int64_t>(static_cast<std::int64_t>(cx + w / 2), x0 + 100, im.w);
    auto y1 = std::clamp<std::int64_t>(static_cast<std::int64_t>(cy + h / 2), y0 + 100, im.h);
    return box{x0, y0, x1 - x0, y1 - y0};
  };

  struct gt_box {
    std::size_t image;
    std::size_t category;
    box b;
    bool crowd;
  };
  std::vector<gt_box> gt(o.boxes);
  std::vector<std::vector<std::size_t>> boxes_of(o.images);
  detection_case out;
  for (std::size_t j = 0; j < o.boxes; ++j) {
    const auto image = static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(o.images) - 1));
    const auto& im = images[image];
    const bool crowd = r.between(0, 999) < o.crowd_permille;
    const auto category = im.palette[static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(im.palette.size()) - 1))];
    gt[j] = {image, category, random_box(im, crowd ? 2.0 : 1.0), crowd};
    out.crowd_boxes += crowd ? 1 : 0;
    boxes_of[image].push_back(j);
  }

  fmt::memory_buffer buf;
  auto it = std::back_inserter(buf);
  it = fmt::format_to(it, "{{\"info\": {{\"description\": \"COCO val2017-like detection evaluation case\"}}, \"images\": [");
  for (std::size_t i = 0; i < o.images; ++i)
    it = fmt::format_to(it, "{}{{\"id\": {}, \"file_name\": \"{:012}.jpg\", \"width\": {}, \"height\": {}}}", i ? ", " : "",
                        images[i].id, images[i].id, images[i].w / 100, images[i].h / 100);
  it = fmt::format_to(it, "], \"annotations\": [");
  for (std::size_t j = 0; j < o.boxes; ++j) {
    const auto& g = gt[j];
    const std::int64_t area = g.b.w * g.b.h * r.between(45, 90) / 10'000;  // hundredths of square pixels
    it = fmt::format_to(it, "{}{{\"id\": {}, \"image_id\": {}, \"category_id\": {}, \"iscrowd\": {}, \"area\": ", j ? ", " : "",
                        j + 1, images[g.image].id, detail::coco_categories[g.category].id, g.crowd ? 1 : 0);
    it = detail::hundredths(it, area);
    it = fmt::format_to(it, ", \"bbox\": [");
    it = detail::hundredths(it, g.b.x);
    *it++ = ',';
    it = detail::hundredths(it, g.b.y);
    *it++ = ',';
    it = detail::hundredths(it, g.b.w);
    *it++ = ',';
    it = detail::hundredths(it, g.b.h);
    it = fmt::format_to(it, "]}}");
  }
  it = fmt::format_to(it, "], \"categories\": [");
  for (std::size_t c = 0; c < category_count; ++c)
    it = fmt::format_to(it, "{}{{\"supercategory\": \"{}\", \"id\": {}, \"name\": \"{}\"}}", c == 0 ? "" : ", ",
                        detail::coco_categories[c].supercategory, detail::coco_categories[c].id, detail::coco_categories[c].name);
  it = fmt::format_to(it, "]}}\n");
  out.ground_truth = fmt::to_string(buf);

  buf.clear();
  buf.reserve(o.images * o.detections_per_image * 90);
  it = std::back_inserter(buf);
  *it++ = '[';
  bool first = true;
  struct det {
    std::size_t category;
    box b;
    std::int64_t score;  // 1e-5
  };
  std::vector<det> dets;
  for (std::size_t i = 0; i < o.images; ++i) {
    const auto& im = images[i];
    dets.clear();
    for (auto j : boxes_of[i]) {
      const auto& g = gt[j];
      if (g.crowd) {  // a few detections inside the crowd region
        for (auto n = r.between(0, 3); n > 0; --n) {
          const box part{g.b.x + r.between(0, g.b.w / 2), g.b.y + r.between(0, g.b.h / 2), std::max<std::int64_t>(g.b.w / 4, 100),
                         std::max<std::int64_t>(g.b.h / 4, 100)};
          dets.push_back({g.category, jitter(im, part), r.between(5'000, 90'000)});
        }
        continue;
      }
      if (r.between(0, 9) == 0) continue;  // missed
      const int copies = 1 + (r.between(0, 99) < 35 ? 1 : 0) + (r.between(0, 99) < 15 ? 1 : 0);
      for (int c = 0; c < copies; ++c) {
        const bool confused = r.between(0, 99) < 8;
        const auto category = confused ? pick_category() : g.category;
        const std::int64_t score = c == 0 ? r.between(30'000, 99'999) : r.between(1'000, 60'000);
        dets.push_back({category, jitter(im, g.b), score});
      }
    }
    if (dets.size() > o.detections_per_image) dets.resize(o.detections_per_image);
    while (dets.size() < o.detections_per_image) {  // background false positives, low scores
      const auto category = r.between(0, 1) ? im.palette[static_cast<std::size_t>(r.between(0, static_cast<std::int64_t>(im.palette.size()) - 1))]
                                            : pick_category();
      const double u = uniform();
      dets.push_back({category, random_box(im, 1.0), 1 + static_cast<std::int64_t>(u * u * u * 60'000)});
    }
    for (const auto& d : dets) {
      it = fmt::format_to(it, "{}{{\"image_id\": {}, \"category_id\": {}, \"bbox\": [", first ? "" : ", ", im.id,
                          detail::coco_categories[d.category].id);
      first = false;
      it = detail::hundredths(it, d.b.x);
      *it++ = ',';
      it = detail::hundredths(it, d.b.y);
      *it++ = ',';
      it = detail::hundredths(it, d.b.w);
      *it++ = ',';
      it = detail::hundredths(it, d.b.h);
      it = fmt::format_to(it, "], \"score\": 0.{:05}}}", d.score);
    }
  }
  it = fmt::format_to(it, "]\n");
  out.results = fmt::to_string(buf);
  return out;
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
