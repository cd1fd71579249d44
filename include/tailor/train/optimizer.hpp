#pragma once
// Optimizers over any network that shows its parameters by name (visit_parameters): SGD with
// momentum / Nesterov and AdamW, as torch.optim defines them. Weight decay applies only to
// parameters with decay = true (not to norms and biases); frozen parameters are skipped. State is
// kept per parameter name, so it can be checkpointed and resumed.
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

#include "../nn/concepts.hpp"
#include "../nn/parameter.hpp"

namespace tailor::train {

template <class Net, class F>
void for_each_trainable(Net& net, F&& f) {
  net.visit_parameters("", [&](const std::string& name, auto& p) {
    if (!p.frozen) f(name, p);
  });
}

template <class Net>
void zero_grad(Net& net) {
  net.visit_parameters("", [](const std::string&, auto& p) { p.zero_grad(); });
}

// Scales all gradients so that their global L2 norm is at most max_norm (torch's
// clip_grad_norm_, with its 1e-6); returns the norm before clipping.
template <nn::Backend B, class Net>
double clip_grad_norm(Net& net, double max_norm) {
  double sq = 0;
  for_each_trainable(net, [&](const std::string&, nn::parameter<B>& p) { sq += B::squared_norm(p.grad); });
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double k = max_norm / (norm + 1e-6);
    for_each_trainable(net, [&](const std::string&, nn::parameter<B>& p) { B::scale(p.grad, k); });
  }
  return norm;
}

struct sgd_options {
  double momentum = 0.9;
  double weight_decay = 1e-4;
  bool nesterov = false;
};

template <nn::Backend B>
class sgd {
 public:
  explicit sgd(sgd_options o = {}) : o_(o) {}

  template <class Net>
  void step(Net& net, double lr) {
    for_each_trainable(net, [&](const std::string& name, nn::parameter<B>& p) {
      auto [it, fresh] = state_.try_emplace(name);
      if (fresh) it->second.resize(p.value.shape());
      B::sgd_update(p.value, p.grad, it->second, lr, o_.momentum, p.decay ? o_.weight_decay : 0.0, o_.nesterov, fresh);
    });
    ++steps_;
  }
  std::int64_t steps() const { return steps_; }
  // Checkpointing: momentum buffers by parameter name ("<name>.momentum_buffer").
  template <class F>
  void visit_state(F&& f) {
    for (auto& [name, buf] : state_) f(name + ".momentum_buffer", buf);
  }
  // Restoring a checkpoint: the state array stored under `key` (as visit_state names it), created
  // with `shape`; nullptr for a key this optimizer does not keep.
  typename B::array* state_slot(const std::string& key, const std::vector<std::size_t>& shape, std::int64_t steps) {
    static constexpr std::string_view suffix = ".momentum_buffer";
    if (!key.ends_with(suffix)) return nullptr;
    auto& a = state_[key.substr(0, key.size() - suffix.size())];
    a.resize(shape);
    steps_ = steps;
    return &a;
  }

 private:
  sgd_options o_;
  std::map<std::string, typename B::array> state_;
  std::int64_t steps_ = 0;
};

struct adamw_options {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.05;
};

template <nn::Backend B>
class adamw {
 public:
  explicit adamw(adamw_options o = {}) : o_(o) {}

  template <class Net>
  void step(Net& net, double lr) {
    ++steps_;
    for_each_trainable(net, [&](const std::string& name, nn::parameter<B>& p) {
      auto [it, fresh] = state_.try_emplace(name);
      if (fresh) {
        it->second.m.resize(p.value.shape());
        it->second.v.resize(p.value.shape());
        std::fill(it->second.m.begin(), it->second.m.end(), 0);
        std::fill(it->second.v.begin(), it->second.v.end(), 0);
        it->second.steps = 0;
      }
      ++it->second.steps;
      B::adamw_update(p.value, p.grad, it->second.m, it->second.v, lr, o_.beta1, o_.beta2, o_.eps,
                      p.decay ? o_.weight_decay : 0.0, it->second.steps);
    });
  }
  std::int64_t steps() const { return steps_; }
  template <class F>
  void visit_state(F&& f) {
    for (auto& [name, s] : state_) {
      f(name + ".exp_avg", s.m);
      f(name + ".exp_avg_sq", s.v);
    }
  }
  // Restoring a checkpoint (see sgd::state_slot); every parameter is taken to have made `steps` steps.
  typename B::array* state_slot(const std::string& key, const std::vector<std::size_t>& shape, std::int64_t steps) {
    for (std::string_view suffix : {std::string_view(".exp_avg_sq"), std::string_view(".exp_avg")})
      if (key.ends_with(suffix)) {
        auto& s = state_[key.substr(0, key.size() - suffix.size())];
        s.steps = steps;
        steps_ = steps;
        auto& a = suffix == ".exp_avg" ? s.m : s.v;
        a.resize(shape);
        return &a;
      }
    return nullptr;
  }

 private:
  struct moments {
    typename B::array m, v;
    std::int64_t steps = 0;
  };
  adamw_options o_;
  std::map<std::string, moments> state_;
  std::int64_t steps_ = 0;
};

}  // namespace tailor::train
