#pragma once
// Weights in and out of .safetensors files, by name: anything that shows its tensors through
// visit_parameters(prefix, f(name, parameter<B>&)) and, optionally, visit_buffers(prefix,
// f(name, B::array&, buffer_kind)) — a backbone, a linear head, a backbone with its head
// (with_head below) — loads from and saves to the names torchvision uses, so a torchvision
// state_dict written with safetensors.torch.save_file loads as it is (docs/weights.md).
//
//   load_weights(net, "resnet18.safetensors");                          // everything must match
//   load_weights(net, file, {.skip_prefixes = {"fc"}});                  // fine-tune: new head
//   load_weights(net, file, {.strict = false});                          // load what matches
//   load_weights(net, file, {.rename = [](std::string_view n) { ... }}); // other naming schemes
//   save_weights(net, "out.safetensors", {{"classes", "cat,dog"}});
//
// A file that does not fit raises ONE error{invalid_argument} that lists every name missing from
// the file, every name the model does not have and every shape that differs (each list capped,
// with its count), with a hint at the likely cause (a head for another class count, another
// width, timm's names, a "module." prefix) and what to do. Nothing is changed unless the load
// succeeds. Parameters and running statistics are saved in the backend's type (F32 for
// backend::cpu), batch-norm counters (num_batches_tracked) as I64, as torch keeps them.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "../core/error.hpp"
#include "parameter.hpp"
#include "safetensors.hpp"

namespace tailor::nn {

struct load_options {
  // Every tensor of the model must be in the file with its shape, and every tensor of the file
  // must be used. With strict = false the tensors that match by name and shape are loaded and the
  // rest are listed in the load_report (it is still an error when nothing at all matches).
  bool strict = true;
  // Names equal to one of these or below it ("fc" covers "fc.weight" and "fc.bias", not
  // "fcx.weight") are neither loaded nor required, on the model's side and the file's side.
  std::vector<std::string> skip_prefixes;
  // Maps a name in the file to the model's name for it (e.g. timm's to torchvision's); an empty
  // result leaves that tensor of the file out. Skip prefixes apply to the mapped names.
  std::function<std::string(std::string_view)> rename;
  // Load the buffers (batch-norm running statistics and counters) too.
  bool buffers = true;
  // A 1x1 convolution's weight in the file, [out, in, 1, 1], fills a linear layer's [out, in]
  // (the same numbers in the same order): timm's MobileNetV3 conv_head as torchvision's classifier.0.
  bool pointwise_as_linear = false;
};

// One tensor whose name matches but whose shape or dtype cannot go where that name points.
struct weights_mismatch {
  std::string name;  // the model's name
  std::vector<std::size_t> file_shape, model_shape;
  tensor_dtype file_dtype = tensor_dtype::f32;
  std::string reason;  // "shape" or what is wrong with the dtype
};

struct load_report {
  std::string source;
  std::vector<std::string> loaded;      // the model's names that were filled
  std::vector<std::string> missing;     // the model's names the file does not have
  std::vector<std::string> unexpected;  // the file's names the model does not have ("name -> mapped" when renamed)
  std::vector<std::string> skipped;     // names left out by skip_prefixes, rename or buffers = false
  std::vector<weights_mismatch> mismatched;
  bool complete() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

// A backbone and its head seen as one model: the head's tensors under head_name ("fc",
// "classifier.3", ...; see each backbone tag's head_name), as in torchvision's state_dict.
template <class Backbone, class Head>
struct backbone_with_head {
  Backbone& backbone;
  Head& head;
  std::string head_name;

  template <class F>
  void visit_parameters(const std::string& prefix, F&& f) {
    backbone.visit_parameters(prefix, f);
    head.visit_parameters(join_name(prefix, head_name), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    if constexpr (requires { backbone.visit_buffers(prefix, f); }) backbone.visit_buffers(prefix, f);
    if constexpr (requires { head.visit_buffers(prefix, f); }) head.visit_buffers(join_name(prefix, head_name), f);
  }
};

template <class Backbone, class Head>
backbone_with_head<Backbone, Head> with_head(Backbone& backbone, Head& head, std::string_view head_name) {
  return {backbone, head, std::string(head_name)};
}

namespace detail {

enum class slot_kind { parameter, statistic, counter };

// One tensor of a model, type-erased: its name, shape, and how to fill it from / copy it to a file.
struct weight_slot {
  std::string name;
  slot_kind kind = slot_kind::parameter;
  std::vector<std::size_t> shape;
  std::function<void(const safetensor&)> assign;
  std::function<safetensor()> read;
};

template <class Array>
weight_slot make_slot(const std::string& name, Array& a, slot_kind kind) {
  using T = typename Array::value_type;
  weight_slot s;
  s.name = name;
  s.kind = kind;
  s.shape.assign(a.shape().begin(), a.shape().end());
  s.assign = [&a](const safetensor& t) {
    const auto v = t.values<T>();
    std::copy(v.begin(), v.end(), a.data());
  };
  s.read = [&a, kind, shape = s.shape] {
    const std::span<const T> data(a.data(), a.size());
    return safetensor::from_values(data, shape, kind == slot_kind::counter ? tensor_dtype::i64 : dtype_of<T>());
  };
  return s;
}

template <class M>
std::vector<weight_slot> weight_slots(M& model, std::string_view what) {
  std::vector<weight_slot> slots;
  model.visit_parameters(std::string(), [&](const std::string& name, auto& p) {
    slots.push_back(make_slot(name, p.value, slot_kind::parameter));
  });
  if constexpr (requires { model.visit_buffers(std::string(), [](const std::string&, auto&, buffer_kind) {}); })
    model.visit_buffers(std::string(), [&](const std::string& name, auto& a, buffer_kind k) {
      slots.push_back(make_slot(name, a, k == buffer_kind::counter ? slot_kind::counter : slot_kind::statistic));
    });
  std::set<std::string_view> names;
  for (const auto& s : slots)
    if (!names.insert(s.name).second)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: the model shows two tensors named \"{}\"; give its parts distinct prefixes (e.g. "
                              "with_head(backbone, head, \"fc\"))",
                              what, s.name));
  return slots;
}

inline bool under_prefix(std::string_view name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (name == p) return true;
    if (name.starts_with(p) && (p.ends_with('.') || name[p.size()] == '.')) return true;
  }
  return false;
}

// The longest run of leading dotted components shared by all names ("" when none).
inline std::string common_parent(const std::vector<std::string>& names) {
  if (names.empty()) return {};
  std::string_view common = names.front();
  for (const auto& n : names) {
    std::size_t i = 0;
    while (i < common.size() && i < n.size() && common[i] == n[i]) ++i;
    common = common.substr(0, i);
  }
  // Cut back to a whole component that is a proper parent of every name.
  for (;;) {
    const bool whole = std::all_of(names.begin(), names.end(), [&](const std::string& n) {
      return n.size() > common.size() && n[common.size()] == '.';
    });
    if (whole || common.empty()) break;
    const auto dot = common.rfind('.');
    common = dot == std::string_view::npos ? std::string_view() : common.substr(0, dot);
  }
  return std::string(common);
}

inline std::string shape_text(const std::vector<std::size_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

inline void list_names(std::string& out, std::string_view title, const std::vector<std::string>& names, std::size_t cap) {
  if (names.empty()) return;
  out += fmt::format("\n  {} ({}):", title, names.size());
  for (std::size_t i = 0; i < names.size() && i < cap; ++i) out += fmt::format("\n    {}", names[i]);
  if (names.size() > cap) out += fmt::format("\n    ... and {} more", names.size() - cap);
}

inline std::string mismatch_text(const weights_mismatch& m) {
  if (m.reason == "shape") return fmt::format("{}: file {}, model {}", m.name, shape_text(m.file_shape), shape_text(m.model_shape));
  return fmt::format("{}: {}", m.name, m.reason);
}

// What the pattern of differences suggests, in words a user can act on.
inline std::vector<std::string> weights_hints(const load_report& r, std::size_t model_tensors) {
  std::vector<std::string> hints;
  const std::set<std::string> missing(r.missing.begin(), r.missing.end());
  // The file's names are the model's with something in front ("module.", "model.", "backbone.").
  auto prefix_hint = [&](const std::vector<std::string>& longer, const std::set<std::string>& shorter, bool file_longer) {
    if (longer.empty() || shorter.empty()) return false;
    for (const auto& s : shorter) {
      const std::string& l = longer.front();
      if (l.size() <= s.size() + 1 || !l.ends_with(s) || l[l.size() - s.size() - 1] != '.') continue;
      const std::string prefix = l.substr(0, l.size() - s.size());
      std::size_t fits = 0;
      for (const auto& n : longer) fits += n.starts_with(prefix) && shorter.contains(n.substr(prefix.size()));
      if (fits * 2 < longer.size()) continue;
      hints.push_back(file_longer
                          ? fmt::format("{} of the file's names are the model's with \"{}\" in front (saved from a wrapper such "
                                        "as DataParallel or a larger model?): strip it with load_options.rename",
                                        fits, prefix)
                          : fmt::format("{} of the model's names are the file's with \"{}\" in front: add it with "
                                        "load_options.rename, or load into that part of the model alone",
                                        fits, prefix));
      return true;
    }
    return false;
  };
  std::vector<std::string> unexpected_names;
  for (const auto& u : r.unexpected) {  // "file name -> mapped name" when renamed: the mapped one
    const auto arrow = u.find(" -> ");
    unexpected_names.push_back(arrow == std::string::npos ? u : u.substr(arrow + 4));
  }
  const std::set<std::string> unexpected_set(unexpected_names.begin(), unexpected_names.end());
  if (!prefix_hint(unexpected_names, missing, true)) prefix_hint(r.missing, unexpected_set, false);

  const bool timm = std::any_of(unexpected_names.begin(), unexpected_names.end(), [](const std::string& n) {
    return n.starts_with("conv_stem.") || n.starts_with("blocks.") || n.starts_with("conv_head.");
  });
  if (timm)
    hints.push_back("the file's names (conv_stem, blocks.N.M, conv_head) look like timm's MobileNetV3: build the backbone "
                    "with backbone_options.convention = weights_convention::timm and load with "
                    "timm_mobilenet_v3_load_options(size) (nn/backbones/mobilenet_v3_timm.hpp, docs/weights.md)");

  std::vector<std::string> mismatched_names;
  for (const auto& m : r.mismatched) mismatched_names.push_back(m.name);
  const std::string mismatch_parent = common_parent(mismatched_names);
  if (!r.mismatched.empty() && !mismatch_parent.empty() && r.missing.empty() && r.unexpected.empty()) {
    const auto& m = r.mismatched.front();
    const bool classes = m.reason == "shape" && !m.file_shape.empty() && !m.model_shape.empty() &&
                         m.file_shape.size() == m.model_shape.size() &&
                         std::equal(m.file_shape.begin() + 1, m.file_shape.end(), m.model_shape.begin() + 1);
    if (classes)
      hints.push_back(fmt::format("only \"{}\" differs ({} outputs in the file, {} in the model): a head for another number of "
                                  "classes? To fine-tune, leave it out with load_options.skip_prefixes = {{\"{}\"}} (or "
                                  "strict = false) and train the new head",
                                  mismatch_parent, m.file_shape[0], m.model_shape[0], mismatch_parent));
    else
      hints.push_back(fmt::format("only \"{}\" differs: leave it out with load_options.skip_prefixes = {{\"{}\"}} (or "
                                  "strict = false) and train it from scratch",
                                  mismatch_parent, mismatch_parent));
  } else if (r.mismatched.size() > 2) {
    // Many shapes differ under matching names: another width. Compare the leading (output channel) dims.
    std::map<double, std::size_t> ratios;
    for (const auto& m : r.mismatched)
      if (m.reason == "shape" && !m.file_shape.empty() && !m.model_shape.empty() && m.model_shape[0] > 0)
        ++ratios[double(m.file_shape[0]) / double(m.model_shape[0])];
    const auto best = std::max_element(ratios.begin(), ratios.end(), [](auto& a, auto& b) { return a.second < b.second; });
    hints.push_back(fmt::format("{} tensors have the names the model expects but other shapes{}: the file was saved from "
                                "another width or variant; build the model the way the file's was built (e.g. "
                                "backbone_options.width)",
                                r.mismatched.size(),
                                best != ratios.end() && best->first != 1.0
                                    ? fmt::format(" (most have {:g}x the model's channels)", best->first)
                                    : std::string()));
  }

  const std::string missing_parent = common_parent(r.missing);
  if (!r.missing.empty() && r.unexpected.empty() && !missing_parent.empty() && r.missing.size() < model_tensors)
    hints.push_back(fmt::format("the file has nothing under \"{}\" (saved without its head, or from a shallower variant?): "
                                "leave it out with load_options.skip_prefixes = {{\"{}\"}} or strict = false",
                                missing_parent, missing_parent));
  const std::string unexpected_parent = common_parent(unexpected_names);
  if (!r.unexpected.empty() && r.missing.empty() && !unexpected_parent.empty())
    hints.push_back(fmt::format("the file has \"{}\", which the model does not (a head the model has not got?): leave it out "
                                "with load_options.skip_prefixes = {{\"{}\"}} or strict = false",
                                unexpected_parent, unexpected_parent));
  if (!r.missing.empty() && !r.unexpected.empty() && hints.empty())
    hints.push_back("the names differ: the file may be another architecture or depth (e.g. resnet34 against resnet18), or "
                    "use another naming scheme (map it with load_options.rename)");
  return hints;
}

}  // namespace detail

// Loads `file` into `model`. See load_options; returns what was loaded and left out.
template <class M>
load_report load_weights(M&& model, const safetensors_file& file, const load_options& options = {}) {
  constexpr std::size_t cap = 12;
  for (const auto& p : options.skip_prefixes)
    if (p.empty() || p == ".")
      throw error(failure_code::invalid_argument,
                  "load_weights: an empty skip prefix would skip everything; name the part to leave out (e.g. \"fc\")");
  auto slots = detail::weight_slots(model, file.source);
  load_report report;
  report.source = file.source;
  std::set<std::string> skipped;

  // The file's tensors under the model's names.
  std::map<std::string, std::pair<const std::string*, const safetensor*>, std::less<>> by_name;
  for (const auto& [name, t] : file.tensors) {
    std::string mapped = options.rename ? options.rename(name) : name;
    if (mapped.empty() || detail::under_prefix(mapped, options.skip_prefixes)) {
      skipped.insert(name);
      continue;
    }
    auto [it, inserted] = by_name.try_emplace(mapped, &name, &t);
    if (!inserted)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: load_options.rename maps both \"{}\" and \"{}\" to \"{}\"; map each tensor of the file "
                              "to a different name (or to \"\" to leave it out)",
                              file.source, *it->second.first, name, mapped));
  }

  std::vector<std::pair<const detail::weight_slot*, const safetensor*>> plan;
  std::set<std::string_view> used;
  for (const auto& s : slots) {
    if ((!options.buffers && s.kind != detail::slot_kind::parameter) || detail::under_prefix(s.name, options.skip_prefixes)) {
      skipped.insert(s.name);
      if (auto it = by_name.find(s.name); it != by_name.end()) used.insert(it->first);
      continue;
    }
    auto it = by_name.find(s.name);
    if (it == by_name.end()) {
      report.missing.push_back(s.name);
      continue;
    }
    used.insert(it->first);
    const safetensor& t = *it->second.second;
    std::string bad_dtype;
    if (t.dtype == tensor_dtype::boolean || (s.kind != detail::slot_kind::counter && !is_floating(t.dtype)))
      bad_dtype = fmt::format("the file holds {} {}, a {} needs floating-point values (convert it with tensor.float())",
                              to_string(t.dtype), detail::shape_text(t.shape),
                              s.kind == detail::slot_kind::parameter ? "parameter" : "running statistic");
    const bool fits = t.shape == s.shape || (options.pointwise_as_linear && s.shape.size() == 2 && t.shape.size() == 4 &&
                                             t.shape[0] == s.shape[0] && t.shape[1] == s.shape[1] && t.shape[2] == 1 &&
                                             t.shape[3] == 1);
    if (!fits || !bad_dtype.empty()) {
      report.mismatched.push_back({s.name, t.shape, s.shape, t.dtype, !fits ? std::string("shape") : bad_dtype});
      continue;
    }
    plan.emplace_back(&s, &t);
  }
  for (const auto& [mapped, entry] : by_name)
    if (!used.contains(mapped))
      report.unexpected.push_back(*entry.first == mapped ? mapped : fmt::format("{} -> {}", *entry.first, mapped));
  report.skipped.assign(skipped.begin(), skipped.end());

  const bool nothing = plan.empty() && !slots.empty();
  if ((options.strict && !report.complete()) || nothing) {
    std::vector<std::string> mismatches;
    for (const auto& m : report.mismatched) mismatches.push_back(detail::mismatch_text(m));
    std::vector<std::string> parts;
    if (!report.missing.empty())
      parts.push_back(fmt::format("{} of the model's {} tensors are missing from the file", report.missing.size(), slots.size()));
    if (!report.unexpected.empty())
      parts.push_back(fmt::format("{} of the file's {} tensors are not in the model", report.unexpected.size(), file.tensors.size()));
    if (!report.mismatched.empty()) parts.push_back(fmt::format("{} have another shape or type", report.mismatched.size()));
    std::string message = fmt::format("{}: the weights do not fit the model{}: {}.", file.source,
                                      nothing ? " (no tensor matches)" : "", fmt::join(parts, "; "));
    detail::list_names(message, "missing from the file", report.missing, cap);
    detail::list_names(message, "in the file, not in the model", report.unexpected, cap);
    detail::list_names(message, "shape or type differs", mismatches, cap);
    for (const auto& h : detail::weights_hints(report, slots.size())) message += fmt::format("\n  hint: {}", h);
    message += "\nWhat to do: load the file a model of the same architecture, width and head wrote (names as in "
               "torchvision's state_dict), or pass load_options: strict = false loads the tensors that match and reports "
               "the rest; skip_prefixes leaves parts out (the head when the number of classes differs); rename maps "
               "another naming scheme. See docs/weights.md.";
    throw error(failure_code::invalid_argument, message);
  }
  for (const auto& [s, t] : plan) {
    s->assign(*t);
    report.loaded.push_back(s->name);
  }
  return report;
}

template <class M>
load_report load_weights(M&& model, const std::filesystem::path& path, const load_options& options = {}) {
  return load_weights(std::forward<M>(model), read_safetensors(path), options);
}
template <class M>
load_report load_weights(M&& model, const char* path, const load_options& options = {}) {
  return load_weights(std::forward<M>(model), std::filesystem::path(path), options);
}
template <class M>
load_report load_weights(M&& model, const std::string& path, const load_options& options = {}) {
  return load_weights(std::forward<M>(model), std::filesystem::path(path), options);
}

// The model's tensors by name, as save_weights writes them.
template <class M>
safetensors_map to_safetensors(M&& model) {
  safetensors_map out;
  for (const auto& s : detail::weight_slots(model, "to_safetensors")) out.emplace(s.name, s.read());
  return out;
}

// Writes the model's parameters and buffers to a .safetensors file, atomically. `metadata` goes
// to the header's "__metadata__"; "format": "pt" is added unless given (what torch-side loaders
// such as transformers expect).
template <class M>
void save_weights(M&& model, const std::filesystem::path& path, safetensors_metadata metadata = {}) {
  metadata.try_emplace("format", "pt");
  write_safetensors(path, to_safetensors(model), metadata);
}

}  // namespace tailor::nn
