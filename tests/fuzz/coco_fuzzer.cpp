// libFuzzer target for the COCO loader: arbitrary bytes into tailor::data::read_coco, then the
// invariants that hold for ANY input. A failed invariant or an escaping exception aborts (a crash
// for libFuzzer, with the input saved as crash-<sha1>).
//
// Input layout: when the first byte is '{' or JSON white space, the whole input is the JSON and the
// options are the defaults (so plain COCO files are seeds as they are). Otherwise the first byte
// picks the options (see options_from) and the rest is the JSON: the seed
// tests/fuzz/corpus/option_detection_cap1.json starts with 0x1b (detection declared, units auto,
// sizes required, 1 problem kept), option_multilabel_normalized_nosizes.json with 0x16.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "tailor/data/coco.hpp"

namespace {

using namespace tailor::data;
using tailor::problem_list;
using tailor::severity;

[[noreturn]] void fail(const char* what, std::size_t detail = 0) {
  std::fprintf(stderr, "coco_fuzzer: invariant broken: %s (%zu)\n", what, detail);
  std::abort();
}

#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) fail(#cond, static_cast<std::size_t>(detail)); \
  } while (0)

// kind: inferred / classification / multilabel / detection; units: auto / pixels / normalized;
// image sizes required or not; problems kept: 50 (the default) or 1 (exercises the cap).
coco_options options_from(std::uint8_t b) {
  coco_options o;
  switch (b % 4) {
    case 0: o.kind.reset(); break;
    case 1: o.kind = dataset_kind::classification; break;
    case 2: o.kind = dataset_kind::multilabel; break;
    default: o.kind = dataset_kind::detection; break;
  }
  const box_units units[] = {box_units::automatic, box_units::pixels, box_units::normalized};
  o.units = units[(b / 4) % 3];
  o.require_image_sizes = (b / 12) % 2 == 0;
  o.max_problems = (b / 24) % 2 == 0 ? 50 : 1;
  return o;
}

bool starts_json(std::uint8_t b) { return b == '{' || b == ' ' || b == '\n' || b == '\r' || b == '\t'; }

void check_problems(const problem_list& problems) {
  std::size_t errors = 0, warnings = 0;
  for (const auto& p : problems.items()) {
    (p.level == severity::error ? errors : warnings)++;
    FUZZ_CHECK(!p.message.empty(), errors + warnings);
    FUZZ_CHECK(!p.fix.empty(), errors + warnings);
  }
  FUZZ_CHECK(problems.error_count() >= errors, errors);
  FUZZ_CHECK(problems.warning_count() >= warnings, warnings);
  FUZZ_CHECK(errors <= problems.capacity(), errors);
  FUZZ_CHECK(warnings <= problems.capacity(), warnings);
  FUZZ_CHECK(problems.has_errors() == (problems.error_count() > 0), problems.error_count());
}

void check_dataset(const coco_dataset& d) {
  const std::size_t images = d.images.size(), categories = d.categories.size(), annotations = d.annotations.size();
  for (std::size_t i = 0; i < annotations; ++i) {
    const auto& a = d.annotations[i];
    FUZZ_CHECK(a.image_index == no_index || a.image_index < images, i);
    FUZZ_CHECK(a.category_index == no_index || a.category_index < categories, i);
    if (a.image_index != no_index) FUZZ_CHECK(d.images[a.image_index].id == a.image_id, i);
    if (a.category_index != no_index) FUZZ_CHECK(d.categories[a.category_index].id == a.category_id, i);
    if (a.box_state == box_status::valid) {
      FUZZ_CHECK(std::isfinite(a.bbox.x) && std::isfinite(a.bbox.y), i);
      FUZZ_CHECK(std::isfinite(a.bbox.w) && std::isfinite(a.bbox.h), i);
      FUZZ_CHECK(a.bbox.w > 0 && a.bbox.h > 0, i);
    }
  }

  // The per-image index: image_begin is a prefix sum over images, annotation_order a permutation
  // of the annotations tied to an image, and annotations_of(i) stays inside it.
  FUZZ_CHECK(d.image_begin.size() == images + 1, d.image_begin.size());
  FUZZ_CHECK(d.image_begin.front() == 0, d.image_begin.front());
  FUZZ_CHECK(d.image_begin.back() == d.annotation_order.size(), d.image_begin.back());
  std::size_t listed = 0;
  const auto* order_begin = d.annotation_order.data();
  const auto* order_end = order_begin + d.annotation_order.size();
  for (std::size_t i = 0; i < images; ++i) {
    FUZZ_CHECK(d.image_begin[i] <= d.image_begin[i + 1], i);
    auto span = d.annotations_of(i);
    FUZZ_CHECK(span.size() == d.image_begin[i + 1] - d.image_begin[i], i);
    if (!span.empty()) FUZZ_CHECK(span.data() >= order_begin && span.data() + span.size() <= order_end, i);
    for (auto a : span) {
      FUZZ_CHECK(a < annotations, a);
      FUZZ_CHECK(d.annotations[a].image_index == i, a);
    }
    listed += span.size();
  }
  FUZZ_CHECK(d.annotations_of(images).empty(), images);  // past the end: empty, never out of bounds
  std::size_t tied = 0;
  for (const auto& a : d.annotations) tied += a.image_index != no_index ? 1 : 0;
  FUZZ_CHECK(listed == tied, listed);

  // Id lookups agree with the tables for every valid id.
  for (const auto& image : d.images)
    if (image.id > 0) FUZZ_CHECK(d.find_image(image.id) != nullptr && d.find_image(image.id)->id == image.id, image.id);
  for (const auto& category : d.categories)
    if (category.id > 0)
      FUZZ_CHECK(d.find_category(category.id) != nullptr && d.find_category(category.id)->id == category.id, category.id);
  FUZZ_CHECK(d.find_image(0) == nullptr, 0);
  FUZZ_CHECK(d.find_image(-1) == nullptr, 0);
  FUZZ_CHECK(d.units != box_units::automatic, 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  coco_options options;
  std::string_view json(reinterpret_cast<const char*>(data), size);
  if (size > 0 && !starts_json(data[0])) {
    options = options_from(data[0]);
    json.remove_prefix(1);
  }
  try {
    coco_report report = read_coco(json, "fuzz", options);
    check_problems(report.problems);
    if (!report.readable) {
      // Not JSON: nothing is kept, and the user is told why.
      FUZZ_CHECK(report.dataset.images.empty(), report.dataset.images.size());
      FUZZ_CHECK(report.dataset.categories.empty(), report.dataset.categories.size());
      FUZZ_CHECK(report.dataset.annotations.empty(), report.dataset.annotations.size());
      FUZZ_CHECK(report.dataset.annotation_order.empty(), report.dataset.annotation_order.size());
      FUZZ_CHECK(report.problems.error_count() >= 1, 0);
      FUZZ_CHECK(!report.problems.items().empty(), 0);
    } else {
      check_dataset(report.dataset);
      if (options.kind) FUZZ_CHECK(report.dataset.kind == *options.kind, 0);
      if (options.units != box_units::automatic) FUZZ_CHECK(report.dataset.units == options.units, 0);
    }
    // The one-line summary must format whatever the messages hold.
    auto line = summarize(report.problems, "fuzz");
    FUZZ_CHECK(!line.empty(), 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coco_fuzzer: read_coco threw: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "coco_fuzzer: read_coco threw a non-standard exception\n");
    std::abort();
  }
  return 0;
}
