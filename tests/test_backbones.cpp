// Backbones: shapes, strides, parameter names as torchvision's, freezing, and back-propagation
// through whole networks checked against finite differences on sampled elements (in double).
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include <tailor/backend/cpu.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

namespace {

using B = tailor::backend::cpu_t<double>;
using tensor = B::tensor;
namespace nn = tailor::nn;

tensor random_tensor(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::uint64_t seed) {
  tensor t = tensor::from_shape({n, c, h, w});
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> d(-1, 1);
  for (auto& v : t) v = d(r);
  return t;
}

double dot(const tensor& a, const tensor& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

std::size_t parameter_count(auto& net) {
  std::size_t n = 0;
  net.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { n += p.value.size(); });
  return n;
}

// Samples `samples` parameters (over all tensors) and compares d<forward(x), r>/dp with central
// differences. Batch statistics make every sample depend on the others, which this also covers.
template <class Net>
void check_sampled_gradients(Net& net, const tensor& x, int samples, std::uint64_t seed) {
  auto forward = [&] {
    net.reseed_dropout(77);  // the same dropout mask for every evaluation
    return net.forward(x, true);
  };
  const tensor y = forward();
  const tensor r = random_tensor(y.shape()[0], y.shape()[1], y.shape()[2], y.shape()[3], seed);
  net.visit_parameters("", [](const std::string&, nn::parameter<B>& p) { p.zero_grad(); });
  net.backward(r);
  std::vector<std::pair<std::string, nn::parameter<B>*>> params;
  net.visit_parameters("", [&](const std::string& name, nn::parameter<B>& p) { params.emplace_back(name, &p); });
  std::mt19937_64 pick(seed);
  const double eps = 1e-5;
  for (int s = 0; s < samples; ++s) {
    auto& [name, p] = params[pick() % params.size()];
    if (p->frozen) continue;
    const std::size_t i = pick() % p->value.size();
    const double keep = p->value.data()[i];
    p->value.data()[i] = keep + eps;
    const double up = dot(forward(), r);
    p->value.data()[i] = keep - eps;
    const double down = dot(forward(), r);
    p->value.data()[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    INFO(name << "[" << i << "]: analytic " << p->grad.data()[i] << ", numeric " << numeric);
    REQUIRE(std::abs(p->grad.data()[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)));
  }
}

}  // namespace

TEST_CASE("resnet18 and resnet34: torchvision's layout, names and sizes", "[backbones][resnet]") {
  auto r18 = nn::make_resnet<B>(18);
  auto r34 = nn::make_resnet<B>(34);
  // torchvision: resnet18 has 11,689,512 parameters with its 1000-class fc (512*1000 + 1000).
  REQUIRE(parameter_count(r18) + 512 * 1000 + 1000 == 11'689'512);
  REQUIRE(parameter_count(r34) + 512 * 1000 + 1000 == 21'797'672);
  std::set<std::string> names;
  r18.visit_parameters("", [&](const std::string& n, nn::parameter<B>&) { names.insert(n); });
  r18.visit_buffers("", [&](const std::string& n, B::array&, nn::buffer_kind) { names.insert(n); });
  for (const char* n : {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
                        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.num_batches_tracked", "layer4.1.conv2.weight"})
    REQUIRE(names.count(n) == 1);
  REQUIRE(names.count("layer1.0.downsample.0.weight") == 0);
  REQUIRE(r18.feature_dim() == 512);
  REQUIRE(r18.stage_count() == 4);
}

TEST_CASE("mobilenet_v3 small and large: torchvision's parameter counts and names", "[backbones][mobilenet_v3]") {
  auto s = nn::mobilenet_v3_small::make<B>();
  auto l = nn::mobilenet_v3_large::make<B>();
  // torchvision: 2,542,856 (small) and 5,483,032 (large) parameters with the 1000-class classifier.3.
  REQUIRE(parameter_count(s) + 1024 * 1000 + 1000 == 2'542'856);
  REQUIRE(parameter_count(l) + 1280 * 1000 + 1000 == 5'483'032);
  std::set<std::string> names;
  s.visit_parameters("", [&](const std::string& n, nn::parameter<B>&) { names.insert(n); });
  for (const char* n : {"features.0.0.weight", "features.1.block.0.0.weight", "features.1.block.1.fc1.bias",
                        "features.2.block.0.0.weight", "features.2.block.2.1.weight", "features.12.0.weight",
                        "classifier.0.weight"})
    REQUIRE(names.count(n) == 1);
  REQUIRE(s.feature_dim() == 1024);
}

TEST_CASE("feature maps at strides 8, 16 and 32", "[backbones]") {
  using F = nn::backbone_options;
  auto r = nn::make_resnet<B>(18, F{0.125});
  auto maps = r.forward_maps(random_tensor(1, 3, 64, 64, 1), false);
  REQUIRE(maps.strides == std::array<int, 3>{8, 16, 32});
  REQUIRE(maps.channels == std::array<int, 3>{16, 32, 64});
  REQUIRE(maps.maps[0].shape() == tensor::shape_type{1, 16, 8, 8});
  REQUIRE(maps.maps[2].shape() == tensor::shape_type{1, 64, 2, 2});
  auto m = nn::mobilenet_v3_small::make<B>(F{0.25});
  auto mm = m.forward_maps(random_tensor(1, 3, 64, 64, 2), false);
  REQUIRE(mm.strides == std::array<int, 3>{8, 16, 32});
  REQUIRE(mm.maps[1].shape()[2] == 4);
  REQUIRE(mm.maps[2].shape()[2] == 2);
}

TEST_CASE("whole-network gradients equal finite differences", "[backbones][gradients]") {
  nn::rng r(1);
  SECTION("small_cnn") {
    auto net = nn::make_small_cnn<B>({0.25});
    net.init(r);
    check_sampled_gradients(net, random_tensor(2, 3, 12, 12, 3), 40, 5);
  }
  SECTION("resnet18 at width 1/8") {
    auto net = nn::make_resnet<B>(18, {0.125});
    net.init(r);
    check_sampled_gradients(net, random_tensor(2, 3, 40, 40, 4), 40, 6);
  }
  SECTION("mobilenet_v3_small at width 1/4 (one dropout mask throughout)") {
    auto net = nn::make_mobilenet_v3<B>(nn::mobilenet_v3_size::small, {0.25});
    net.init(r);
    check_sampled_gradients(net, random_tensor(3, 3, 48, 48, 5), 40, 7);
  }
  SECTION("feature maps: gradients injected at strides 8/16/32") {
    auto net = nn::make_resnet<B>(18, {0.125});
    net.init(r);
    const tensor x = random_tensor(2, 3, 40, 40, 8);
    auto maps = net.forward_maps(x, true);
    std::array<tensor, 3> rs;
    for (int t = 0; t < 3; ++t) {
      const auto& s = maps.maps[t].shape();
      rs[t] = random_tensor(s[0], s[1], s[2], s[3], 20 + t);
    }
    auto loss = [&] {
      auto m = net.forward_maps(x, true);
      return dot(m.maps[0], rs[0]) + dot(m.maps[1], rs[1]) + dot(m.maps[2], rs[2]);
    };
    net.visit_parameters("", [](const std::string&, nn::parameter<B>& p) { p.zero_grad(); });
    (void)loss();
    net.backward_maps({&rs[0], &rs[1], &rs[2]});
    std::vector<nn::parameter<B>*> ps;
    net.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { ps.push_back(&p); });
    std::mt19937_64 pick(9);
    for (int s = 0; s < 30; ++s) {
      auto* p = ps[pick() % ps.size()];
      const std::size_t i = pick() % p->value.size();
      const double keep = p->value.data()[i];
      p->value.data()[i] = keep + 1e-5;
      const double up = loss();
      p->value.data()[i] = keep - 1e-5;
      const double down = loss();
      p->value.data()[i] = keep;
      const double numeric = (up - down) / 2e-5;
      REQUIRE(std::abs(p->grad.data()[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)));
    }
  }
}

TEST_CASE("freezing the first stages keeps their weights out of back-propagation", "[backbones][freeze]") {
  nn::rng r(2);
  auto net = nn::make_resnet<B>(18, {0.125});
  net.init(r);
  net.freeze_stages(2);  // stem + layer1 (stride 4) and layer2 (stride 8)
  std::size_t frozen = 0, trainable = 0;
  net.visit_parameters("", [&](const std::string& n, nn::parameter<B>& p) {
    const bool early = n.starts_with("conv1") || n.starts_with("bn1") || n.starts_with("layer1") || n.starts_with("layer2");
    REQUIRE(p.frozen == early);
    (p.frozen ? frozen : trainable) += 1;
    p.zero_grad();
  });
  REQUIRE(frozen > 0);
  REQUIRE(trainable > 0);
  const tensor y = net.forward(random_tensor(2, 3, 40, 40, 3), true);
  net.backward(random_tensor(y.shape()[0], y.shape()[1], 1, 1, 4));
  net.visit_parameters("", [&](const std::string& n, nn::parameter<B>& p) {
    double norm = 0;
    for (double g : p.grad) norm += g * g;
    INFO(n);
    if (p.frozen) REQUIRE(norm == 0);
  });
  check_sampled_gradients(net, random_tensor(2, 3, 40, 40, 5), 30, 8);
}
