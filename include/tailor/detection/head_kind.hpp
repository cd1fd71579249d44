#pragma once
// Which head a detector was trained with, as a Model records it (architecture.head): the network
// is the same, the targets, the loss and the decoding differ. docs/detection.md, "FCOS or
// CenterNet", gives the measurement that made the CenterNet-style head the default; models saved
// before it have no such field and are FCOS models.
#include <optional>
#include <string_view>

namespace tailor::detection {

enum class head_kind { fcos, centernet };

constexpr std::string_view to_string(head_kind h) noexcept { return h == head_kind::centernet ? "centernet" : "fcos"; }

// The pyramid levels that have a head (detector_options::head_levels): FCOS predicts on all three,
// the CenterNet-style head on the stride-8 level alone.
constexpr int head_levels_of(head_kind h) noexcept { return h == head_kind::centernet ? 1 : 3; }

constexpr std::optional<head_kind> parse_head_kind(std::string_view s) noexcept {
  if (s == "fcos") return head_kind::fcos;
  if (s == "centernet") return head_kind::centernet;
  return std::nullopt;
}

}  // namespace tailor::detection
