// Classification training: losses and their gradients, optimizers against torch.optim's numbers,
// the schedule, divergence detection, determinism, and a small network that overfits generated data.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include <tailor/backend/cpu.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/task/classification_network.hpp>
#include <tailor/train/classification_trainer.hpp>

namespace {

namespace nn = tailor::nn;
namespace train = tailor::train;
using BD = tailor::backend::cpu_t<double>;

// A generated 4-class problem: a bright 4x4 square in one quadrant (the class) on noise.
template <class B>
void make_quadrant_data(int n, int size, std::uint64_t seed, typename B::tensor& x, std::vector<std::int32_t>& labels) {
  x = B::tensor::from_shape({std::size_t(n), 3, std::size_t(size), std::size_t(size)});
  labels.resize(std::size_t(n));
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> noise(0, 0.3);
  for (int i = 0; i < n; ++i) {
    const int k = i % 4;
    labels[std::size_t(i)] = k;
    const int oy = (k / 2) * size / 2 + int(r() % std::uint64_t(size / 2 - 4)), ox = (k % 2) * size / 2 + int(r() % std::uint64_t(size / 2 - 4));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < size; ++y)
        for (int xx = 0; xx < size; ++xx)
          x(i, c, y, xx) = typename B::value_type(noise(r) + ((y >= oy && y < oy + 4 && xx >= ox && xx < ox + 4) ? 1.0 : 0.0));
  }
}

template <class B>
typename B::tensor slice(const typename B::tensor& x, int begin, int count) {
  const std::size_t per = x.size() / x.shape()[0];
  auto out = B::tensor::from_shape({std::size_t(count), x.shape()[1], x.shape()[2], x.shape()[3]});
  std::copy_n(x.data() + std::size_t(begin) * per, std::size_t(count) * per, out.data());
  return out;
}

struct one_param {
  using backend = BD;
  nn::parameter<BD> p;
  one_param() {
    p.resize({3});
    p.value(0) = 0.5, p.value(1) = -1.5, p.value(2) = 2.0;
  }
  template <class F>
  void visit_parameters(const std::string&, F&& f) {
    f("w", p);
  }
};

struct two_params {
  using backend = BD;
  nn::parameter<BD> a, b;
  template <class F>
  void visit_parameters(const std::string&, F&& f) {
    f("a", a);
    f("b", b);
  }
};

}  // namespace

TEST_CASE("losses: values and gradients", "[training][losses]") {
  BD::tensor z = BD::tensor::from_shape({2, 3, 1, 1});
  const double v[6] = {1.0, -0.5, 2.0, 0.3, 0.3, -1.0};
  std::copy(v, v + 6, z.data());
  SECTION("softmax cross-entropy with label smoothing 0.1") {
    const std::vector<std::int32_t> labels{2, 0};
    BD::tensor g;
    const double loss = BD::softmax_cross_entropy(z, labels, 0.1, g);
    double expected = 0;
    for (int i = 0; i < 2; ++i) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += std::exp(v[i * 3 + k]);
      for (int k = 0; k < 3; ++k) expected -= ((k == labels[std::size_t(i)] ? 0.9 : 0.0) + 0.1 / 3) * (v[i * 3 + k] - std::log(s));
    }
    REQUIRE(loss == Approx(expected / 2).epsilon(1e-14));
    for (int i = 0; i < 6; ++i) {
      BD::tensor zp = z, zm = z, dummy;
      zp.data()[i] += 1e-6;
      zm.data()[i] -= 1e-6;
      const double numeric = (BD::softmax_cross_entropy(zp, labels, 0.1, dummy) - BD::softmax_cross_entropy(zm, labels, 0.1, dummy)) / 2e-6;
      REQUIRE(g.data()[i] == Approx(numeric).margin(1e-9));
    }
  }
  SECTION("sigmoid binary cross-entropy, stable for large logits") {
    BD::tensor t = BD::tensor::from_shape({2, 3, 1, 1}), g;
    const double y[6] = {1, 0, 1, 0, 0, 1};
    std::copy(y, y + 6, t.data());
    const double loss = BD::sigmoid_binary_cross_entropy(z, t, g);
    double expected = 0;
    for (int i = 0; i < 6; ++i) {
      const double p = 1 / (1 + std::exp(-v[i]));
      expected -= y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p);
    }
    REQUIRE(loss == Approx(expected / 6).epsilon(1e-13));
    for (int i = 0; i < 6; ++i) {
      BD::tensor zp = z, zm = z, dummy;
      zp.data()[i] += 1e-6;
      zm.data()[i] -= 1e-6;
      const double numeric = (BD::sigmoid_binary_cross_entropy(zp, t, dummy) - BD::sigmoid_binary_cross_entropy(zm, t, dummy)) / 2e-6;
      REQUIRE(g.data()[i] == Approx(numeric).margin(1e-9));
    }
    BD::tensor big = z;
    big.data()[0] = 800;
    big.data()[1] = -800;
    REQUIRE(std::isfinite(BD::sigmoid_binary_cross_entropy(big, t, g)));
  }
}

TEST_CASE("optimizers follow torch.optim (tests/fixtures/optimizers/make_expected.py)", "[training][optimizers]") {
  const double grads[3][3] = {{0.1, -0.2, 0.3}, {0.05, 0.4, -0.1}, {-0.3, 0.2, 0.2}};
  auto run = [&](auto opt, double lr) {
    one_param net;
    for (const auto& g : grads) {
      for (int i = 0; i < 3; ++i) net.p.grad(i) = g[i];
      opt.step(net, lr);
    }
    return net.p.value;
  };
  const auto nesterov = run(train::sgd<BD>({0.9, 0.01, true}), 0.1);
  REQUIRE(nesterov(0) == Approx(0.5051634119805).epsilon(1e-12));
  REQUIRE(nesterov(1) == Approx(-1.5656287745315).epsilon(1e-12));
  REQUIRE(nesterov(2) == Approx(1.870132436512).epsilon(1e-12));
  const auto heavy_ball = run(train::sgd<BD>({0.9, 0.0, false}), 0.1);
  REQUIRE(heavy_ball(0) == Approx(0.49339999999999995).epsilon(1e-12));
  REQUIRE(heavy_ball(1) == Approx(-1.5418).epsilon(1e-12));
  REQUIRE(heavy_ball(2) == Approx(1.9177).epsilon(1e-12));
  const auto adam = run(train::adamw<BD>({0.9, 0.999, 1e-8, 0.05}), 0.01);
  REQUIRE(adam(0) == Approx(0.4834154740071437).epsilon(1e-12));
  REQUIRE(adam(1) == Approx(-1.4966127354275895).epsilon(1e-12));
  REQUIRE(adam(2) == Approx(1.9769804485000515).epsilon(1e-12));
}

TEST_CASE("cosine schedule with warm-up, and gradient clipping", "[training][schedule]") {
  const train::cosine_schedule s{0.1, 10, 110, 0.0};
  REQUIRE(s.at(0) == Approx(0.01));
  REQUIRE(s.at(9) == Approx(0.1));
  REQUIRE(s.at(10) == Approx(0.1));
  REQUIRE(s.at(60) == Approx(0.05));
  REQUIRE(s.at(110) == Approx(0.0).margin(1e-15));
  REQUIRE(s.at(500) == Approx(0.0).margin(1e-15));

  two_params net;
  net.a.resize({1});
  net.b.resize({1});
  net.a.grad(0) = 3;
  net.b.grad(0) = 4;
  REQUIRE(train::clip_grad_norm<BD>(net, 1.0) == Approx(5.0));
  REQUIRE(net.a.grad(0) == Approx(0.6).epsilon(1e-6));
  REQUIRE(net.b.grad(0) == Approx(0.8).epsilon(1e-6));
}

TEST_CASE("a small CNN overfits a generated dataset to 100% training accuracy, deterministically", "[training][overfit]") {
  using B = tailor::backend::cpu;
  using net_t = tailor::task::classification_network<nn::small_cnn, B>;
  B::tensor x;
  std::vector<std::int32_t> labels;
  make_quadrant_data<B>(32, 16, 1, x, labels);

  auto train_run = [&](std::uint64_t seed) {
    net_t net(4, {0.25}, seed);
    train::classification_train_options o;
    o.lr = 0.05;
    o.total_steps = 30 * 4;
    o.warmup_steps = 4;
    train::classification_trainer<net_t> trainer(net, o);
    for (int epoch = 0; epoch < 30; ++epoch)
      for (int b = 0; b < 4; ++b)
        trainer.step(slice<B>(x, b * 8, 8), std::vector<std::int32_t>(labels.begin() + b * 8, labels.begin() + b * 8 + 8));
    return net;
  };
  auto net = train_run(3);
  const auto logits = net.forward(x, false);
  int correct = 0;
  for (int i = 0; i < 32; ++i) {
    int best = 0;
    for (int k = 1; k < 4; ++k)
      if (logits(i, k, 0, 0) > logits(i, best, 0, 0)) best = k;
    correct += best == labels[std::size_t(i)];
  }
  REQUIRE(correct == 32);

  auto again = train_run(3);
  std::vector<float> w1, w2;
  net.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { w1.insert(w1.end(), p.value.begin(), p.value.end()); });
  again.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { w2.insert(w2.end(), p.value.begin(), p.value.end()); });
  REQUIRE(w1 == w2);  // same seed, same threads: bit-identical weights
}

TEST_CASE("a diverging run stops with training_diverged and advice", "[training][divergence]") {
  using B = tailor::backend::cpu;
  using net_t = tailor::task::classification_network<nn::small_cnn, B>;
  B::tensor x;
  std::vector<std::int32_t> labels;
  make_quadrant_data<B>(8, 16, 2, x, labels);
  net_t net(4, {0.25}, 1);
  train::classification_train_options o;
  o.lr = 1e6;
  o.total_steps = 50;
  train::classification_trainer<net_t> trainer(net, o);
  try {
    for (int i = 0; i < 50; ++i) trainer.step(x, labels);
    FAIL("no divergence detected");
  } catch (const tailor::error& e) {
    REQUIRE(e.code() == tailor::failure_code::training_diverged);
    REQUIRE_THAT(e.what(), Catch::Contains("lower the learning rate"));
  }
  REQUIRE_THROWS_WITH(trainer.step(x, std::vector<std::int32_t>(8, 7)), Catch::Contains("outside 0..3"));
}
