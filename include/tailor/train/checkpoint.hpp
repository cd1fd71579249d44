#pragma once
// One checkpoint file per run: the model's weights and buffers, the optimizer's state, the
// counters (epoch, step) and the configuration it was made with — a .safetensors file written
// atomically, so a kill during the write leaves the previous checkpoint intact. Resuming refuses a
// checkpoint made with a different configuration (resume and fine-tune-from-weights are separate:
// use nn::load_weights for the latter). Batches depend only on (seed, epoch, index) and dropout is
// re-seeded from the step, so a resumed run continues exactly as the uninterrupted one would.
//
//   names: "model.<parameter or buffer>", "optimizer.<parameter>.<state>"
//   metadata: format = tailor.checkpoint/1, epoch (last completed), steps, first_loss, config
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "../core/error.hpp"
#include "../nn/parameter.hpp"
#include "../nn/safetensors.hpp"

namespace tailor::train {

inline constexpr std::string_view checkpoint_format = "tailor.checkpoint/1";

struct checkpoint_info {
  std::int64_t epoch = -1;  // the last completed epoch
  std::int64_t steps = 0;
  double first_loss = 0;
  std::string config;
};

template <class Net, class Trainer>
void save_checkpoint(const std::filesystem::path& file, Net& net, Trainer& trainer, const checkpoint_info& info) {
  nn::safetensors_map tensors;
  auto add = [&](const std::string& name, const auto& a, nn::tensor_dtype as) {
    std::vector<std::size_t> shape(a.shape().begin(), a.shape().end());
    using V = typename std::decay_t<decltype(a)>::value_type;
    tensors.emplace(name, nn::safetensor::from_values(std::span<const V>(a.data(), a.size()), shape, as));
  };
  using T = typename Net::backend::value_type;
  net.visit_parameters("", [&](const std::string& n, auto& p) { add("model." + n, p.value, nn::dtype_of<T>()); });
  net.visit_buffers("", [&](const std::string& n, auto& a, nn::buffer_kind k) {
    add("model." + n, a, k == nn::buffer_kind::counter ? nn::tensor_dtype::i64 : nn::dtype_of<T>());
  });
  trainer.visit_optimizer_state([&](const std::string& n, auto& a) { add("optimizer." + n, a, nn::dtype_of<T>()); });
  nn::safetensors_metadata meta{{"format", std::string(checkpoint_format)},
                                {"epoch", std::to_string(info.epoch)},
                                {"steps", std::to_string(info.steps)},
                                {"first_loss", fmt::format("{:.17g}", info.first_loss)},
                                {"config", info.config}};
  nn::write_safetensors(file, tensors, meta);
}

// Restores net and trainer from `file`; throws invalid_argument naming the file when it is not a
// checkpoint, was made with another configuration, or does not fit the network.
template <class Net, class Trainer>
checkpoint_info load_checkpoint(const std::filesystem::path& file, Net& net, Trainer& trainer, const std::string& config) {
  const auto f = nn::read_safetensors(file);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = f.metadata.find(key);
    if (it == f.metadata.end())
      throw error(failure_code::invalid_argument,
                  fmt::format("{} is not a tailor checkpoint (no \"{}\" in its metadata); to start from weights alone, "
                              "load them with load_weights instead of resuming",
                              file, key));
    return it->second;
  };
  if (meta("format") != checkpoint_format)
    throw error(failure_code::invalid_argument, fmt::format("{}: checkpoint format '{}', this version reads '{}'", file,
                                                            meta("format"), checkpoint_format));
  if (meta("config") != config)
    throw error(failure_code::invalid_argument,
                fmt::format("{} was made with another configuration, so the run cannot be resumed: it has\n  {}\nand this "
                            "run has\n  {}\nresume with the same options, or start a new run",
                            file, meta("config"), config));
  checkpoint_info info;
  info.epoch = std::stoll(meta("epoch"));
  info.steps = std::stoll(meta("steps"));
  info.first_loss = std::stod(meta("first_loss"));
  info.config = config;

  auto fill = [&](const std::string& name, auto& a) {
    const auto& t = f.at(name);
    const std::vector<std::size_t> want(a.shape().begin(), a.shape().end());
    if (t.shape != want)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: tensor \"{}\" has shape [{}], the network expects [{}]", file, name,
                              fmt::join(t.shape, ", "), fmt::join(want, ", ")));
    const auto v = t.template values<typename std::decay_t<decltype(a)>::value_type>();
    std::copy(v.begin(), v.end(), a.begin());
  };
  net.visit_parameters("", [&](const std::string& n, auto& p) { fill("model." + n, p.value); });
  net.visit_buffers("", [&](const std::string& n, auto& a, nn::buffer_kind) { fill("model." + n, a); });
  for (const auto& [name, t] : f.tensors) {
    if (!name.starts_with("optimizer.")) continue;
    auto* slot = trainer.optimizer_state_slot(name.substr(10), t.shape, info.steps);
    if (!slot)
      throw error(failure_code::invalid_argument,
                  fmt::format("{}: optimizer state \"{}\" does not belong to this run's optimizer", file, name));
    fill(name, *slot);
  }
  trainer.restore_counters(info.steps, info.first_loss);
  return info;
}

}  // namespace tailor::train
