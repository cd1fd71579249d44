// Dataset objects: creating them from a folder of generated JPEG/PNG images and a COCO file, the
// checks of the image files, the workspace round trips, and the core pieces they stand on
// (atomic writes, SHA-256).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/core/file_io.hpp>
#include <tailor/core/sha256.hpp>
#include <tailor/data/image.hpp>
#include <tailor/data/image_encode.hpp>
#include <tailor/model/dataset.hpp>
#include <tailor/model/workspace.hpp>
#include <tailor/version.hpp>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using tailor::failure_code;
using tailor::problem;
using tailor::severity;
using ojson = nlohmann::ordered_json;

// Each temp_dir here is named after this file.
struct temp_dir : tailor::testing::temp_dir {
  temp_dir() : tailor::testing::temp_dir("test_dataset") {}
};

// A w x h test picture: gradients plus a little hash noise, so JPEG scans have real content.
tailor::data::image picture(int w, int h) {
  tailor::data::image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto* p = img.row(y) + 3 * x;
      const auto noise = static_cast<unsigned>(x * 7919 + y * 104729) % 37;
      p[0] = static_cast<std::uint8_t>((x * 255) / std::max(1, w - 1));
      p[1] = static_cast<std::uint8_t>((y * 255) / std::max(1, h - 1));
      p[2] = static_cast<std::uint8_t>(noise * 6);
    }
  return img;
}

void write_bytes(const fs::path& file, std::span<const std::uint8_t> bytes) {
  fs::create_directories(file.parent_path());
  tailor::write_file_atomically(file, bytes);
}
void write_text(const fs::path& file, std::string_view text) {
  fs::create_directories(file.parent_path());
  tailor::write_file_atomically(file, text);
}
void write_jpeg(const fs::path& file, int w, int h) { write_bytes(file, tailor::data::encode_jpeg(picture(w, h))); }
void write_png(const fs::path& file, int w, int h) { write_bytes(file, tailor::data::encode_png(picture(w, h))); }

using tailor::testing::read_text;

// Relative path -> content of every entry under root (directories map to "<dir>").
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    auto rel = fs::relative(e.path(), root).string();
    files[rel] = e.is_regular_file() ? read_text(e.path()) : std::string("<dir>");
  }
  return files;
}

// `sha256sum FILE`, the standard tool a user would check the recorded hash with.
std::string sha256sum(const fs::path& file) {
  const std::string command = fmt::format("sha256sum '{}'", file.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  REQUIRE(::pclose(pipe) == 0);
  REQUIRE(out.size() >= 64);
  return out.substr(0, 64);
}

// The clock the library reads (std::time() is a coarser clock that may still say the last second
// when system_clock already says the next one).
std::string utc_now() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string describe(const tailor::problem_list& problems) {
  std::string text = fmt::format("errors={} warnings={}\n", problems.error_count(), problems.warning_count());
  for (auto& p : problems.items())
    text += fmt::format("  {} {} (image {}): {} | fix: {}\n", tailor::to_string(p.level), p.where,
                        p.image_id ? std::to_string(*p.image_id) : "-", p.message, p.fix);
  return text;
}

// The problem of `level` at `where` whose message holds every word in `words`.
problem find_problem(const std::vector<problem>& items, severity level, std::string_view where,
                     const std::vector<std::string>& words) {
  auto it = std::find_if(items.begin(), items.end(), [&](const problem& p) {
    return p.level == level && p.where == where &&
           std::all_of(words.begin(), words.end(), [&](auto& w) { return p.message.find(w) != std::string::npos; });
  });
  INFO("wanted: " << tailor::to_string(level) << " at " << where);
  REQUIRE(it != items.end());
  CHECK_FALSE(it->fix.empty());
  return *it;
}

using tailor::testing::box_entry;
using tailor::testing::image_entry;
using tailor::testing::tag_entry;

// A folder of images, a COCO file next to it, and a workspace.
struct fixture {
  temp_dir dir;
  fs::path images = dir.path / "photos";
  fs::path coco = dir.path / "train.json";
  fs::path outside = dir.path / "elsewhere";  // a folder next to the images folder
  tailor::workspace ws{dir.path / "ws"};

  fixture() {
    // The four images of the classification file: 'cat' on a and c, 'dog' on b and d.
    write_jpeg(images / "a.jpg", 40, 30);
    write_png(images / "b.png", 64, 48);
    write_jpeg(images / "sub" / "c.jpg", 32, 32);
    write_png(images / "d.png", 50, 20);
    write_jpeg(images / "e.jpg", 16, 16);
    fs::create_directories(outside);
  }

  // A clean classification file over a, b, c, d.
  static ojson classification() {
    ojson d;
    d["images"] = {image_entry(1, "a.jpg", 40, 30), image_entry(2, "b.png", 64, 48), image_entry(3, "sub/c.jpg", 32, 32),
                   image_entry(4, "d.png", 50, 20)};
    d["categories"] = {{{"id", 1}, {"name", "cat"}}, {{"id", 7}, {"name", "dog"}}};
    d["annotations"] = {tag_entry(1, 1, 1), tag_entry(2, 2, 7), tag_entry(3, 3, 1), tag_entry(4, 4, 7)};
    return d;
  }

  // A detection file over all five images (e.jpg without boxes) with an unused category.
  static ojson detection() {
    ojson d;
    d["info"] = {{"description", "dataset test"}};
    d["images"] = {image_entry(1, "a.jpg", 40, 30), image_entry(2, "b.png", 64, 48), image_entry(3, "sub/c.jpg", 32, 32),
                   image_entry(4, "d.png", 50, 20), image_entry(5, "e.jpg", 16, 16)};
    d["categories"] = {{{"id", 1}, {"name", "cat"}}, {{"id", 7}, {"name", "dog"}}, {{"id", 9}, {"name", "bird"}}};
    d["annotations"] = {box_entry(1, 1, 1, {1, 1, 10, 10}),  box_entry(2, 1, 1, {20, 10, 15, 15}),
                        box_entry(3, 2, 7, {0, 0, 64, 48}),  box_entry(4, 3, 1, {5, 5, 20, 20}),
                        box_entry(5, 4, 7, {10, 2, 30, 15}), box_entry(6, 4, 7, {30, 5, 10, 10})};
    return d;
  }

  void write_coco(const ojson& doc) const { write_text(coco, doc.dump(2)); }

  tailor::dataset_spec spec(std::string name = "pets") const {
    tailor::dataset_spec s;
    s.name = std::move(name);
    s.coco_file = coco;
    s.images = images;
    s.threads = 3;
    return s;
  }

  tailor::dataset create(std::string name = "pets") const { return tailor::create_dataset(ws, spec(std::move(name))); }

  // Creating fails with `code`; returns the error.
  tailor::error create_fails(const tailor::dataset_spec& s, failure_code code = failure_code::dataset_corrupt) const {
    try {
      (void)tailor::create_dataset(ws, s);
    } catch (const tailor::error& e) {
      INFO(e.what());
      INFO(describe(e.problems()));
      CHECK(tailor::to_string(e.code()) == tailor::to_string(code));
      return e;
    }
    FAIL("create_dataset succeeded");
    throw;  // unreachable
  }

  // Writes `doc`, creates, expects dataset_corrupt, and returns the error problem at `where`.
  problem image_error(const ojson& doc, std::string_view where, const std::vector<std::string>& words,
                      bool verify = false) const {
    write_coco(doc);
    auto s = spec("checked");
    s.verify_images = verify;
    const auto before = snapshot(ws.root());
    auto e = create_fails(s);
    INFO(describe(e.problems()));
    auto p = find_problem(e.problems().items(), severity::error, where, words);
    CHECK(snapshot(ws.root()) == before);  // nothing stored, no temp file left
    return p;
  }
};

void require_same(const tailor::dataset& a, const tailor::dataset& b) {
  CHECK(a.name == b.name);
  CHECK(a.kind == b.kind);
  CHECK(a.kind_reason == b.kind_reason);
  CHECK(a.units == b.units);
  CHECK(a.units_reason == b.units_reason);
  CHECK(a.images_root == b.images_root);
  CHECK(a.association_file == b.association_file);
  CHECK(a.sha256 == b.sha256);
  CHECK(a.file_size == b.file_size);
  CHECK(a.created == b.created);
  CHECK(a.tailor_version == b.tailor_version);
  CHECK(a.images == b.images);
  CHECK(a.annotations == b.annotations);
  CHECK(a.untagged_images == b.untagged_images);
  CHECK(a.min_width == b.min_width);
  CHECK(a.max_width == b.max_width);
  CHECK(a.min_height == b.min_height);
  CHECK(a.max_height == b.max_height);
  REQUIRE(a.categories.size() == b.categories.size());
  for (std::size_t i = 0; i < a.categories.size(); ++i) {
    INFO("category " << i);
    CHECK(a.categories[i].id == b.categories[i].id);
    CHECK(a.categories[i].name == b.categories[i].name);
    CHECK(a.categories[i].images == b.categories[i].images);
    CHECK(a.categories[i].annotations == b.categories[i].annotations);
  }
  CHECK(a.warning_count == b.warning_count);
  REQUIRE(a.warnings.size() == b.warnings.size());
  for (std::size_t i = 0; i < a.warnings.size(); ++i) {
    INFO("warning " << i);
    CHECK(a.warnings[i].level == b.warnings[i].level);
    CHECK(a.warnings[i].where == b.warnings[i].where);
    CHECK(a.warnings[i].image_id == b.warnings[i].image_id);
    CHECK(a.warnings[i].annotation_id == b.warnings[i].annotation_id);
    CHECK(a.warnings[i].message == b.warnings[i].message);
    CHECK(a.warnings[i].fix == b.warnings[i].fix);
  }
}

tailor::error expect_error(failure_code code, auto&& action) {
  try {
    action();
  } catch (const tailor::error& e) {
    INFO(e.what());
    CHECK(tailor::to_string(e.code()) == tailor::to_string(code));
    return e;
  }
  FAIL("no error thrown");
  throw;  // unreachable
}

}  // namespace

// ---- creating ----------------------------------------------------------------------------------

TEST_CASE("dataset: create records kind, units, counts, sizes, hash and time", "[dataset]") {
  fixture f;
  f.write_coco(fixture::detection());
  const auto before = utc_now();
  auto d = f.create();
  const auto after = utc_now();

  CHECK(d.name == "pets");
  CHECK(d.kind == tailor::data::dataset_kind::detection);
  CHECK(d.kind_reason == "inferred: 6 of 6 annotations have a bbox");
  CHECK(d.units == tailor::data::box_units::pixels);
  CHECK(d.images == 5);
  CHECK(d.annotations == 6);
  CHECK(d.untagged_images == 1);
  CHECK(d.min_width == 16);
  CHECK(d.max_width == 64);
  CHECK(d.min_height == 16);
  CHECK(d.max_height == 48);
  REQUIRE(d.categories.size() == 3);
  CHECK(d.categories[0].id == 1);
  CHECK(d.categories[0].name == "cat");
  CHECK(d.categories[0].images == 2);       // a and c
  CHECK(d.categories[0].annotations == 3);  // two boxes on a, one on c
  CHECK(d.categories[1].id == 7);
  CHECK(d.categories[1].name == "dog");
  CHECK(d.categories[1].images == 2);       // b and d
  CHECK(d.categories[1].annotations == 3);
  CHECK(d.categories[2].name == "bird");
  CHECK(d.categories[2].images == 0);
  CHECK(d.categories[2].annotations == 0);
  // The unused category is a warning, kept with the dataset.
  CHECK(d.warning_count == 1);
  REQUIRE(d.warnings.size() == 1);
  CHECK(d.warnings[0].where == "categories[2]");
  CHECK(d.warnings[0].message.find("'bird'") != std::string::npos);

  // The hash is what `sha256sum` says of the file, and the size its size.
  CHECK(d.sha256 == sha256sum(f.coco));
  CHECK(d.file_size == fs::file_size(f.coco));
  CHECK(d.association_file == fs::absolute(f.coco).lexically_normal());
  CHECK(d.association_file.is_absolute());
  CHECK(d.images_root == fs::canonical(f.images));
  CHECK(d.tailor_version == tailor::version);
  // Created now, in UTC ISO 8601.
  REQUIRE(d.created.size() == 20);
  CHECK(d.created[4] == '-');
  CHECK(d.created[10] == 'T');
  CHECK(d.created.back() == 'Z');
  CHECK(before <= d.created);
  CHECK(d.created <= after);

  // The stored object is the same.
  CHECK(fs::is_regular_file(f.ws.root() / "datasets" / "pets" / "dataset.json"));
  require_same(tailor::get_dataset(f.ws, "pets"), d);
}

TEST_CASE("dataset: a relative association file path is recorded as absolute", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  const auto cwd = fs::current_path();
  fs::current_path(f.dir.path);
  tailor::dataset d;
  try {
    auto s = f.spec();
    s.coco_file = "train.json";
    s.images = "photos";
    d = tailor::create_dataset(f.ws, s);
  } catch (...) {
    fs::current_path(cwd);
    throw;
  }
  fs::current_path(cwd);
  CHECK(d.association_file == fs::absolute(f.coco).lexically_normal());
  CHECK(d.images_root == fs::canonical(f.images));
  CHECK(tailor::check_source(d) == tailor::source_state::unchanged);  // found from any directory
}

TEST_CASE("dataset: normalized boxes and a declared kind are recorded and used when opening", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  for (auto& a : doc["annotations"]) a["bbox"] = {0.25, 0.5, 0.5, 0.25};
  f.write_coco(doc);
  auto s = f.spec("boxes");
  s.kind = tailor::data::dataset_kind::detection;
  auto d = tailor::create_dataset(f.ws, s);
  CHECK(d.kind == tailor::data::dataset_kind::detection);
  CHECK(d.kind_reason == "declared");
  CHECK(d.units == tailor::data::box_units::normalized);
  CHECK(d.units_reason.find("normalized") != std::string::npos);
  CHECK(d.warning_count == 0);

  auto stored = tailor::get_dataset(f.ws, "boxes");
  auto coco = tailor::open_dataset(stored);
  CHECK(coco.kind == tailor::data::dataset_kind::detection);
  CHECK(coco.units == tailor::data::box_units::normalized);
  REQUIRE(coco.annotations.size() == 4);
  // annotations[1] is on b.png, 64x48: converted to pixels.
  auto& b = coco.annotations[1].bbox;
  CHECK(b.x == Approx(16));
  CHECK(b.y == Approx(24));
  CHECK(b.w == Approx(32));
  CHECK(b.h == Approx(12));
}

TEST_CASE("dataset: a missing association file or images folder is dataset_not_found", "[dataset]") {
  fixture f;
  auto s = f.spec();
  s.coco_file = f.dir.path / "nope.json";
  auto e = f.create_fails(s, failure_code::dataset_not_found);
  CHECK(std::string(e.what()).find("nope.json") != std::string::npos);
  f.write_coco(fixture::classification());
  auto t = f.spec();
  t.images = f.dir.path / "no-such-folder";
  auto g = f.create_fails(t, failure_code::dataset_not_found);
  CHECK(std::string(g.what()).find("no-such-folder") != std::string::npos);
  CHECK(fs::is_empty(f.ws.root() / "datasets"));
}

TEST_CASE("dataset: paths that are not UTF-8 are refused with a tailor error, not a JSON exception", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  const fs::path odd_images = f.dir.path / "photos-\xff";
  fs::copy(f.images, odd_images, fs::copy_options::recursive);
  const auto before = snapshot(f.ws.root());
  auto s = f.spec();
  s.images = odd_images;
  auto e = f.create_fails(s, failure_code::invalid_argument);
  CHECK(std::string(e.what()).find("UTF-8") != std::string::npos);

  const fs::path odd_coco = f.dir.path / "train-\xfe.json";
  fs::copy_file(f.coco, odd_coco);
  auto t = f.spec();
  t.coco_file = odd_coco;
  f.create_fails(t, failure_code::invalid_argument);
  CHECK(snapshot(f.ws.root()) == before);
}

// ---- the workspace -------------------------------------------------------------------------------

TEST_CASE("dataset: get, list and delete round trip through the workspace", "[dataset]") {
  fixture f;
  f.write_coco(fixture::detection());
  auto pets = f.create("pets");
  f.write_coco(fixture::classification());
  auto cls = f.create("Pets-2.cls_v1");

  require_same(tailor::get_dataset(f.ws, "pets"), pets);
  require_same(tailor::get_dataset(f.ws, "Pets-2.cls_v1"), cls);

  // A second workspace object on the same folder sees the same datasets.
  tailor::workspace again(f.ws.root());
  auto all = tailor::list_datasets(again);
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "Pets-2.cls_v1");  // sorted by name
  CHECK(all[1].name == "pets");
  require_same(all[0], cls);
  require_same(all[1], pets);

  tailor::delete_dataset(f.ws, "pets");
  CHECK_FALSE(fs::exists(f.ws.root() / "datasets" / "pets" / "dataset.json"));
  auto rest = tailor::list_datasets(f.ws);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].name == "Pets-2.cls_v1");
  auto e = expect_error(failure_code::dataset_not_found, [&] { (void)tailor::get_dataset(f.ws, "pets"); });
  CHECK(std::string(e.what()).find("'pets'") != std::string::npos);
  expect_error(failure_code::dataset_not_found, [&] { tailor::delete_dataset(f.ws, "pets"); });
  // Deleting a dataset leaves its files alone.
  CHECK(fs::exists(f.coco));
  CHECK(fs::exists(f.images / "a.jpg"));
  // The name is free again.
  f.write_coco(fixture::detection());
  auto again_created = f.create("pets");
  require_same(tailor::get_dataset(f.ws, "pets"), again_created);
}

TEST_CASE("dataset: to_json and dataset_from_json keep every field", "[dataset]") {
  tailor::dataset d;
  d.name = "round-trip_1.0";
  d.kind = tailor::data::dataset_kind::multilabel;
  d.kind_reason = "inferred: no bbox, and image 3 has several tags";
  d.units = tailor::data::box_units::normalized;
  d.units_reason = "declared";
  d.images_root = "/data/caf\xc3\xa9 photos";
  d.association_file = "/data/labels \"v2\".json";
  d.sha256 = std::string(64, 'f');
  d.file_size = 12'345'678'901ULL;
  d.created = "2024-02-29T23:59:58Z";
  d.tailor_version = "9.8.7";
  d.images = 300'000;
  d.annotations = 1'200'345;
  d.untagged_images = 12;
  d.min_width = 10;
  d.max_width = 10240;
  d.min_height = 11;
  d.max_height = 4000;
  d.categories = {{1, "cat", 10, 20}, {9'000'000'000'000, "Stra\xc3\x9f" "e", 0, 0}, {3, "with \"quotes\"", 1, 7}};
  d.warnings = {{severity::warning, "images[4]", 5, std::nullopt, "the image has no tag", "tag it"},
                {severity::warning, "annotations[2]", 3, 44, "two", "fix two"},
                {severity::warning, "categories[1]", std::nullopt, std::nullopt, "no image is tagged", "add images"}};
  d.warning_count = 77;

  auto j = tailor::to_json(d);
  CHECK(j["object"] == "dataset");
  CHECK(j["format"] == 1);
  const std::string compact = j.dump(), pretty = j.dump(2);
  require_same(tailor::dataset_from_json(compact, "x.json"), d);
  require_same(tailor::dataset_from_json(pretty, "x.json"), d);
}

TEST_CASE("dataset: creating a name that exists fails and leaves the existing object as it was", "[dataset]") {
  fixture f;
  f.write_coco(fixture::detection());
  f.create("pets");
  const auto file = f.ws.root() / "datasets" / "pets" / "dataset.json";
  const auto before = read_text(file);

  // Another valid file under the same name.
  f.write_coco(fixture::classification());
  auto e = f.create_fails(f.spec("pets"), failure_code::already_exists);
  CHECK(std::string(e.what()).find("'pets'") != std::string::npos);
  CHECK(std::string(e.what()).find("delete") != std::string::npos);
  CHECK(read_text(file) == before);

  // A broken file under the same name: still already_exists, still untouched.
  write_text(f.coco, "{ broken");
  f.create_fails(f.spec("pets"), failure_code::already_exists);
  CHECK(read_text(file) == before);
  CHECK(snapshot(f.ws.root() / "datasets").size() == 2);

  // The workspace's own atomic test-and-create refuses as well (two creators racing).
  auto g = expect_error(failure_code::already_exists,
                        [&] { f.ws.create_object("datasets", "pets", "dataset", "dataset.json", "{\"object\": \"dataset\"}"); });
  CHECK(std::string(g.what()).find("already exists") != std::string::npos);
  CHECK(read_text(file) == before);
}

TEST_CASE("dataset: invalid names are refused before anything is read or written", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  const auto before = snapshot(f.dir.path);
  for (std::string name : {std::string(), std::string("../x"), std::string(".hidden"), std::string(256, 'a'),
                           std::string("a b"), std::string("x/y"), std::string("-dash"), std::string("caf\xc3\xa9"),
                           std::string("tab\tname")}) {
    INFO("name '" << name << "'");
    auto e = f.create_fails(f.spec(name), failure_code::invalid_argument);
    CHECK(std::string(e.what()).find("not a valid dataset name") != std::string::npos);
    expect_error(failure_code::invalid_argument, [&] { (void)tailor::get_dataset(f.ws, name); });
    expect_error(failure_code::invalid_argument, [&] { tailor::delete_dataset(f.ws, name); });
  }
  CHECK(snapshot(f.dir.path) == before);
  CHECK_FALSE(fs::exists(f.ws.root() / "x"));
  CHECK_FALSE(fs::exists(f.ws.root() / "datasets" / "x"));
}

TEST_CASE("dataset: names of 255 characters are accepted", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  const std::string name = "N" + std::string(253, 'x') + "9";
  REQUIRE(name.size() == 255);
  CHECK(tailor::is_valid_name(name));
  CHECK_FALSE(tailor::is_valid_name(name + "0"));
  auto d = f.create(name);
  CHECK(d.name == name);
  require_same(tailor::get_dataset(f.ws, name), d);
  auto all = tailor::list_datasets(f.ws);
  REQUIRE(all.size() == 1);
  CHECK(all[0].name == name);
  tailor::delete_dataset(f.ws, name);
  CHECK(tailor::list_datasets(f.ws).empty());
}

TEST_CASE("dataset: a changed association file is noticed", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  auto d = f.create();
  CHECK(tailor::check_source(d) == tailor::source_state::unchanged);
  auto coco = tailor::open_dataset(tailor::get_dataset(f.ws, "pets"));
  CHECK(coco.images.size() == 4);
  CHECK(coco.kind == tailor::data::dataset_kind::classification);

  // One byte more (a trailing newline), still valid JSON: the content changed.
  auto text = read_text(f.coco);
  write_text(f.coco, text + "\n");
  CHECK(tailor::check_source(d) == tailor::source_state::changed);
  auto e = expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::open_dataset(d); });
  const std::string what = e.what();
  CHECK(what.find("changed") != std::string::npos);
  CHECK(what.find("'pets'") != std::string::npos);
  CHECK(what.find("train.json") != std::string::npos);

  // Restored byte for byte: unchanged again.
  write_text(f.coco, text);
  CHECK(tailor::check_source(d) == tailor::source_state::unchanged);

  fs::remove(f.coco);
  CHECK(tailor::check_source(d) == tailor::source_state::missing);
  auto g = expect_error(failure_code::dataset_not_found, [&] { (void)tailor::open_dataset(d); });
  CHECK(std::string(g.what()).find("gone") != std::string::npos);
}

// ---- the image files -----------------------------------------------------------------------------

TEST_CASE("dataset: a missing image file is an error naming it", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  doc["images"][2]["file_name"] = "sub/missing.jpg";
  auto p = f.image_error(doc, "images[2].file_name", {"missing.jpg", "does not exist"});
  CHECK(p.image_id == 3);
}

TEST_CASE("dataset: a file_name leaving the folder through '..' is refused", "[dataset]") {
  fixture f;
  write_jpeg(f.outside / "a.jpg", 40, 30);  // exists: refused for the path, not for being absent
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "../elsewhere/a.jpg";
  auto p = f.image_error(doc, "images[0].file_name", {"'../elsewhere/a.jpg'", "leaves the images folder", ".."});
  CHECK(p.image_id == 1);
  doc["images"][0]["file_name"] = "sub/../../elsewhere/a.jpg";
  f.image_error(doc, "images[0].file_name", {"leaves the images folder"});
}

TEST_CASE("dataset: an absolute file_name is refused", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = (f.images / "a.jpg").string();  // exists, and even inside the folder
  auto p = f.image_error(doc, "images[0].file_name", {"is an absolute path"});
  CHECK(p.fix.find("relative") != std::string::npos);
}

TEST_CASE("dataset: a symlink inside the folder pointing outside is refused", "[dataset]") {
  fixture f;
  write_jpeg(f.outside / "secret.jpg", 40, 30);
  fs::create_symlink(f.outside / "secret.jpg", f.images / "link.jpg");
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "link.jpg";
  auto p = f.image_error(doc, "images[0].file_name", {"symbolic link", "out of the images folder"});
  CHECK(p.image_id == 1);

  // Through a linked directory as well.
  fs::create_directory_symlink(f.outside, f.images / "linked-dir");
  doc["images"][0]["file_name"] = "linked-dir/secret.jpg";
  f.image_error(doc, "images[0].file_name", {"symbolic link"});

  // A link that stays inside the folder is fine.
  fs::create_symlink(f.images / "a.jpg", f.images / "alias.jpg");
  doc["images"][0]["file_name"] = "alias.jpg";
  f.write_coco(doc);
  CHECK(f.create().images == 4);
}

TEST_CASE("dataset: http(s) image URLs are refused as not supported", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  doc["images"][1].erase("file_name");
  doc["images"][1]["coco_url"] = "http://images.example.com/b.png";
  doc["images"][3].erase("file_name");
  doc["images"][3]["absolute_url"] = "HTTPS://images.example.com/d.png";
  auto p = f.image_error(doc, "images[1].absolute_url", {"http://images.example.com/b.png", "not supported"});
  CHECK(p.image_id == 2);
  CHECK(p.fix.find("download") != std::string::npos);
  f.image_error(doc, "images[3].absolute_url", {"not supported"});
}

TEST_CASE("dataset: a file:// URL to an existing image is accepted, wherever it is", "[dataset]") {
  fixture f;
  write_jpeg(f.outside / "my photo.jpg", 40, 30);
  ojson doc = fixture::classification();
  doc["images"][0].erase("file_name");
  doc["images"][0]["absolute_url"] = "file://" + (f.outside / "my%20photo.jpg").string();
  f.write_coco(doc);
  auto d = f.create();
  CHECK(d.images == 4);
  CHECK(d.warning_count == 0);

  // A file:// URL to a missing file is an error like a missing file_name.
  doc["images"][0]["absolute_url"] = "file://" + (f.outside / "gone.jpg").string();
  f.write_coco(doc);
  auto e = f.create_fails(f.spec("second"));
  find_problem(e.problems().items(), severity::error, "images[0].absolute_url", {"gone.jpg", "does not exist"});
}

TEST_CASE("dataset: a file that is not an image is an error", "[dataset]") {
  fixture f;
  write_text(f.images / "notes.jpg", "these are my notes, not a picture\n");
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "notes.jpg";
  auto p = f.image_error(doc, "images[0].file_name", {"notes.jpg", "not a JPEG or PNG"});
  CHECK(p.image_id == 1);
  CHECK(p.fix.find("JPEG or PNG") != std::string::npos);

  write_text(f.images / "empty.png", "");
  doc["images"][0]["file_name"] = "empty.png";
  f.image_error(doc, "images[0].file_name", {"empty"});

  fs::create_directories(f.images / "folder.jpg");
  doc["images"][0]["file_name"] = "folder.jpg";
  f.image_error(doc, "images[0].file_name", {"not a regular file"});
}

TEST_CASE("dataset: a GIF is refused as an unsupported format", "[dataset]") {
  fixture f;
  const std::uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 40, 0, 30, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x3b};
  write_bytes(f.images / "anim.gif", gif);
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "anim.gif";
  auto p = f.image_error(doc, "images[0].file_name", {"GIF", "not a JPEG or PNG"});
  CHECK(p.image_id == 1);
}

TEST_CASE("dataset: a size that differs from the file is an error with both sizes", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  doc["images"][1]["width"] = 65;  // b.png is 64x48
  auto p = f.image_error(doc, "images[1].file_name", {"64x48", "65x48"});
  CHECK(p.image_id == 2);
  CHECK(p.message == "the file is 64x48, but the association file says 65x48");
}

TEST_CASE("dataset: EXIF-rotated JPEGs: the displayed size is right, the stored size is an error", "[dataset]") {
  fixture f;
  // Stored 40x30 with orientation 6 (rotate 90): displayed 30x40.
  auto jpeg = tailor::data::encode_jpeg(picture(40, 30));
  write_bytes(f.images / "rotated.jpg", tailor::data::with_exif_orientation(jpeg, 6));
  write_bytes(f.images / "rotated-le.jpg", tailor::data::with_exif_orientation(jpeg, 8, false));
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "rotated.jpg";
  doc["images"][0]["width"] = 30;
  doc["images"][0]["height"] = 40;
  doc["images"][2]["file_name"] = "rotated-le.jpg";
  doc["images"][2]["width"] = 30;
  doc["images"][2]["height"] = 40;
  f.write_coco(doc);
  auto d = f.create("upright");
  REQUIRE(d.warning_count == 2);
  auto w = find_problem(d.warnings, severity::warning, "images[0].file_name", {"EXIF", "orientation 6", "40x30"});
  CHECK(w.image_id == 1);
  find_problem(d.warnings, severity::warning, "images[2].file_name", {"orientation 8"});
  CHECK(d.min_width == 30);  // as the association file says, i.e. upright

  // The stored size in the association file: the boxes would be drawn on the wrong axes.
  doc["images"][0]["width"] = 40;
  doc["images"][0]["height"] = 30;
  auto p = f.image_error(doc, "images[0].file_name", {"stored size", "orientation 6", "30x40"});
  CHECK(p.image_id == 1);
  CHECK(p.fix.find("width 30 and height 40") != std::string::npos);
  CHECK(tailor::list_datasets(f.ws).size() == 1);  // the failed create added nothing
}

TEST_CASE("dataset: --verify-images finds a truncated JPEG whose header is intact", "[dataset]") {
  fixture f;
  auto jpeg = tailor::data::encode_jpeg(picture(64, 48), 95);
  jpeg.resize(jpeg.size() * 3 / 5);
  write_bytes(f.images / "cut.jpg", jpeg);
  ojson doc = fixture::classification();
  doc["images"][0]["file_name"] = "cut.jpg";
  doc["images"][0]["width"] = 64;
  doc["images"][0]["height"] = 48;
  f.write_coco(doc);
  CHECK(f.create("quick").images == 4);  // the header check passes

  auto p = f.image_error(doc, "images[0].file_name", {"cut.jpg", "truncated"}, true);
  CHECK(p.image_id == 1);
  // A complete dataset passes with verification too.
  f.write_coco(fixture::detection());
  auto s = f.spec("verified");
  s.verify_images = true;
  CHECK(tailor::create_dataset(f.ws, s).images == 5);
}

TEST_CASE("dataset: image problems come in image order whatever the thread count", "[dataset]") {
  fixture f;
  ojson doc = fixture::classification();
  for (int i = 0; i < 4; ++i) doc["images"][i]["file_name"] = fmt::format("missing-{}.jpg", i);
  for (int i = 0; i < 12; ++i) {
    doc["images"].push_back(image_entry(100 + i, fmt::format("more-missing-{}.jpg", i), 40, 30));
    doc["annotations"].push_back(tag_entry(100 + i, 100 + i, 1));
  }
  f.write_coco(doc);
  std::vector<std::string> first;
  for (unsigned threads : {1u, 4u, 16u}) {
    auto s = f.spec();
    s.threads = threads;
    auto e = f.create_fails(s);
    std::vector<std::string> where;
    for (auto& p : e.problems().items()) where.push_back(p.where);
    CHECK(e.problems().error_count() == 16);
    if (first.empty()) first = where;
    CHECK(where == first);
  }
  REQUIRE(first.size() == 16);
  CHECK(first.front() == "images[0].file_name");
  CHECK(first.back() == "images[15].file_name");
}

TEST_CASE("dataset: a failed create leaves the workspace as it was", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  f.create("existing");
  const auto before = snapshot(f.ws.root());

  ojson doc = fixture::classification();
  doc["images"][0]["width"] = 5;             // a COCO error
  doc["images"][1]["file_name"] = "nope.png";  // an image error
  f.write_coco(doc);
  auto e = f.create_fails(f.spec("new"));
  CHECK(e.problems().error_count() == 2);
  write_text(f.coco, "[1, 2");
  f.create_fails(f.spec("new"));
  CHECK(snapshot(f.ws.root()) == before);
  for (auto& entry : fs::recursive_directory_iterator(f.ws.root() / "datasets"))
    CHECK(entry.path().filename().string().find("tmp") == std::string::npos);
}

TEST_CASE("dataset: a damaged metadata file is dataset_corrupt naming the file", "[dataset]") {
  fixture f;
  f.write_coco(fixture::classification());
  auto d = f.create("good");
  const auto folder = f.ws.root() / "datasets";
  fs::create_directories(folder / "broken");

  write_text(folder / "broken" / "dataset.json", "{\"object\": \"dataset\", \"name\": \"bro");
  auto e = expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::get_dataset(f.ws, "broken"); });
  std::string what = e.what();
  CHECK(what.find("broken/dataset.json") != std::string::npos);
  CHECK(what.find("damaged") != std::string::npos);
  CHECK(what.find("delete the dataset") != std::string::npos);
  expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::list_datasets(f.ws); });

  // Valid JSON with a field missing or of the wrong type.
  auto j = tailor::to_json(d);
  j.erase("sha256");
  write_text(folder / "broken" / "dataset.json", j.dump());
  auto g = expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::get_dataset(f.ws, "broken"); });
  CHECK(std::string(g.what()).find("sha256") != std::string::npos);
  j = tailor::to_json(d);
  j["images"] = "four";
  write_text(folder / "broken" / "dataset.json", j.dump());
  expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::get_dataset(f.ws, "broken"); });
  j = tailor::to_json(d);
  j["kind"] = "segmentation";
  write_text(folder / "broken" / "dataset.json", j.dump());
  expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::get_dataset(f.ws, "broken"); });
  write_text(folder / "broken" / "dataset.json", "[]");
  expect_error(failure_code::dataset_corrupt, [&] { (void)tailor::get_dataset(f.ws, "broken"); });

  // Deleting the damaged one makes the workspace usable again.
  tailor::delete_dataset(f.ws, "broken");
  CHECK(tailor::list_datasets(f.ws).size() == 1);
}

// ---- core: atomic writes and SHA-256 --------------------------------------------------------------

TEST_CASE("core: write_file_atomically replaces or refuses, and leaves no temp files", "[dataset]") {
  temp_dir dir;
  const auto file = dir.path / "object.json";
  tailor::write_file_atomically(file, std::string_view("one"), tailor::overwrite::forbid);
  CHECK(read_text(file) == "one");

  auto e = expect_error(failure_code::already_exists,
                        [&] { tailor::write_file_atomically(file, std::string_view("two"), tailor::overwrite::forbid); });
  CHECK(std::string(e.what()).find("object.json") != std::string::npos);
  CHECK(read_text(file) == "one");

  tailor::write_file_atomically(file, std::string_view("three, longer than before"));
  CHECK(read_text(file) == "three, longer than before");
  tailor::write_file_atomically(file, std::string_view(""));
  CHECK(read_text(file).empty());

  const std::vector<std::uint8_t> binary{0, 1, 2, 0xff, 0, 0x80};
  tailor::write_file_atomically(dir.path / "binary", binary);
  CHECK(tailor::read_file(dir.path / "binary") == binary);

  // A folder that does not exist: io_error naming it, nothing written.
  expect_error(failure_code::io_error, [&] { tailor::write_file_atomically(dir.path / "no" / "x", std::string_view("x")); });
  expect_error(failure_code::io_error, [&] { (void)tailor::read_file(dir.path / "absent"); });
  expect_error(failure_code::io_error, [&] { (void)tailor::read_file(dir.path); });

  std::vector<std::string> names;
  for (auto& entry : fs::directory_iterator(dir.path)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"binary", "object.json"});
}

TEST_CASE("core: sha256 matches the FIPS 180-4 test vectors", "[dataset]") {
  auto hex = [](std::string_view text) { return tailor::sha256{}.update(text).hex_digest(); };
  CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string_view m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(hex(m448) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string_view m896 =
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
      "nopqrstu";
  CHECK(hex(m896) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  const std::string million(1'000'000, 'a');
  CHECK(hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  // Fed in pieces of every awkward size, the digest is the same.
  for (std::size_t piece : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 1000u}) {
    INFO("pieces of " << piece);
    tailor::sha256 h;
    for (std::size_t at = 0; at < m896.size(); at += piece) h.update(m896.substr(at, std::min(piece, m896.size() - at)));
    CHECK(h.hex_digest() == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  }
  tailor::sha256 pieces;
  for (std::size_t at = 0; at < million.size(); at += 4099)
    pieces.update(std::string_view(million).substr(at, std::min<std::size_t>(4099, million.size() - at)));
  CHECK(pieces.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Padding boundaries: 55, 56 and 64 bytes.
  CHECK(hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  // reset() starts over.
  tailor::sha256 h;
  h.update("garbage");
  h.reset();
  CHECK(h.update("abc").hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  // The same digest as the standard tool on a file.
  temp_dir dir;
  write_text(dir.path / "m.txt", m896);
  CHECK(sha256sum(dir.path / "m.txt") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}
