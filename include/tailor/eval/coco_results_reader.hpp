#pragma once
// One reader for the two COCO results files: detection `[{image_id, category_id, bbox, score}]`
// and classification `[{image_id, category_id, score}]`. The array, the ids, the score, missing
// fields, malformed JSON and anything after the array are handled here, with one wording of the
// errors; each kind adds its own fields (bbox) through a callback.
#include <simdjson.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "../core/error.hpp"

namespace tailor::eval::results_detail {

// Where the JSON array opening at json[open] ends (one past its ']'), skipping strings; nullopt
// when it is not closed. Only used to explain a malformed results file.
inline std::optional<std::size_t> json_array_end(std::string_view json, std::size_t open) {
  std::size_t depth = 0;
  for (std::size_t i = open; i < json.size(); ++i) {
    const char ch = json[i];
    if (ch == '"') {
      for (++i; i < json.size() && json[i] != '"'; ++i)
        if (json[i] == '\\') ++i;
    } else if (ch == '[' || ch == '{') {
      ++depth;
    } else if (ch == ']' || ch == '}') {
      if (depth == 0) return std::nullopt;
      if (--depth == 0) return i + 1;
    }
  }
  return std::nullopt;
}

// The fields every results entry has.
struct result_entry {
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  double score = 0;
};

// Builds the error for entry `index` of the file `name`: "results.json[3]: score is missing".
struct entry_error {
  std::string_view name;
  std::size_t index;
  error operator()(std::string_view what) const {
    return error(failure_code::invalid_argument, fmt::format("{}[{}]: {}", name, index, what));
  }
};

// Walks the results array of `json` (`name` names it in messages; `shape` says what an entry
// holds, for the message when the root is not an array). For each other key of an entry,
// `extra(key, value, fail)` reads it (or ignores it); after the entry, `entry(common, fail)`
// takes it. Throws error{invalid_argument} naming the entry for a missing or malformed id or
// score (non-finite included), and naming the byte offset for anything but white space after the
// array. Ids may be integral floats such as 42.0, as pycocotools takes them.
template <class ExtraField, class TakeEntry>
void read_results_array(std::string_view json, std::string_view name, std::string_view shape, ExtraField&& extra,
                        TakeEntry&& entry) {
  namespace od = simdjson::ondemand;
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  std::size_t index = 0;
  auto fail = [&](std::string_view what) { return entry_error{name, index}(what); };
  auto read_id = [&](od::value v, std::string_view key) -> std::int64_t {
    std::int64_t id = 0;
    if (v.get_int64().get(id) == simdjson::SUCCESS) return id;
    double d = 0;
    if (v.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<std::int64_t>(d);
    throw fail(fmt::format("{} must be an integer", key));
  };
  try {
    if (parser.iterate(padded).get(doc) != simdjson::SUCCESS)
      throw error(failure_code::invalid_argument, fmt::format("{}: not JSON", name));
    od::array entries;
    if (auto e = doc.get_array().get(entries); e != simdjson::SUCCESS) {
      const std::size_t first = json.find_first_not_of(" \t\r\n");
      if (first == std::string_view::npos || json[first] != '[')
        throw error(failure_code::invalid_argument, fmt::format("{}: COCO results must be a JSON array of {}", name, shape));
      // simdjson refuses a root array whose document does not end with ']': say why.
      if (const auto end = json_array_end(json, first); end && json.find_first_not_of(" \t\r\n", *end) != std::string_view::npos)
        throw error(failure_code::invalid_argument,
                    fmt::format("{}: unexpected content after the results array, at byte offset {}", name,
                                json.find_first_not_of(" \t\r\n", *end)));
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: malformed JSON, the results array is not closed ({})", name, simdjson::error_message(e)));
    }
    for (auto entry_result : entries) {
      od::object obj;
      if (entry_result.get_object().get(obj) != simdjson::SUCCESS) throw fail("each entry must be an object");
      result_entry common;
      bool has_image = false, has_category = false, has_score = false;
      for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) throw fail("unreadable key");
        od::value v;
        if (field.value().get(v) != simdjson::SUCCESS) throw fail(fmt::format("unreadable value of {}", key));
        if (key == "image_id") {
          common.image_id = read_id(v, key);
          has_image = true;
        } else if (key == "category_id") {
          common.category_id = read_id(v, key);
          has_category = true;
        } else if (key == "score") {
          if (v.get_double().get(common.score) != simdjson::SUCCESS || !std::isfinite(common.score))
            throw fail("score must be a finite number");
          has_score = true;
        } else {
          extra(key, v, entry_error{name, index});
        }
      }
      if (!has_image) throw fail("image_id is missing");
      if (!has_category) throw fail("category_id is missing");
      if (!has_score) throw fail("score is missing");
      entry(common, entry_error{name, index});
      ++index;
    }
    // Nothing may follow the array but white space (simdjson only reads as far as it is asked).
    // current_location() is OUT_OF_BOUNDS at the end of the document, else where the rest begins.
    if (const char* rest = nullptr; doc.current_location().get(rest) == simdjson::SUCCESS && rest != nullptr)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: unexpected content after the results array, at byte offset {}", name,
                              static_cast<std::size_t>(rest - padded.data())));
  } catch (const simdjson::simdjson_error& e) {
    throw fail(fmt::format("malformed JSON ({})", e.what()));
  }
}

}  // namespace tailor::eval::results_detail
