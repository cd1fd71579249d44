#pragma once
// Reading a COCO association file with simdjson's On-Demand API into coco_dataset tables.
//
// The reader records a problem for every field it cannot use (missing, wrong type, out of range)
// and goes on, so that one run reports every defect. Only a file that is not JSON at all
// (truncated, bad syntax, bad UTF-8, wrong top-level type) stops it: that is reported with the line
// and column. Values tailor does not use (segmentation polygons, info, licenses) are skipped
// without being converted, which is why loading runs near simdjson's raw speed.
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "coco_types.hpp"

namespace tailor::data {

namespace detail {

namespace od = simdjson::ondemand;

// Thrown inside the reader when the JSON itself is broken; caught by read_coco_tables.
struct json_syntax_failure {};

// Where a value is, for JSON paths in problems ("annotations[12].bbox"). Cheap to make: the text
// is only formatted when a problem is reported, never on the fast path.
struct json_where {
  std::string_view table;  // "images", ... (empty at the top level)
  std::size_t index = 0;
  std::string_view field;  // empty for the entry itself
  json_where operator()(std::string_view f) const { return {table, index, f}; }
  std::string str() const {
    if (table.empty()) return std::string(field);
    return field.empty() ? fmt::format("{}[{}]", table, index) : fmt::format("{}[{}].{}", table, index, field);
  }
};

constexpr std::string_view json_type_name(od::json_type t) noexcept {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "a value";
}

// The tables as read, before ids are resolved. A parse never throws for a bad value, only for
// broken JSON; the entries keep 0 / empty for what could not be read.
class coco_reader {
 public:
  coco_reader(const simdjson::padded_string& json, std::string_view source, bool require_sizes, problem_list& problems,
              coco_dataset& out)
      : json_(json), source_(source), require_sizes_(require_sizes), problems_(problems), out_(out) {}

  // Returns false when the file is not usable JSON (a problem says why and where).
  bool run() {
    try {
      read_document();
      return true;
    } catch (const json_syntax_failure&) {
      return false;
    }
  }

 private:
  const simdjson::padded_string& json_;
  std::string_view source_;
  bool require_sizes_;
  problem_list& problems_;
  coco_dataset& out_;
  od::parser parser_;
  od::document doc_;

  // Problems of the entry being read wait here until the entry is finished, so that they carry
  // its ids even when "id" comes after the bad field (pycocotools writes "id" last).
  bool in_entry_ = false;
  std::vector<problem> entry_problems_;

  void report_error(std::string where, std::string message, std::string fix, std::optional<std::int64_t> image_id = {},
                    std::optional<std::int64_t> annotation_id = {}) {
    if (image_id && *image_id <= 0) image_id.reset();  // not read yet, or invalid: the scope stamps the real one
    if (annotation_id && *annotation_id <= 0) annotation_id.reset();
    problem p{severity::error, std::move(where), image_id, annotation_id, std::move(message), std::move(fix)};
    if (in_entry_) entry_problems_.push_back(std::move(p));
    else problems_.add(std::move(p));
  }

  // Marks the reading of one table entry; on leaving, stamps the entry's final ids on its problems.
  class entry_scope {
   public:
    entry_scope(coco_reader& reader, const std::int64_t* image_id, const std::int64_t* annotation_id)
        : reader_(reader), image_id_(image_id), annotation_id_(annotation_id) {
      reader_.in_entry_ = true;
    }
    ~entry_scope() {
      reader_.in_entry_ = false;
      for (auto& p : reader_.entry_problems_) {
        if (!p.image_id && image_id_ && *image_id_ > 0) p.image_id = *image_id_;
        if (!p.annotation_id && annotation_id_ && *annotation_id_ > 0) p.annotation_id = *annotation_id_;
        reader_.problems_.add(std::move(p));
      }
      reader_.entry_problems_.clear();
    }
    entry_scope(const entry_scope&) = delete;
    entry_scope& operator=(const entry_scope&) = delete;

   private:
    coco_reader& reader_;
    const std::int64_t* image_id_;
    const std::int64_t* annotation_id_;
  };
  bool iterating_ = false;  // doc_ is valid (iterate succeeded)

  // Line and column (1-based) of a byte offset, for messages about broken JSON.
  std::string position_of(std::size_t offset) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset && i < json_.size(); ++i) {
      if (json_.data()[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return fmt::format("line {}, column {}", line, column);
  }

  // The offset of the first non-blank byte after a complete top-level object or array, if any.
  std::optional<std::size_t> content_after_top_level() const {
    const char* p = json_.data();
    const std::size_t n = json_.size();
    auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
    std::size_t i = 0;
    while (i < n && blank(p[i])) ++i;
    if (i == n || (p[i] != '{' && p[i] != '[')) return std::nullopt;
    std::size_t depth = 0;
    bool in_string = false;
    for (; i < n; ++i) {
      char c = p[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        for (++i; i < n && blank(p[i]); ++i) {
        }
        return i < n ? std::optional<std::size_t>(i) : std::nullopt;
      }
    }
    return std::nullopt;
  }

  [[noreturn]] void syntax_failure(simdjson::error_code code, const json_where& context) {
    std::string at = " at the end of the file";
    const char* location = nullptr;
    if (iterating_ && doc_.current_location().get(location) == simdjson::SUCCESS && location != nullptr) {
      auto offset = static_cast<std::size_t>(location - json_.data());
      at = fmt::format(" at {} (byte {})", position_of(offset), offset);
    }
    std::string what;
    switch (code) {
      case simdjson::EMPTY: what = "the file is empty"; break;
      case simdjson::UTF8_ERROR: what = "the file is not valid UTF-8 text"; break;
      case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
        // simdjson says "incomplete" both for a truncated file and for one with stray content after
        // a complete top-level value ("{...} xyz"): tell the two apart for the user.
        if (auto stray = content_after_top_level()) {
          what = fmt::format("unexpected content after the top-level object at {} (byte {})", position_of(*stray), *stray);
          break;
        }
        what = "the JSON is incomplete: an object or array is never closed (is the file truncated?)";
        break;
      case simdjson::TRAILING_CONTENT: what = fmt::format("unexpected content after the top-level object{}", at); break;
      default: what = fmt::format("the file is not valid JSON{}: {}", at, simdjson::error_message(code)); break;
    }
    if (!context.str().empty() && code != simdjson::EMPTY) what += fmt::format(" (while reading {})", context.str());
    report_error(std::string(source_), what,
                    "make sure the file is a complete COCO JSON document: re-export it, or check it with a JSON "
                    "validator (python3 -m json.tool FILE)");
    throw json_syntax_failure{};
  }

  template <class T>
  T must(simdjson::simdjson_result<T>&& r, const json_where& context) {
    T value;
    if (auto e = std::move(r).get(value); e != simdjson::SUCCESS) syntax_failure(e, context);
    return value;
  }

  od::json_type type_of(od::value& v, const json_where& context) { return must(v.type(), context); }

  // Integers: ids, width, height. Records a problem and returns nullopt when the value is not one.
  std::optional<std::int64_t> read_integer(od::value& v, const json_where& path, std::string_view what,
                                           std::optional<std::int64_t> image_id = {},
                                           std::optional<std::int64_t> annotation_id = {}) {
    auto t = type_of(v, path);
    if (t == od::json_type::number) {
      std::int64_t i = 0;
      if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
      double d = 0;
      std::string token(v.raw_json_token());
      while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' || token.back() == '\t'))
        token.pop_back();
      if (v.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && d == std::floor(d) &&
          std::abs(d) < 9.0e15) {
        return static_cast<std::int64_t>(d);  // 3.0 is an integer written as a float: accept it
      }
      report_error(path.str(), fmt::format("{} must be an integer, got {}", what, token),
                      fmt::format("write {} as a whole number", what), image_id, annotation_id);
      return std::nullopt;
    }
    std::string shown;
    if (t == od::json_type::string) {
      std::string_view s;
      if (v.get_string().get(s) == simdjson::SUCCESS) {
        auto start = s.substr(0, 40);
        // Cut at a character boundary: half a UTF-8 character would make the message invalid text.
        while (start.size() < s.size() && !start.empty() && (static_cast<unsigned char>(s[start.size()]) & 0xc0) == 0x80)
          start.remove_suffix(1);
        shown = fmt::format(" (\"{}\")", start);
      }
    }
    report_error(path.str(), fmt::format("{} must be an integer, got {}{}", what, json_type_name(t), shown),
                    fmt::format("write {} as a JSON number without quotes", what), image_id, annotation_id);
    return std::nullopt;
  }

  // An id: a positive integer.
  std::int64_t read_id(od::value& v, const json_where& path, std::string_view what,
                       std::optional<std::int64_t> image_id = {}, std::optional<std::int64_t> annotation_id = {}) {
    auto i = read_integer(v, path, what, image_id, annotation_id);
    if (!i) return 0;
    if (*i <= 0) {
      report_error(path.str(), fmt::format("{} must be a positive integer, got {}", what, *i),
                      "number ids from 1 upwards", image_id, annotation_id);
      return 0;
    }
    return *i;
  }

  std::optional<std::string> read_string(od::value& v, const json_where& path, std::string_view what,
                                         std::optional<std::int64_t> image_id = {}) {
    auto t = type_of(v, path);
    if (t == od::json_type::string) {
      std::string_view s;
      if (auto e = v.get_string().get(s); e != simdjson::SUCCESS) {
        report_error(path.str(), fmt::format("{} is not a valid string: {}", what, simdjson::error_message(e)),
                        "fix the escape sequences in this string", image_id);
        return std::nullopt;
      }
      return std::string(s);
    }
    if (t == od::json_type::null) return std::nullopt;  // null reads as absent
    report_error(path.str(), fmt::format("{} must be a string, got {}", what, json_type_name(t)),
                    fmt::format("write {} as a JSON string", what), image_id);
    return std::nullopt;
  }

  bool whole_file_is_scalar(od::json_type t) {
    bool flag = false;
    double number = 0;
    std::string_view text;
    switch (t) {
      case od::json_type::boolean: return doc_.get_bool().get(flag) == simdjson::SUCCESS;
      case od::json_type::null: return doc_.is_null().get(flag) == simdjson::SUCCESS && flag;
      case od::json_type::number: return doc_.get_double().get(number) == simdjson::SUCCESS;
      case od::json_type::string: return doc_.get_string().get(text) == simdjson::SUCCESS;
      default: return true;
    }
  }

  void read_document() {
    // A file of only white space is "empty" to a user, whatever the parser calls it.
    if (std::all_of(json_.data(), json_.data() + json_.size(),
                    [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }))
      syntax_failure(simdjson::EMPTY, {});
    if (auto e = parser_.iterate(json_).get(doc_); e != simdjson::SUCCESS) syntax_failure(e, {});
    iterating_ = true;
    od::json_type root_type;
    if (auto e = doc_.type().get(root_type); e != simdjson::SUCCESS) syntax_failure(e, {{}, 0, "the top level"});
    if (root_type != od::json_type::object) {
      // Text starting with t, f, n, a digit or a quote is not a boolean, null, number or string
      // unless the whole file is that one value: "this is not json" is reported as not JSON.
      if (root_type != od::json_type::array && !whole_file_is_scalar(root_type)) syntax_failure(simdjson::TAPE_ERROR, {});
      report_error(std::string(source_),
                      fmt::format("the top level of the file is {}, not an object", json_type_name(root_type)),
                      "a COCO file is one JSON object with \"images\", \"categories\" and \"annotations\" arrays");
      throw json_syntax_failure{};
    }
    od::object root = must(doc_.get_object(), {{}, 0, "the top level"});
    bool seen_images = false, seen_categories = false, seen_annotations = false;
    for (auto field_result : root) {
      od::field field = must(std::move(field_result), {{}, 0, "the top level"});
      std::string_view key = must(field.unescaped_key(), {{}, 0, "the top level"});
      od::value value = field.value();
      bool* seen = key == "images"        ? &seen_images
                   : key == "categories"  ? &seen_categories
                   : key == "annotations" ? &seen_annotations
                                          : nullptr;
      if (seen == nullptr) continue;  // info, licenses, anything else: skipped unread
      if (*seen) {
        report_error(std::string(key), fmt::format("the key \"{}\" appears twice at the top level", key),
                        "merge the two lists into one");
        continue;
      }
      *seen = true;
      const json_where table_where{{}, 0, key};
      auto t = type_of(value, table_where);
      if (t != od::json_type::array) {
        report_error(std::string(key), fmt::format("\"{}\" must be an array, got {}", key, json_type_name(t)),
                        fmt::format("make \"{}\" a JSON array of objects", key));
        continue;
      }
      od::array array = must(value.get_array(), table_where);
      if (key == "images") read_images(array);
      else if (key == "categories") read_categories(array);
      else read_annotations(array);
    }
    // Nothing may follow the top-level object but white space.
    // (current_location answers OUT_OF_BOUNDS exactly when the document is used up.)
    const char* rest = nullptr;
    if (doc_.current_location().get(rest) == simdjson::SUCCESS)
      syntax_failure(simdjson::TRAILING_CONTENT, {});
    auto missing = [&](bool seen, std::string_view key, std::string_view fix) {
      if (!seen)
        report_error(std::string(source_), fmt::format("the \"{}\" table is missing", key), std::string(fix));
    };
    missing(seen_images, "images", "add an \"images\" array with one entry per image: id, file_name, width, height");
    missing(seen_categories, "categories", "add a \"categories\" array with one entry per tag: id, name");
    missing(seen_annotations, "annotations",
            "add an \"annotations\" array (one entry per tag of an image, or per box); [] if there are none yet");
  }

  od::object entry_object(od::value& element, const json_where& at, bool& ok) {
    auto t = type_of(element, at);
    ok = t == od::json_type::object;
    if (!ok) {
      report_error(at.str(), fmt::format("each entry of \"{}\" must be an object, got {}", at.table, json_type_name(t)),
                      "write each entry as a JSON object {...}");
      return {};
    }
    return must(element.get_object(), at);
  }

  void read_images(od::array& array) {
    std::size_t index = 0;
    for (auto element_result : array) {
      const json_where at{"images", index++, {}};
      od::value element = must(std::move(element_result), at);
      bool ok = false;
      od::object object = entry_object(element, at, ok);
      coco_image& image = out_.images.emplace_back();
      if (!ok) continue;
      entry_scope scope(*this, &image.id, nullptr);
      bool has_id = false, has_width = false, has_height = false;
      for (auto field_result : object) {
        od::field field = must(std::move(field_result), at);
        auto key = field.key();
        od::value v = field.value();
        if (key == "id") {
          has_id = true;
          image.id = read_id(v, at("id"), "the image id");
        } else if (key == "file_name") {
          if (auto s = read_string(v, at("file_name"), "file_name", image.id)) image.file_name = std::move(*s);
        } else if (key == "absolute_url") {
          if (auto s = read_string(v, at("absolute_url"), "absolute_url", image.id)) image.url = std::move(*s);
        } else if (key == "coco_url") {
          if (auto s = read_string(v, at("coco_url"), "coco_url", image.id); s && image.url.empty())
            image.url = std::move(*s);
        } else if (key == "width" || key == "height") {
          bool is_width = key == "width";
          (is_width ? has_width : has_height) = true;
          auto what = is_width ? "width" : "height";
          if (auto i = read_integer(v, at(what), is_width ? "the image width" : "the image height", image.id)) {
            if (*i < 10 || *i > 10240) {
              report_error(at(what).str(), fmt::format("the image {} is {}, outside the supported range [10, 10240]", what, *i),
                              "resize the image to between 10 and 10240 pixels per side, or remove it", image.id);
            } else {
              (is_width ? image.width : image.height) = static_cast<int>(*i);
            }
          }
        }
      }
      if (!has_id)
        report_error(at("id").str(), "the image has no id", "give every image a unique positive integer \"id\"");
      if (require_sizes_ && !has_width)
        report_error(at("width").str(), "the image has no width", "add \"width\": the image width in pixels", image.id);
      if (require_sizes_ && !has_height)
        report_error(at("height").str(), "the image has no height", "add \"height\": the image height in pixels", image.id);
    }
  }

  void read_categories(od::array& array) {
    std::size_t index = 0;
    for (auto element_result : array) {
      const json_where at{"categories", index++, {}};
      od::value element = must(std::move(element_result), at);
      bool ok = false;
      od::object object = entry_object(element, at, ok);
      coco_category& category = out_.categories.emplace_back();
      if (!ok) continue;
      bool has_id = false, has_name = false;
      for (auto field_result : object) {
        od::field field = must(std::move(field_result), at);
        auto key = field.key();
        od::value v = field.value();
        if (key == "id") {
          has_id = true;
          category.id = read_id(v, at("id"), "the category id");
        } else if (key == "name") {
          has_name = true;
          if (auto s = read_string(v, at("name"), "the category name")) category.name = std::move(*s);
        } else if (key == "supercategory") {
          if (auto s = read_string(v, at("supercategory"), "supercategory")) category.supercategory = std::move(*s);
        }
      }
      if (!has_id) report_error(at("id").str(), "the category has no id", "give every category a unique positive integer \"id\"");
      if (!has_name || category.name.empty())
        report_error(at("name").str(), "the category has no name", "give every category a non-empty \"name\": the tag users will see");
    }
  }

  void read_bbox(od::value& v, coco_annotation& a, const json_where& at) {
    auto t = type_of(v, at("bbox"));
    if (t == od::json_type::null) return;  // "bbox": null is the same as no box
    if (t != od::json_type::array) {
      report_error(at("bbox").str(), fmt::format("bbox must be an array of 4 numbers [x, y, width, height], got {}", json_type_name(t)),
                      "write the box as [x, y, width, height]", a.image_id, a.id);
      a.box_state = box_status::unreadable;  // a box was meant: keeps the kind inference honest
      return;
    }
    od::array values = must(v.get_array(), at("bbox"));
    double numbers[4] = {0, 0, 0, 0};
    std::size_t count = 0;
    bool all_numbers = true;
    for (auto element_result : values) {
      od::value element = must(std::move(element_result), at("bbox"));
      double d = 0;
      auto et = type_of(element, at("bbox"));
      if (et != od::json_type::number || element.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) {
        all_numbers = false;
      } else if (count < 4) {
        numbers[count] = d;
      }
      ++count;
    }
    if (count != 4 || !all_numbers) {
      report_error(at("bbox").str(),
                      count != 4 ? fmt::format("bbox has {} values, not 4", count)
                                 : std::string("bbox values must be finite numbers"),
                      "write the box as [x, y, width, height] with 4 numbers", a.image_id, a.id);
      a.box_state = box_status::unreadable;
      return;
    }
    a.bbox = {numbers[0], numbers[1], numbers[2], numbers[3]};
    a.box_state = box_status::rejected;  // until check_boxes accepts it
  }

  void read_annotations(od::array& array) {
    std::size_t index = 0;
    for (auto element_result : array) {
      const json_where at{"annotations", index++, {}};
      od::value element = must(std::move(element_result), at);
      bool ok = false;
      od::object object = entry_object(element, at, ok);
      coco_annotation& a = out_.annotations.emplace_back();
      if (!ok) continue;
      entry_scope scope(*this, &a.image_id, &a.id);
      bool has_id = false, has_image = false, has_category = false, has_area = false;
      for (auto field_result : object) {
        od::field field = must(std::move(field_result), at);
        auto key = field.key();
        od::value v = field.value();
        if (key == "id") {
          has_id = true;
          a.id = read_id(v, at("id"), "the annotation id");
        } else if (key == "image_id") {
          has_image = true;
          a.image_id = read_id(v, at("image_id"), "image_id", {}, a.id);
        } else if (key == "category_id") {
          has_category = true;
          a.category_id = read_id(v, at("category_id"), "category_id", {}, a.id);
        } else if (key == "bbox") {
          read_bbox(v, a, at);
        } else if (key == "iscrowd") {
          auto t = type_of(v, at("iscrowd"));
          bool flag = false;
          std::int64_t i = 0;
          if (t == od::json_type::boolean && v.get_bool().get(flag) == simdjson::SUCCESS) {
            a.iscrowd = flag;
          } else if (t == od::json_type::number && v.get_int64().get(i) == simdjson::SUCCESS && (i == 0 || i == 1)) {
            a.iscrowd = i == 1;
          } else {
            report_error(at("iscrowd").str(), "iscrowd must be 0 or 1", "write \"iscrowd\": 0 (or 1 for a crowd region)",
                            a.image_id, a.id);
          }
        } else if (key == "area") {
          double d = 0;
          if (type_of(v, at("area")) == od::json_type::number && v.get_double().get(d) == simdjson::SUCCESS &&
              std::isfinite(d) && d >= 0) {
            a.area = d;
            has_area = true;
          } else {
            report_error(at("area").str(), "area must be a non-negative number", "write the area in square pixels, or leave it out",
                            a.image_id, a.id);
          }
        }
      }
      if (!has_id) report_error(at("id").str(), "the annotation has no id", "give every annotation a unique positive integer \"id\"");
      if (!has_image)
        report_error(at("image_id").str(), "the annotation has no image_id", "add \"image_id\": the id of the image it belongs to",
                        {}, a.id);
      if (!has_category)
        report_error(at("category_id").str(), "the annotation has no category_id",
                        "add \"category_id\": the id of its category", a.image_id, a.id);
      if (!has_area) a.area = -1;  // filled in from the box once units are known
    }
  }
};

}  // namespace detail

}  // namespace tailor::data
