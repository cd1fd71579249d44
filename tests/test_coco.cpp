// Reading and checking COCO association files: one test per validation rule, each with a bad
// document, asserting the problem a user gets (severity, JSON path, ids, the words of the message,
// and a fix), plus the conversions a user relies on (box units, kind inference, the index).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/core/file_io.hpp>
#include <tailor/data/coco.hpp>
#include <tailor/data/container.hpp>

#include "test_support.hpp"

namespace {

using tailor::problem;
using tailor::severity;
using namespace tailor::data;
using ojson = nlohmann::ordered_json;

constexpr const char* source = "train.json";

coco_report check(std::string_view json, const coco_options& options = {}) { return read_coco(json, source, options); }
coco_report check(const std::string& json, const coco_options& options = {}) { return check(std::string_view(json), options); }
coco_report check(const char* json, const coco_options& options = {}) { return check(std::string_view(json), options); }
coco_report check(const ojson& doc, const coco_options& options = {}) { return check(doc.dump(), options); }

// Options with one field set (designated initializers would trip -Wmissing-field-initializers).
coco_options with_units(box_units units) {
  coco_options o;
  o.units = units;
  return o;
}
coco_options with_kind(dataset_kind kind) {
  coco_options o;
  o.kind = kind;
  return o;
}
coco_options sizes_optional() {
  coco_options o;
  o.require_image_sizes = false;
  return o;
}
coco_options capped(std::size_t max_problems) {
  coco_options o;
  o.max_problems = max_problems;
  return o;
}

// Every problem of a report, one per line, for failure messages.
std::string describe(const coco_report& r) {
  std::string text = fmt::format("readable={} errors={} warnings={}\n", r.readable, r.problems.error_count(),
                                 r.problems.warning_count());
  for (auto& p : r.problems.items())
    text += fmt::format("  {} {} (image {}, annotation {}): {} | fix: {}\n", tailor::to_string(p.level), p.where,
                        p.image_id ? std::to_string(*p.image_id) : "-",
                        p.annotation_id ? std::to_string(*p.annotation_id) : "-", p.message, p.fix);
  return text;
}

std::size_t count_at(const coco_report& r, severity level, std::string_view where) {
  return static_cast<std::size_t>(std::count_if(r.problems.items().begin(), r.problems.items().end(), [&](const problem& p) {
    return p.level == level && p.where == where;
  }));
}

// The problem of `level` at `where` whose message contains `words` (each of them); the test fails
// when there is none. Every problem must tell the user what to do.
problem problem_at(const coco_report& r, severity level, std::string_view where, std::vector<std::string> words = {}) {
  INFO(describe(r));
  INFO("wanted: " << tailor::to_string(level) << " at " << where);
  auto& items = r.problems.items();
  auto it = std::find_if(items.begin(), items.end(), [&](const problem& p) {
    if (p.level != level || p.where != where) return false;
    return std::all_of(words.begin(), words.end(), [&](const std::string& w) { return p.message.find(w) != std::string::npos; });
  });
  REQUIRE(it != items.end());
  CHECK_FALSE(it->fix.empty());
  return *it;
}

problem error_at(const coco_report& r, std::string_view where, std::vector<std::string> words = {}) {
  return problem_at(r, severity::error, where, std::move(words));
}
problem warning_at(const coco_report& r, std::string_view where, std::vector<std::string> words = {}) {
  return problem_at(r, severity::warning, where, std::move(words));
}

void require_clean(const coco_report& r) {
  INFO(describe(r));
  REQUIRE(r.readable);
  REQUIRE(r.problems.error_count() == 0);
  REQUIRE(r.problems.warning_count() == 0);
}

// A broken document: not readable, exactly one error about the file itself.
problem unreadable(const coco_report& r) {
  INFO(describe(r));
  REQUIRE_FALSE(r.readable);
  REQUIRE(r.problems.error_count() == 1);
  REQUIRE(r.dataset.images.empty());
  REQUIRE(r.dataset.annotations.empty());
  return error_at(r, source);
}

using tailor::testing::box_entry;
using tailor::testing::image_entry;
using tailor::testing::tag_entry;

// A clean classification file: 4 images of 100x80, 'cat' on images 1 and 2, 'dog' on 3 and 4.
ojson classification_doc() {
  ojson d;
  d["images"] = ojson::array();
  for (int i = 1; i <= 4; ++i) d["images"].push_back(image_entry(i, fmt::format("img{}.jpg", i)));
  d["categories"] = {{{"id", 1}, {"name", "cat"}}, {{"id", 2}, {"name", "dog"}}};
  d["annotations"] = {tag_entry(1, 1, 1), tag_entry(2, 2, 1), tag_entry(3, 3, 2), tag_entry(4, 4, 2)};
  return d;
}

// The same images with one pixel box each.
ojson detection_doc() {
  ojson d = classification_doc();
  d["annotations"] = {box_entry(1, 1, 1, {10, 10, 20, 20}), box_entry(2, 2, 1, {0, 0, 100, 80}),
                      box_entry(3, 3, 2, {50, 40, 30, 30}), box_entry(4, 4, 2, {1.5, 2.5, 3.5, 4.5})};
  return d;
}

struct temp_dir : tailor::testing::temp_dir {
  temp_dir() : tailor::testing::temp_dir("test_coco") {}
};

}  // namespace

// ---- the baselines the rule tests start from ---------------------------------------------------

TEST_CASE("coco: the baseline classification and detection files are clean", "[coco]") {
  auto c = check(classification_doc());
  require_clean(c);
  CHECK(c.dataset.images.size() == 4);
  CHECK(c.dataset.categories.size() == 2);
  CHECK(c.dataset.annotations.size() == 4);
  CHECK(c.dataset.kind == dataset_kind::classification);

  auto d = check(detection_doc());
  require_clean(d);
  CHECK(d.dataset.kind == dataset_kind::detection);
  CHECK(d.dataset.units == box_units::pixels);
  for (auto& a : d.dataset.annotations) CHECK(a.box_state == box_status::valid);
}

// ---- documents that are not usable JSON ----------------------------------------------------------

TEST_CASE("coco: a file that is not JSON is reported with its position", "[coco]") {
  auto p = unreadable(check("this is not json"));
  CHECK(p.message.find("not valid JSON") != std::string::npos);
  CHECK(p.message.find("line 1, column 1") != std::string::npos);
  CHECK(p.fix.find("json.tool") != std::string::npos);

  // Text that merely starts like a JSON value (t, n, a digit) is not JSON either, not "a boolean".
  for (auto text : {"true story: these are my labels", "null and void", "404 Not Found", "12abc",
                    "<html><body>502 Bad Gateway</body></html>"}) {
    INFO(text);
    auto q = unreadable(check(text));
    CHECK(q.message.find("not valid JSON") != std::string::npos);
  }
}

TEST_CASE("coco: an empty file says it is empty", "[coco]") {
  auto p = unreadable(check(std::string()));
  CHECK(p.message == "the file is empty");
}

TEST_CASE("coco: a file of white space only says it is empty", "[coco]") {
  auto p = unreadable(check(std::string(" \n\t\r\n  ")));
  CHECK(p.message == "the file is empty");
}

TEST_CASE("coco: a file that is not UTF-8 says so", "[coco]") {
  auto p = unreadable(check(std::string("{\"images\": [], \"categories\": [], \"annotations\": [], \"x\": \"\xff\xfe\"}")));
  CHECK(p.message.find("UTF-8") != std::string::npos);
}

TEST_CASE("coco: a truncated file is refused at every cut, never accepted or crashing", "[coco]") {
  ojson doc = detection_doc();
  doc["info"] = {{"description", "cut me"}, {"year", 2024}, {"nested", {1, 2.5, {{"k", "v"}}, nullptr, true}}};
  doc["annotations"][0]["segmentation"] = {{1.5, 2, 3, 4, 5, 6}};
  doc["annotations"][1]["iscrowd"] = 0;
  doc["annotations"][2]["area"] = 900.25;
  const std::string full = doc.dump(1);  // newlines, so positions span lines
  require_clean(check(full));
  REQUIRE(full.back() == '}');
  std::size_t incomplete = 0;
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto r = check(full.substr(0, n));
    INFO("cut at " << n << ": ..." << full.substr(n > 40 ? n - 40 : 0, std::min<std::size_t>(n, 40)));
    INFO(describe(r));
    REQUIRE(r.problems.has_errors());
    if (!r.readable) {
      REQUIRE(r.problems.error_count() == 1);
      REQUIRE(r.dataset.images.empty());
      auto& p = r.problems.items().front();
      CHECK(p.where == source);
      CHECK_FALSE(p.fix.empty());
      if (p.message.find("truncated") != std::string::npos) ++incomplete;
    }
  }
  // Cuts between values (after a ',' or a '[') are the common truncation: they name it.
  CHECK(incomplete > 0);
  auto cut = check(full.substr(0, full.find("\"categories\"") + 1));
  CHECK_FALSE(cut.readable);
  auto mid_array = check(full.substr(0, full.find("\"annotations\"") + 20));
  CHECK_FALSE(mid_array.readable);
}

TEST_CASE("coco: content after the top-level object is refused", "[coco]") {
  const std::string doc = classification_doc().dump();
  auto p = unreadable(check(doc + "}"));
  CHECK(p.message.find("after the top-level object") != std::string::npos);
  auto q = unreadable(check(doc + "\n{}"));
  CHECK(q.message.find("after the top-level object") != std::string::npos);
}

TEST_CASE("coco: a top level that is not an object says what it is", "[coco]") {
  auto p = unreadable(check("[{\"id\": 1}]"));
  CHECK(p.message == "the top level of the file is an array, not an object");
  CHECK(p.fix.find("\"images\"") != std::string::npos);
  auto q = unreadable(check("\"images\""));
  CHECK(q.message == "the top level of the file is a string, not an object");
  CHECK(unreadable(check("true")).message == "the top level of the file is a boolean, not an object");
  CHECK(unreadable(check("404")).message == "the top level of the file is a number, not an object");
  CHECK(unreadable(check("null")).message == "the top level of the file is null, not an object");
}

// ---- the tables --------------------------------------------------------------------------------

TEST_CASE("coco: tables of the wrong type are named with the type found", "[coco]") {
  ojson doc = {{"images", ojson::object()}, {"categories", "cat,dog"}, {"annotations", 3}};
  auto r = check(doc);
  REQUIRE(r.readable);
  error_at(r, "images", {"\"images\" must be an array", "got an object"});
  error_at(r, "categories", {"\"categories\" must be an array", "got a string"});
  error_at(r, "annotations", {"\"annotations\" must be an array", "got a number"});
  CHECK(r.problems.error_count() == 3);  // not reported missing as well
}

TEST_CASE("coco: missing tables are each reported", "[coco]") {
  auto r = check(std::string("{}"));
  REQUIRE(r.readable);
  CHECK(r.problems.error_count() == 3);
  error_at(r, source, {"the \"images\" table is missing"});
  error_at(r, source, {"the \"categories\" table is missing"});
  error_at(r, source, {"the \"annotations\" table is missing"});

  ojson doc = classification_doc();
  doc.erase("annotations");
  auto s = check(doc);
  CHECK(s.problems.error_count() == 1);
  auto p = error_at(s, source, {"\"annotations\" table is missing"});
  CHECK(p.fix.find("[]") != std::string::npos);  // an empty list is the way to say "none yet"
}

TEST_CASE("coco: a top-level key given twice is an error", "[coco]") {
  std::string doc = classification_doc().dump();
  doc.pop_back();
  doc += ", \"images\": [{\"id\": 9, \"file_name\": \"x.jpg\", \"width\": 10, \"height\": 10}]}";
  auto r = check(doc);
  REQUIRE(r.readable);
  error_at(r, "images", {"\"images\" appears twice"});
  CHECK(r.dataset.images.size() == 4);  // the first list is the one read
}

TEST_CASE("coco: entries that are not objects are errors naming the entry", "[coco]") {
  ojson doc = classification_doc();
  doc["images"].push_back(7);
  doc["categories"].push_back("bird");
  doc["annotations"].push_back(nullptr);
  doc["annotations"].push_back({1, 1, 1});
  auto r = check(doc);
  REQUIRE(r.readable);
  error_at(r, "images[4]", {"each entry of \"images\" must be an object", "got a number"});
  error_at(r, "categories[2]", {"each entry of \"categories\" must be an object", "got a string"});
  error_at(r, "annotations[4]", {"each entry of \"annotations\" must be an object", "got null"});
  error_at(r, "annotations[5]", {"got an array"});
  // The entries after a bad one are still read.
  CHECK(r.dataset.annotations.size() == 6);
}

// ---- ids ---------------------------------------------------------------------------------------

TEST_CASE("coco: missing ids are reported per table", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][1].erase("id");
  doc["categories"][1].erase("id");
  doc["annotations"][0].erase("id");
  auto r = check(doc);
  error_at(r, "images[1].id", {"the image has no id"});
  error_at(r, "categories[1].id", {"the category has no id"});
  error_at(r, "annotations[0].id", {"the annotation has no id"});
}

TEST_CASE("coco: ids written as strings are errors showing the string", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][0]["id"] = "1";
  doc["categories"][1]["id"] = "two";
  doc["annotations"][3]["id"] = "4";
  doc["annotations"][2]["image_id"] = "3";
  auto r = check(doc);
  auto p = error_at(r, "images[0].id", {"the image id must be an integer", "got a string", "\"1\""});
  CHECK(p.fix.find("without quotes") != std::string::npos);
  error_at(r, "categories[1].id", {"the category id must be an integer", "\"two\""});
  error_at(r, "annotations[3].id", {"the annotation id must be an integer", "\"4\""});
  auto q = error_at(r, "annotations[2].image_id", {"image_id must be an integer", "\"3\""});
  CHECK(q.annotation_id == 3);
}

TEST_CASE("coco: ids written as 3.5 are errors, 3.0 is accepted as 3", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][2]["id"] = 3.5;
  auto r = check(doc);
  auto p = error_at(r, "images[2].id", {"must be an integer", "3.5"});
  CHECK(p.fix.find("whole number") != std::string::npos);

  ojson ok = classification_doc();
  ok["images"][2]["id"] = 3.0;
  ok["annotations"][2]["image_id"] = 3.0;
  ok["annotations"][2]["category_id"] = 2.0;
  ok["annotations"][2]["id"] = 3.0;
  REQUIRE(ok.dump().find("3.0") != std::string::npos);
  auto s = check(ok);
  require_clean(s);
  CHECK(s.dataset.images[2].id == 3);
  CHECK(s.dataset.annotations[2].image_index == 2);

  // Out of the int64 range, or not finite: not an id.
  auto big = check(std::string(R"({"images":[{"id":99999999999999999999,"file_name":"a.jpg","width":10,"height":10}],)"
                               R"("categories":[],"annotations":[]})"));
  error_at(big, "images[0].id", {"must be an integer", "99999999999999999999"});
  auto inf = check(std::string(R"({"images":[{"id":1e999,"file_name":"a.jpg","width":10,"height":10}],)"
                               R"("categories":[],"annotations":[]})"));
  error_at(inf, "images[0].id", {"must be an integer", "1e999"});
}

TEST_CASE("coco: ids of zero or below are errors", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][0]["id"] = 0;
  doc["categories"][0]["id"] = -1;
  doc["annotations"][1]["id"] = -7;
  doc["annotations"][2]["category_id"] = 0;
  auto r = check(doc);
  auto p = error_at(r, "images[0].id", {"the image id must be a positive integer, got 0"});
  CHECK(p.fix.find("from 1") != std::string::npos);
  error_at(r, "categories[0].id", {"the category id must be a positive integer, got -1"});
  error_at(r, "annotations[1].id", {"the annotation id must be a positive integer, got -7"});
  auto q = error_at(r, "annotations[2].category_id", {"category_id must be a positive integer, got 0"});
  CHECK(q.annotation_id == 3);
}

TEST_CASE("coco: duplicate ids are errors in each table, naming the first holder", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][3]["id"] = 2;
  doc["categories"][1]["id"] = 1;
  doc["annotations"][2]["id"] = 1;
  auto r = check(doc);
  error_at(r, "images[3].id", {"image id 2 is used by images[1] too"});
  error_at(r, "categories[1].id", {"category id 1 is used by categories[0] too"});
  error_at(r, "annotations[2].id", {"annotation id 1 is used by annotations[0] too"});
  CHECK(count_at(r, severity::error, "images[1].id") == 0);  // the first one is not the culprit
}

TEST_CASE("coco: annotations pointing at missing images or categories are errors", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"][1]["image_id"] = 99;
  doc["annotations"][2]["category_id"] = 42;
  auto r = check(doc);
  auto p = error_at(r, "annotations[1].image_id", {"image_id 99 is not the id of any image"});
  CHECK(p.annotation_id == 2);
  auto q = error_at(r, "annotations[2].category_id", {"category_id 42 is not the id of any category"});
  CHECK(q.annotation_id == 3);
  CHECK(q.image_id == 3);
  CHECK(r.dataset.annotations[1].image_index == no_index);
  CHECK(r.dataset.annotations[2].category_index == no_index);
  CHECK(r.problems.error_count() == 2);
}

TEST_CASE("coco: an annotation whose category is missing is not called a duplicate tag", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"][0]["category_id"] = 42;
  auto r = check(doc);
  error_at(r, "annotations[0].category_id", {"category_id 42"});
  INFO(describe(r));
  CHECK(count_at(r, severity::warning, "images[0]") == 0);
}

TEST_CASE("coco: problems name the image and the annotation whatever the order of the keys", "[coco]") {
  // The COCO files written by pycocotools and most exporters put "id" last.
  std::string doc = R"({
    "images": [
      {"file_name": "a.jpg", "width": "100", "height": 5, "id": 11},
      {"file_name": "b.jpg", "width": 100, "height": 80, "id": 12}],
    "annotations": [
      {"segmentation": [], "area": -3, "iscrowd": 2, "image_id": 11, "bbox": [1, 2, 3], "category_id": 1, "id": 21},
      {"image_id": 12, "category_id": "1", "bbox": [1, 2, 3, 4], "id": 22}],
    "categories": [{"supercategory": "animal", "name": "cat", "id": 1}]
  })";
  auto r = check(doc);
  CHECK(error_at(r, "images[0].width", {"must be an integer"}).image_id == 11);
  CHECK(error_at(r, "images[0].height", {"outside the supported range"}).image_id == 11);
  auto area = error_at(r, "annotations[0].area");
  CHECK(area.annotation_id == 21);
  CHECK(area.image_id == 11);
  auto crowd = error_at(r, "annotations[0].iscrowd");
  CHECK(crowd.annotation_id == 21);
  CHECK(crowd.image_id == 11);
  auto box = error_at(r, "annotations[0].bbox", {"3 values"});
  CHECK(box.annotation_id == 21);
  CHECK(box.image_id == 11);
  auto category = error_at(r, "annotations[1].category_id", {"must be an integer"});
  CHECK(category.annotation_id == 22);
  CHECK(category.image_id == 12);
}

TEST_CASE("coco: a string quoted in a message is cut at a character boundary", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][0]["id"] = std::string(39, 'x') + "\xc3\xa9 and more";       // é across the 40-byte cut
  doc["images"][1]["id"] = std::string(38, 'y') + "\xf0\x9f\x98\x80 and more";  // 4-byte emoji across it
  auto r = check(doc);
  for (auto where : {"images[0].id", "images[1].id"}) {
    INFO(where);
    auto p = error_at(r, where, {"must be an integer, got a string"});
    CHECK(simdjson::validate_utf8(p.message.data(), p.message.size()));
    CHECK(p.message.find("and more") == std::string::npos);
    CHECK_NOTHROW(nlohmann::json(p.message).dump());
  }
  CHECK(error_at(r, "images[0].id").message.find(std::string(39, 'x')) != std::string::npos);
}

// ---- image sizes -------------------------------------------------------------------------------

TEST_CASE("coco: image width and height must be present integers in [10, 10240]", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][0].erase("width");
  doc["images"][1].erase("height");
  doc["images"][2]["width"] = "640";
  doc["images"][3]["height"] = 9;
  auto r = check(doc);
  CHECK(error_at(r, "images[0].width", {"the image has no width"}).image_id == 1);
  CHECK(error_at(r, "images[1].height", {"the image has no height"}).image_id == 2);
  CHECK(error_at(r, "images[2].width", {"the image width must be an integer", "\"640\""}).image_id == 3);
  auto p = error_at(r, "images[3].height", {"the image height is 9", "[10, 10240]"});
  CHECK(p.image_id == 4);
  CHECK(r.problems.error_count() == 4);

  ojson big = classification_doc();
  big["images"][0]["width"] = 10241;
  big["images"][1]["height"] = 0;
  big["images"][2]["width"] = -5;
  auto s = check(big);
  error_at(s, "images[0].width", {"the image width is 10241"});
  error_at(s, "images[1].height", {"the image height is 0"});
  error_at(s, "images[2].width", {"the image width is -5"});

  ojson edges = classification_doc();
  edges["images"][0]["width"] = 10;
  edges["images"][0]["height"] = 10240;
  auto e = check(edges);
  require_clean(e);
  CHECK(e.dataset.images[0].width == 10);
  CHECK(e.dataset.images[0].height == 10240);
}

TEST_CASE("coco: with require_image_sizes off, missing sizes are allowed but bad ones are not", "[coco]") {
  ojson doc = classification_doc();
  for (auto& image : doc["images"]) {
    image.erase("width");
    image.erase("height");
  }
  auto r = check(doc, sizes_optional());
  require_clean(r);
  CHECK(r.dataset.images[0].width == 0);
  CHECK_FALSE(check(doc).problems.items().empty());  // the default requires them

  doc["images"][1]["width"] = 5;
  auto s = check(doc, sizes_optional());
  error_at(s, "images[1].width", {"the image width is 5"});
}

// ---- boxes -------------------------------------------------------------------------------------

TEST_CASE("coco: a bbox that is not an array of 4 finite numbers is unreadable", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][0]["bbox"] = "10,10,20,20";
  doc["annotations"][1]["bbox"] = {1, 2, 3};
  doc["annotations"][2]["bbox"] = {1, "2", 3, 4};
  doc["annotations"][3]["bbox"] = {1, 2, 3, 4, 5};
  auto r = check(doc);
  auto p = error_at(r, "annotations[0].bbox", {"bbox must be an array of 4 numbers", "got a string"});
  CHECK(p.annotation_id == 1);
  CHECK(p.image_id == 1);
  CHECK(p.fix.find("[x, y, width, height]") != std::string::npos);
  error_at(r, "annotations[1].bbox", {"bbox has 3 values, not 4"});
  error_at(r, "annotations[2].bbox", {"bbox values must be finite numbers"});
  error_at(r, "annotations[3].bbox", {"bbox has 5 values, not 4"});
  for (auto& a : r.dataset.annotations) CHECK(a.box_state == box_status::unreadable);
  // An unreadable box still means a box was meant: the file is a detection file.
  CHECK(r.dataset.kind == dataset_kind::detection);
  CHECK(r.problems.error_count() == 4);
}

TEST_CASE("coco: a bbox holding 1e999 (out of the double range) is refused, not read as infinity", "[coco]") {
  std::string doc = detection_doc().dump();
  const std::string from = "[10.0,10.0,20.0,20.0]";
  REQUIRE(doc.find(from) != std::string::npos);
  doc.replace(doc.find(from), from.size(), "[10, 10, 1e999, 20]");
  auto r = check(doc);
  REQUIRE(r.readable);
  auto p = error_at(r, "annotations[0].bbox", {"finite"});
  CHECK(p.annotation_id == 1);
  CHECK(r.dataset.annotations[0].box_state == box_status::unreadable);
  CHECK(r.dataset.annotations[1].box_state == box_status::valid);  // the rest of the file is read
}

TEST_CASE("coco: \"bbox\": null is the same as no box", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"][0]["bbox"] = nullptr;
  auto r = check(doc);
  require_clean(r);
  CHECK(r.dataset.kind == dataset_kind::classification);
  CHECK_FALSE(r.dataset.annotations[0].has_box());
}

TEST_CASE("coco: boxes of zero or negative width or height are errors", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][0]["bbox"] = {10, 10, 0, 5};
  doc["annotations"][1]["bbox"] = {10, 10, 20, -4};
  auto r = check(doc);
  auto p = error_at(r, "annotations[0].bbox", {"width 0 and height 5", "positive"});
  CHECK(p.annotation_id == 1);
  error_at(r, "annotations[1].bbox", {"width 20 and height -4"});
  CHECK(r.dataset.annotations[0].box_state == box_status::rejected);
  CHECK(r.problems.error_count() == 2);
}

TEST_CASE("coco: boxes reaching outside the image by more than a pixel are errors", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][0]["bbox"] = {60, 10, 41.5, 10};   // right edge at 101.5 of 100
  doc["annotations"][1]["bbox"] = {10, -1.5, 10, 10};   // above the top
  doc["annotations"][2]["bbox"] = {0, 0, 100, 81.25};   // bottom edge at 81.25 of 80
  // Within the one-pixel tolerance (rounding, 1-based tools): accepted.
  doc["annotations"][3]["bbox"] = {-0.9, -1, 101.8, 81};
  auto r = check(doc);
  auto p = error_at(r, "annotations[0].bbox", {"[60, 10, 41.5, 10]", "outside the 100x80 image"});
  CHECK(p.annotation_id == 1);
  CHECK(p.image_id == 1);
  CHECK(p.fix.find("clip") != std::string::npos);
  error_at(r, "annotations[1].bbox", {"outside the 100x80 image"});
  error_at(r, "annotations[2].bbox", {"outside the 100x80 image"});
  CHECK(count_at(r, severity::error, "annotations[3].bbox") == 0);
  CHECK(r.dataset.annotations[3].box_state == box_status::valid);
  CHECK(r.problems.error_count() == 3);
}

TEST_CASE("coco: box units auto: a file of boxes within [0, 1] is normalized and converted to pixels", "[coco]") {
  ojson doc = detection_doc();
  doc["images"][0]["width"] = 200;
  doc["images"][0]["height"] = 100;
  doc["images"][1]["width"] = 640;
  doc["images"][1]["height"] = 480;
  doc["annotations"][0]["bbox"] = {0.1, 0.2, 0.5, 0.4};
  doc["annotations"][1]["bbox"] = {0, 0, 1, 1};
  doc["annotations"][2]["bbox"] = {0.25, 0.5, 0.75, 0.5};
  doc["annotations"][3]["bbox"] = {0.5, 0.125, 0.25, 0.125};
  doc["annotations"][3]["area"] = 12.5;  // given: kept as written
  auto r = check(doc);
  require_clean(r);
  auto& d = r.dataset;
  CHECK(d.units == box_units::normalized);
  CHECK(d.units_reason.find("all 4 boxes lie within [0, 1]") != std::string::npos);
  CHECK(d.units_reason.find("--box-units pixels") != std::string::npos);
  auto& b0 = d.annotations[0].bbox;  // on 200x100
  CHECK(b0.x == Approx(20));
  CHECK(b0.y == Approx(20));
  CHECK(b0.w == Approx(100));
  CHECK(b0.h == Approx(40));
  CHECK(d.annotations[0].area == Approx(4000));  // computed from the pixel box when not given
  auto& b1 = d.annotations[1].bbox;  // the whole 640x480 image
  CHECK(b1.x == 0);
  CHECK(b1.y == 0);
  CHECK(b1.w == Approx(640));
  CHECK(b1.h == Approx(480));
  auto& b2 = d.annotations[2].bbox;  // on 100x80
  CHECK(b2.x == Approx(25));
  CHECK(b2.y == Approx(40));
  CHECK(b2.w == Approx(75));
  CHECK(b2.h == Approx(40));
  CHECK(d.annotations[3].area == 12.5);
  for (auto& a : d.annotations) CHECK(a.box_state == box_status::valid);

  // Declared normalized: the same numbers, the reason says so.
  auto declared = check(doc, with_units(box_units::normalized));
  require_clean(declared);
  CHECK(declared.dataset.units_reason == "declared");
  CHECK(declared.dataset.annotations[0].bbox.w == Approx(100));
}

TEST_CASE("coco: box units auto: pixel boxes stay as written", "[coco]") {
  auto r = check(detection_doc());
  require_clean(r);
  CHECK(r.dataset.units == box_units::pixels);
  CHECK(r.dataset.units_reason.find("pixels") != std::string::npos);
  auto& b = r.dataset.annotations[3].bbox;
  CHECK(b.x == 1.5);
  CHECK(b.y == 2.5);
  CHECK(b.w == 3.5);
  CHECK(b.h == 4.5);
  CHECK(r.dataset.annotations[3].area == Approx(3.5 * 4.5));

  // Declared pixels: boxes within [0, 1] are tiny pixel boxes, not converted.
  ojson tiny = detection_doc();
  for (auto& a : tiny["annotations"]) a["bbox"] = {0.1, 0.1, 0.5, 0.5};
  auto s = check(tiny, with_units(box_units::pixels));
  require_clean(s);
  CHECK(s.dataset.units == box_units::pixels);
  CHECK(s.dataset.annotations[0].bbox.w == 0.5);
}

TEST_CASE("coco: declared normalized units with a pixel box is an error on that box", "[coco]") {
  ojson doc = detection_doc();
  for (auto& a : doc["annotations"]) a["bbox"] = {0.1, 0.1, 0.5, 0.5};
  doc["annotations"][2]["bbox"] = {10, 10, 20, 20};
  auto r = check(doc, with_units(box_units::normalized));
  auto p = error_at(r, "annotations[2].bbox", {"[10, 10, 20, 20]", "outside [0, 1]", "normalized"});
  CHECK(p.annotation_id == 3);
  CHECK(p.fix.find("--box-units pixels") != std::string::npos);
  CHECK(r.problems.error_count() == 1);
  CHECK(r.dataset.annotations[2].box_state == box_status::rejected);
}

TEST_CASE("coco: one normalized-looking box among pixel boxes is an error (mixed units)", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][3]["bbox"] = {0.1, 0.2, 0.3, 0.4};
  auto r = check(doc);
  CHECK(r.dataset.units == box_units::pixels);
  CHECK(r.dataset.units_reason.find("annotations[0]") != std::string::npos);
  auto p = error_at(r, "annotations[3].bbox", {"[0.1, 0.2, 0.3, 0.4]", "normalized", "pixels"});
  CHECK(p.annotation_id == 4);
  CHECK(p.image_id == 4);
  CHECK(r.problems.error_count() == 1);
}

// ---- kinds -------------------------------------------------------------------------------------

TEST_CASE("coco: the kind is inferred and explained", "[coco]") {
  auto c = check(classification_doc());
  CHECK(c.dataset.kind == dataset_kind::classification);
  CHECK(c.dataset.kind_reason == "inferred: no bbox, one tag per image");

  ojson ml = classification_doc();
  ml["annotations"].push_back(tag_entry(5, 3, 1));  // image 3: dog and cat
  auto m = check(ml);
  require_clean(m);
  CHECK(m.dataset.kind == dataset_kind::multilabel);
  CHECK(m.dataset.kind_reason == "inferred: no bbox, and image 3 has several tags");

  auto d = check(detection_doc());
  CHECK(d.dataset.kind == dataset_kind::detection);
  CHECK(d.dataset.kind_reason == "inferred: 4 of 4 annotations have a bbox");

  auto declared = check(classification_doc(), with_kind(dataset_kind::multilabel));
  require_clean(declared);
  CHECK(declared.dataset.kind == dataset_kind::multilabel);
  CHECK(declared.dataset.kind_reason == "declared");
}

TEST_CASE("coco: declared classification with two tags on an image is an error", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"].push_back(tag_entry(5, 1, 2));
  auto r = check(doc, with_kind(dataset_kind::classification));
  auto p = error_at(r, "images[0]", {"2 tags", "'cat', 'dog'", "classification"});
  CHECK(p.image_id == 1);
  CHECK(p.fix.find("--kind multilabel") != std::string::npos);
  CHECK(r.problems.error_count() == 1);
}

TEST_CASE("coco: declared detection with a tag-only annotation is an error", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][2].erase("bbox");
  auto r = check(doc, with_kind(dataset_kind::detection));
  auto p = error_at(r, "annotations[2]", {"no bbox", "detection"});
  CHECK(p.annotation_id == 3);
  CHECK(p.image_id == 3);
  CHECK(r.problems.error_count() == 1);

  // Inferred detection (some boxes): the tag-only one is still an error.
  auto inferred = check(doc);
  CHECK(inferred.dataset.kind == dataset_kind::detection);
  CHECK(inferred.dataset.kind_reason == "inferred: 3 of 4 annotations have a bbox");
  error_at(inferred, "annotations[2]", {"no bbox"});
}

TEST_CASE("coco: declared classification with a bbox is an error", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"][1]["bbox"] = {10, 10, 20, 20};
  auto r = check(doc, with_kind(dataset_kind::classification));
  auto p = error_at(r, "annotations[1].bbox", {"has a bbox", "classification"});
  CHECK(p.annotation_id == 2);
  CHECK(p.fix.find("--kind detection") != std::string::npos);
  auto m = check(doc, with_kind(dataset_kind::multilabel));
  error_at(m, "annotations[1].bbox", {"has a bbox", "multilabel"});
}

TEST_CASE("coco: the same tag twice on an image is a warning", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"].push_back(tag_entry(5, 2, 1));
  auto r = check(doc);
  CHECK(r.problems.error_count() == 0);
  CHECK(r.dataset.kind == dataset_kind::classification);
  auto p = warning_at(r, "images[1]", {"the same tag more than once"});
  CHECK(p.image_id == 2);
  CHECK(r.problems.warning_count() == 1);
}

TEST_CASE("coco: an untagged image in a classification file is a warning", "[coco]") {
  ojson doc = classification_doc();
  doc["images"].push_back(image_entry(5, "img5.jpg"));
  auto r = check(doc);
  CHECK(r.problems.error_count() == 0);
  auto p = warning_at(r, "images[4]", {"no tag", "training will not use it"});
  CHECK(p.image_id == 5);
  CHECK(r.problems.warning_count() == 1);

  // In a detection file an image without boxes is a background image: no warning.
  ojson det = detection_doc();
  det["images"].push_back(image_entry(5, "img5.jpg"));
  require_clean(check(det));
}

// ---- categories and file names -------------------------------------------------------------------

TEST_CASE("coco: a category name used twice is a warning", "[coco]") {
  ojson doc = classification_doc();
  doc["categories"][1]["name"] = "cat";
  auto r = check(doc);
  CHECK(r.problems.error_count() == 0);
  warning_at(r, "categories[1].name", {"'cat'", "categories[0]"});
}

TEST_CASE("coco: a category without a name is an error", "[coco]") {
  ojson doc = classification_doc();
  doc["categories"][0].erase("name");
  doc["categories"][1]["name"] = "";
  auto r = check(doc);
  error_at(r, "categories[0].name", {"no name"});
  error_at(r, "categories[1].name", {"no name"});
}

TEST_CASE("coco: a category with no image or a single image is a warning", "[coco]") {
  ojson doc = classification_doc();
  doc["categories"].push_back({{"id", 3}, {"name", "bird"}});
  doc["categories"].push_back({{"id", 4}, {"name", "fish"}});
  doc["images"].push_back(image_entry(5, "img5.jpg"));
  doc["annotations"].push_back(tag_entry(5, 5, 4));
  auto r = check(doc);
  CHECK(r.problems.error_count() == 0);
  warning_at(r, "categories[2]", {"no image is tagged 'bird'"});
  auto p = warning_at(r, "categories[3]", {"only 1 image is tagged 'fish'", "at least 2"});
  CHECK(p.fix.find("at least 2") != std::string::npos);
  CHECK(r.problems.warning_count() == 2);
}

TEST_CASE("coco: a file name used by two images is an error", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][3]["file_name"] = "img2.jpg";
  auto r = check(doc);
  auto p = error_at(r, "images[3].file_name", {"'img2.jpg'", "images[1]"});
  CHECK(p.image_id == 4);
  CHECK(r.problems.error_count() == 1);
}

TEST_CASE("coco: an image without file_name and url is an error", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][2].erase("file_name");
  doc["images"][3]["file_name"] = nullptr;  // null reads as absent
  auto r = check(doc);
  auto p = error_at(r, "images[2]", {"no file_name", "absolute_url"});
  CHECK(p.image_id == 3);
  CHECK(p.fix.find("file_name") != std::string::npos);
  error_at(r, "images[3]", {"no file_name"});
  CHECK(r.problems.error_count() == 2);

  // A url alone is enough for the file (the container decides whether it can fetch it).
  ojson url = classification_doc();
  url["images"][2].erase("file_name");
  url["images"][2]["absolute_url"] = "file:///data/img3.jpg";
  require_clean(check(url));

  ojson number = classification_doc();
  number["images"][0]["file_name"] = 17;
  error_at(check(number), "images[0].file_name", {"file_name must be a string", "got a number"});
}

// ---- other annotation fields ---------------------------------------------------------------------

TEST_CASE("coco: iscrowd must be 0, 1 or a boolean", "[coco]") {
  ojson doc = classification_doc();
  doc["annotations"][0]["iscrowd"] = 2;
  doc["annotations"][1]["iscrowd"] = "no";
  auto r = check(doc);
  auto p = error_at(r, "annotations[0].iscrowd", {"iscrowd must be 0 or 1"});
  CHECK(p.annotation_id == 1);
  error_at(r, "annotations[1].iscrowd");
  CHECK(r.problems.error_count() == 2);

  ojson ok = classification_doc();
  ok["annotations"][0]["iscrowd"] = 1;
  ok["annotations"][1]["iscrowd"] = 0;
  ok["annotations"][2]["iscrowd"] = true;
  ok["annotations"][3]["iscrowd"] = false;
  auto s = check(ok);
  require_clean(s);
  CHECK(s.dataset.annotations[0].iscrowd);
  CHECK_FALSE(s.dataset.annotations[1].iscrowd);
  CHECK(s.dataset.annotations[2].iscrowd);
  CHECK_FALSE(s.dataset.annotations[3].iscrowd);
}

TEST_CASE("coco: a negative or non-numeric area is an error", "[coco]") {
  ojson doc = detection_doc();
  doc["annotations"][0]["area"] = -5;
  doc["annotations"][1]["area"] = "big";
  auto r = check(doc);
  auto p = error_at(r, "annotations[0].area", {"area must be a non-negative number"});
  CHECK(p.annotation_id == 1);
  error_at(r, "annotations[1].area");
  CHECK(r.problems.error_count() == 2);
  // The area is then computed from the box, as when it is not given.
  CHECK(r.dataset.annotations[0].area == Approx(400));
}

// ---- scale -------------------------------------------------------------------------------------

TEST_CASE("coco: problems are capped per severity but all are counted", "[coco]") {
  ojson doc = classification_doc();
  for (int i = 0; i < 1000; ++i) doc["annotations"].push_back(tag_entry(100 + i, 1 + i % 4, 77));
  const std::string json = doc.dump();
  auto r = check(json, capped(20));
  CHECK(r.problems.error_count() == 1000);
  CHECK(r.problems.capacity() == 20);
  auto kept = std::count_if(r.problems.items().begin(), r.problems.items().end(),
                            [](const problem& p) { return p.level == severity::error; });
  CHECK(kept == 20);
  // The first ones are kept, in file order.
  CHECK(r.problems.items().front().where == "annotations[4].category_id");

  auto d = check(json);  // default cap: 50
  CHECK(d.problems.error_count() == 1000);
  CHECK(std::count_if(d.problems.items().begin(), d.problems.items().end(),
                      [](const problem& p) { return p.level == severity::error; }) == 50);

  // The summary names the totals and the first error.
  auto text = summarize(r.problems, source);
  CHECK(text.find("1000 errors") != std::string::npos);
  CHECK(text.find("annotations[4].category_id") != std::string::npos);
}

// ---- the tables in memory ------------------------------------------------------------------------

TEST_CASE("coco: annotations_of lists each image's annotations in file order", "[coco]") {
  ojson doc;
  doc["images"] = {image_entry(10, "a.jpg"), image_entry(20, "b.jpg"), image_entry(30, "c.jpg"), image_entry(40, "d.jpg")};
  doc["categories"] = {{{"id", 1}, {"name", "x"}}, {{"id", 2}, {"name", "y"}}};
  doc["annotations"] = {box_entry(1, 30, 1, {1, 1, 5, 5}),  box_entry(2, 10, 2, {1, 1, 5, 5}),
                        box_entry(3, 30, 2, {2, 2, 5, 5}),  box_entry(4, 20, 1, {3, 3, 5, 5}),
                        box_entry(5, 30, 1, {4, 4, 5, 5}),  box_entry(6, 999, 1, {4, 4, 5, 5})};
  auto r = check(doc);
  error_at(r, "annotations[5].image_id", {"image_id 999"});
  auto& d = r.dataset;
  auto of = [&](std::size_t i) {
    auto s = d.annotations_of(i);
    return std::vector<std::uint32_t>(s.begin(), s.end());
  };
  CHECK(of(0) == std::vector<std::uint32_t>{1});
  CHECK(of(1) == std::vector<std::uint32_t>{3});
  CHECK(of(2) == std::vector<std::uint32_t>{0, 2, 4});
  CHECK(of(3).empty());
  CHECK(of(4).empty());  // past the end
  CHECK(of(1000).empty());
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("annotation " << i);
    CHECK(d.annotations[i].image_index == d.image_ids.find(d.annotations[i].image_id));
    CHECK(d.images[d.annotations[i].image_index].id == d.annotations[i].image_id);
  }
  CHECK(d.annotations[5].image_index == no_index);
  CHECK(d.find_image(30) == &d.images[2]);
  CHECK(d.find_image(31) == nullptr);
  CHECK(d.find_image(0) == nullptr);
  CHECK(d.find_image(-10) == nullptr);
  CHECK(d.find_category(2)->name == "y");
  CHECK(d.find_category(3) == nullptr);
}

TEST_CASE("coco: sparse ids (10^12 and beyond) are indexed", "[coco]") {
  const std::int64_t big = 1'000'000'000'000;
  ojson doc;
  doc["images"] = {image_entry(big, "a.jpg"), image_entry(big + 7, "b.jpg"), image_entry(3, "c.jpg"),
                   image_entry(big * 1000, "d.jpg")};
  doc["categories"] = {{{"id", big * 5}, {"name", "x"}}, {{"id", 2}, {"name", "y"}}};
  doc["annotations"] = {tag_entry(4'000'000'000'000'000'000, big + 7, big * 5), tag_entry(2, big, big * 5),
                        tag_entry(big, 3, 2), tag_entry(9, big * 1000, 2)};
  auto r = check(doc);
  require_clean(r);
  auto& d = r.dataset;
  REQUIRE(d.find_image(big) != nullptr);
  CHECK(d.find_image(big)->file_name == "a.jpg");
  CHECK(d.find_image(big + 7)->file_name == "b.jpg");
  CHECK(d.find_image(3)->file_name == "c.jpg");
  CHECK(d.find_image(big * 1000)->file_name == "d.jpg");
  CHECK(d.find_image(big + 1) == nullptr);
  CHECK(d.find_image(1) == nullptr);
  CHECK(d.find_category(big * 5)->name == "x");
  CHECK(d.annotations[0].id == 4'000'000'000'000'000'000);
  CHECK(d.annotations[0].image_index == 1);
  CHECK(d.annotations[0].category_index == 0);
  CHECK(d.annotations[2].image_index == 2);
  CHECK(d.annotations_of(1).size() == 1);

  // Duplicates are still found among sparse ids.
  doc["images"][2]["id"] = big + 7;
  auto s = check(doc);
  error_at(s, "images[2].id", {"image id 1000000000007 is used by images[1] too"});
}

TEST_CASE("coco: escaped and unicode strings are decoded", "[coco]") {
  std::string doc = R"({
    "images": [
      {"id": 1, "file_name": "caf\u00e9.jpg", "width": 100, "height": 80},
      {"id": 2, "file_name": "photos\/2024\/\ud83d\ude00.jpg", "width": 100, "height": 80},
      {"id": 3, "file_name": "日本/猫.png", "width": 100, "height": 80},
      {"id": 4, "file_name": "tab\there \"quoted\".jpg", "width": 100, "height": 80}],
    "categories": [{"id": 1, "name": "Stra\u00dfe"}, {"id": 2, "name": "say \"hi\""}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 2, "category_id": 1},
                    {"id": 3, "image_id": 3, "category_id": 2}, {"id": 4, "image_id": 4, "category_id": 2}]
  })";
  auto r = check(doc);
  require_clean(r);
  CHECK(r.dataset.images[0].file_name == "caf\xc3\xa9.jpg");
  CHECK(r.dataset.images[1].file_name == "photos/2024/\xf0\x9f\x98\x80.jpg");
  CHECK(r.dataset.images[2].file_name == "\xe6\x97\xa5\xe6\x9c\xac/\xe7\x8c\xab.png");
  CHECK(r.dataset.images[3].file_name == "tab\there \"quoted\".jpg");
  CHECK(r.dataset.categories[0].name == "Stra\xc3\x9f" "e");
  CHECK(r.dataset.categories[1].name == "say \"hi\"");

  // A bad escape is an error on that string, not on the file.
  auto bad = check(std::string(R"({"images": [{"id": 1, "file_name": "a\qb.jpg", "width": 10, "height": 10}],)"
                               R"( "categories": [], "annotations": []})"));
  REQUIRE(bad.readable);
  error_at(bad, "images[0].file_name", {"not a valid string"});
}

// ---- the shape of real COCO files -----------------------------------------------------------------

TEST_CASE("coco: a real-world COCO file (info, licenses, polygons, RLE, coco_url) loads", "[coco]") {
  // Shaped like instances_val2017.json: "annotations" before "categories", "id" last, http URLs.
  std::string doc = R"({"info": {"description": "COCO 2017 Dataset", "url": "http://cocodataset.org", "version": "1.0",
    "year": 2017, "contributor": "COCO Consortium", "date_created": "2017/09/01"},
  "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1,
                "name": "Attribution-NonCommercial-ShareAlike License"}],
  "images": [
    {"license": 4, "file_name": "000000397133.jpg", "coco_url": "http://images.cocodataset.org/val2017/000000397133.jpg",
     "height": 427, "width": 640, "date_captured": "2013-11-14 17:02:52",
     "flickr_url": "http://farm7.staticflickr.com/6116/6255196340_da26cf2c9e_z.jpg", "id": 397133},
    {"license": 1, "file_name": "000000037777.jpg", "coco_url": "http://images.cocodataset.org/val2017/000000037777.jpg",
     "height": 230, "width": 352, "date_captured": "2013-11-14 20:55:31",
     "flickr_url": "http://farm9.staticflickr.com/8429/7839199426_f6d48aa585_z.jpg", "id": 37777}],
  "annotations": [
    {"segmentation": [[510.66, 423.01, 511.72, 420.03, 510.45, 416.0, 510.34, 413.02, 510.77, 410.26]],
     "area": 702.1057499999998, "iscrowd": 0, "image_id": 397133, "bbox": [473.07, 395.93, 38.65, 28.67],
     "category_id": 44, "id": 82445},
    {"segmentation": {"counts": [272, 2, 4, 4, 4, 4, 2, 9, 1, 2, 16, 43, 143, 24, 5, 8, 16, 44], "size": [427, 640]},
     "area": 2062.0, "iscrowd": 1, "image_id": 397133, "bbox": [0.0, 262.0, 62.0, 62.0], "category_id": 1,
     "id": 900100397133},
    {"segmentation": [[102.49, 118.47, 7.9, 122.55, 41.38, 200.0]], "area": 3450.0, "iscrowd": 0,
     "image_id": 37777, "bbox": [7.9, 118.47, 94.59, 81.53], "category_id": 1, "id": 1234},
    {"segmentation": [[1, 2, 3, 4, 5, 6]], "area": 10.5, "iscrowd": 0, "image_id": 37777,
     "bbox": [300.5, 100.25, 50, 60], "category_id": 44, "id": 1235}],
  "categories": [{"supercategory": "person", "id": 1, "name": "person"},
                 {"supercategory": "kitchen", "id": 44, "name": "bottle"}]})";
  auto r = check(doc);
  require_clean(r);
  auto& d = r.dataset;
  CHECK(d.kind == dataset_kind::detection);
  CHECK(d.units == box_units::pixels);
  REQUIRE(d.images.size() == 2);
  CHECK(d.images[0].id == 397133);
  CHECK(d.images[0].file_name == "000000397133.jpg");
  CHECK(d.images[0].url == "http://images.cocodataset.org/val2017/000000397133.jpg");
  CHECK(d.images[0].width == 640);
  CHECK(d.images[0].height == 427);
  CHECK(d.categories[1].supercategory == "kitchen");
  CHECK(d.annotations[0].area == Approx(702.10575));
  CHECK(d.annotations[1].iscrowd);
  CHECK(d.annotations[1].id == 900100397133);
  CHECK(d.annotations[0].bbox.x == Approx(473.07));
  CHECK(d.annotations_of(0).size() == 2);

  // The file_name wins over the http coco_url: the image is read from the images folder.
  temp_dir dir;
  local_directory container(dir.path);
  auto location = container.resolve(d.images[0]);
  REQUIRE(location.ok());
  CHECK(location.path == container.root() / "000000397133.jpg");
  CHECK(location.inside_root);

  // Without file_name, the http URL is refused with a reason.
  auto url_only = d.images[1];
  url_only.file_name.clear();
  auto refused = container.resolve(url_only);
  CHECK_FALSE(refused.ok());
  CHECK(refused.message.find("not supported") != std::string::npos);
}

TEST_CASE("coco: absolute_url takes precedence over coco_url whatever the order", "[coco]") {
  ojson doc = classification_doc();
  doc["images"][0].erase("file_name");
  doc["images"][0]["absolute_url"] = "file:///one.jpg";
  doc["images"][0]["coco_url"] = "file:///two.jpg";
  doc["images"][1].erase("file_name");
  doc["images"][1]["coco_url"] = "file:///three.jpg";
  doc["images"][1]["absolute_url"] = "file:///four.jpg";
  auto r = check(doc);
  require_clean(r);
  CHECK(r.dataset.images[0].url == "file:///one.jpg");
  CHECK(r.dataset.images[1].url == "file:///four.jpg");
}

TEST_CASE("coco: read_coco_file and load_coco_file report files that are missing, directories or bad", "[coco]") {
  temp_dir dir;
  try {
    (void)read_coco_file(dir.path / "nope.json");
    FAIL("no error for a missing file");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::dataset_not_found);
    CHECK(std::string(e.what()).find("nope.json") != std::string::npos);
  }
  try {
    (void)read_coco_file(dir.path);
    FAIL("no error for a directory");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::invalid_argument);
  }
  auto bad = dir.path / "bad.json";
  ojson doc = classification_doc();
  doc["images"][0]["width"] = 3;
  tailor::write_file_atomically(bad, doc.dump());
  try {
    (void)load_coco_file(bad);
    FAIL("no error for a bad file");
  } catch (const tailor::error& e) {
    CHECK(e.code() == tailor::failure_code::dataset_corrupt);
    const std::string what = e.what();
    CHECK(what.find("bad.json has 1 error") != std::string::npos);
    CHECK(what.find("images[0].width") != std::string::npos);
    CHECK(e.problems().error_count() == 1);
  }
  auto good = dir.path / "good.json";
  tailor::write_file_atomically(good, classification_doc().dump());
  CHECK(load_coco_file(good).images.size() == 4);
}
