#pragma once
// The typed failures of the whole library, in one place.
//
// Every failure a user can meet is a tailor::error carrying a failure_code (what kind of failure,
// stable and machine-readable, as the hosted service reported them), a message that says what to
// do, and, for dataset problems, the full list of problems found (capped, with the total count).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tailor {

enum class failure_code {
  training_diverged,   // training produced non-finite or exploding losses
  budget_not_enough,   // the compute budget cannot buy the cheapest useful run
  dataset_corrupt,     // the association file or its images have defects (see problems)
  dataset_not_found,   // no such dataset in the workspace, or its files are gone
  invalid_argument,    // a name, an option or a value given by the caller is not acceptable
  already_exists,      // an object of that name is already in the workspace
  invalid_image,       // an image file cannot be decoded (corrupt, truncated, unsupported, too large)
  io_error,            // the file system refused a read or a write
  unknown,             // anything else: a bug or an unexpected system condition
};

constexpr std::string_view to_string(failure_code code) noexcept {
  switch (code) {
    case failure_code::training_diverged: return "training_diverged";
    case failure_code::budget_not_enough: return "budget_not_enough";
    case failure_code::dataset_corrupt: return "dataset_corrupt";
    case failure_code::dataset_not_found: return "dataset_not_found";
    case failure_code::invalid_argument: return "invalid_argument";
    case failure_code::already_exists: return "already_exists";
    case failure_code::invalid_image: return "invalid_image";
    case failure_code::io_error: return "io_error";
    case failure_code::unknown: return "unknown";
  }
  return "unknown";
}

// The code a name stands for (to_string's inverse), as stored in Model objects; nullopt for a name
// no code has.
constexpr std::optional<failure_code> parse_failure_code(std::string_view name) noexcept {
  for (auto c : {failure_code::training_diverged, failure_code::budget_not_enough, failure_code::dataset_corrupt,
                 failure_code::dataset_not_found, failure_code::invalid_argument, failure_code::already_exists,
                 failure_code::invalid_image, failure_code::io_error, failure_code::unknown})
    if (to_string(c) == name) return c;
  return std::nullopt;
}

enum class severity { error, warning };

constexpr std::string_view to_string(severity s) noexcept { return s == severity::error ? "error" : "warning"; }

// One defect found in an input, with where it is and what to do about it.
struct problem {
  severity level = severity::error;
  std::string where;                      // JSON path ("annotations[12].bbox") or file name
  std::optional<std::int64_t> image_id;   // the image it concerns, when known
  std::optional<std::int64_t> annotation_id;
  std::string message;                    // what is wrong
  std::string fix;                        // what to do
};

// A bounded list of problems: keeps the first `capacity` of each severity and counts them all,
// so a file with a million bad boxes neither floods the user nor exhausts memory.
class problem_list {
 public:
  explicit problem_list(std::size_t capacity = 50) : capacity_(capacity) {}

  void add(problem p) {
    auto& total = p.level == severity::error ? errors_ : warnings_;
    auto kept = static_cast<std::size_t>(std::count_if(items_.begin(), items_.end(),
                                                       [&](const problem& q) { return q.level == p.level; }));
    ++total;
    if (kept < capacity_) items_.push_back(std::move(p));
  }
  void error(std::string where, std::string message, std::string fix, std::optional<std::int64_t> image_id = {},
             std::optional<std::int64_t> annotation_id = {}) {
    add({severity::error, std::move(where), image_id, annotation_id, std::move(message), std::move(fix)});
  }
  void warning(std::string where, std::string message, std::string fix, std::optional<std::int64_t> image_id = {},
               std::optional<std::int64_t> annotation_id = {}) {
    add({severity::warning, std::move(where), image_id, annotation_id, std::move(message), std::move(fix)});
  }

  const std::vector<problem>& items() const noexcept { return items_; }
  std::size_t error_count() const noexcept { return errors_; }
  std::size_t warning_count() const noexcept { return warnings_; }
  bool has_errors() const noexcept { return errors_ > 0; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::size_t capacity_;
  std::size_t errors_ = 0;
  std::size_t warnings_ = 0;
  std::vector<problem> items_;
};

class error : public std::runtime_error {
 public:
  error(failure_code code, const std::string& message, problem_list problems = problem_list{})
      : std::runtime_error(message), code_(code), problems_(std::move(problems)) {}

  failure_code code() const noexcept { return code_; }
  // The problems behind a dataset_corrupt failure (empty for the other codes).
  const problem_list& problems() const noexcept { return problems_; }

 private:
  failure_code code_;
  problem_list problems_;
};

}  // namespace tailor
