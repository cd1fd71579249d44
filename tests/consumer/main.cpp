// Loads a tiny COCO document with an installed tailor and checks what it read.
#include <tailor/data/coco.hpp>
#include <tailor/version.hpp>

#include <cstdio>

int main() {
  const char* json = R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
                         "categories": [{"id": 1, "name": "cat"}],
                         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.25, 0.25, 0.5, 0.5]}]})";
  auto report = tailor::data::read_coco(std::string_view(json), "inline.json");
  const auto& d = report.dataset;
  bool ok = report.readable && !report.problems.has_errors() && d.kind == tailor::data::dataset_kind::detection &&
            d.units == tailor::data::box_units::normalized && d.annotations.size() == 1 && d.annotations[0].bbox.w == 32;
  std::printf("tailor %s consumer: %s\n", tailor::version, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
