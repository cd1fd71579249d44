// Every layer's backward against central finite differences, run in double precision through the
// very same layer code (backend::cpu_t<double>), plus forward checks against direct references.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <thread>

#include <tailor/backend/cpu.hpp>
#include <tailor/nn/layers/activation.hpp>
#include <tailor/nn/layers/batch_norm.hpp>
#include <tailor/nn/layers/conv2d.hpp>
#include <tailor/nn/layers/dropout.hpp>
#include <tailor/nn/layers/linear.hpp>
#include <tailor/nn/layers/pooling.hpp>
#include <tailor/nn/layers/sequential.hpp>
#include <tailor/nn/layers/squeeze_excitation.hpp>

namespace {

using B = tailor::backend::cpu_t<double>;
using tensor = B::tensor;
namespace nn = tailor::nn;

tensor random_tensor(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::uint64_t seed, double lo = -1, double hi = 1) {
  tensor t = tensor::from_shape({n, c, h, w});
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (auto& v : t) v = d(r);
  return t;
}

double dot(const tensor& a, const tensor& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

// Checks dL/dx and dL/dparams of L = <layer(x), r> against central differences. `before_forward`
// runs before every forward (dropout re-seeds there so that every evaluation uses one mask).
template <class L>
void check_gradients(L& layer, const tensor& x, std::uint64_t seed, std::function<void(L&)> before_forward = {},
                     double tol = 1e-6) {
  auto run = [&](const tensor& in) {
    if (before_forward) before_forward(layer);
    return layer.forward(in, true);
  };
  const tensor y = run(x);
  const tensor r = random_tensor(y.shape()[0], y.shape()[1], y.shape()[2], y.shape()[3], seed + 1);
  layer.visit_parameters("", [](const std::string&, nn::parameter<B>& p) { p.zero_grad(); });
  const tensor dx = layer.backward(r);
  REQUIRE(dx.shape() == x.shape());

  const double eps = 1e-6;
  auto close = [&](double analytic, double numeric) {
    return std::abs(analytic - numeric) <= tol * std::max(1.0, std::abs(numeric));
  };
  tensor xp = x;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double keep = xp.data()[i];
    xp.data()[i] = keep + eps;
    const double up = dot(run(xp), r);
    xp.data()[i] = keep - eps;
    const double down = dot(run(xp), r);
    xp.data()[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    INFO("input element " << i);
    REQUIRE(close(dx.data()[i], numeric));
  }
  layer.visit_parameters("", [&](const std::string& name, nn::parameter<B>& p) {
    for (std::size_t i = 0; i < p.value.size(); ++i) {
      const double keep = p.value.data()[i];
      p.value.data()[i] = keep + eps;
      const double up = dot(run(x), r);
      p.value.data()[i] = keep - eps;
      const double down = dot(run(x), r);
      p.value.data()[i] = keep;
      const double numeric = (up - down) / (2 * eps);
      INFO("parameter " << name << " element " << i);
      REQUIRE(close(p.grad.data()[i], numeric));
    }
  });
}

// Direct convolution, written from the definition, for the forward check.
tensor reference_conv(const tensor& x, const B::array& w, const nn::conv2d_shape& s, const B::array* bias) {
  const int N = int(x.shape()[0]), H = int(x.shape()[2]), W = int(x.shape()[3]);
  const int OH = s.out_h(H), OW = s.out_w(W), cg = s.in_per_group(), ocg = s.out_per_group();
  tensor y = tensor::from_shape({std::size_t(N), std::size_t(s.out_channels), std::size_t(OH), std::size_t(OW)});
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < s.out_channels; ++oc) {
      const int g = oc / ocg;
      for (int oy = 0; oy < OH; ++oy)
        for (int ox = 0; ox < OW; ++ox) {
          double acc = bias ? (*bias)(oc) : 0.0;
          for (int c = 0; c < cg; ++c)
            for (int kh = 0; kh < s.kernel_h; ++kh)
              for (int kw = 0; kw < s.kernel_w; ++kw) {
                const int iy = oy * s.stride_h - s.pad_h + kh * s.dilation_h, ix = ox * s.stride_w - s.pad_w + kw * s.dilation_w;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += x(n, g * cg + c, iy, ix) * w(oc, c, kh, kw);
              }
          y(n, oc, oy, ox) = acc;
        }
    }
  return y;
}

// Requires conv's inference output on x to equal the direct definition to 1e-12; returns it.
tensor require_direct_definition(nn::conv2d<B>& conv, const tensor& x, const nn::conv2d_shape& s, bool bias) {
  const tensor y = conv.forward(x, false);
  tensor expected = reference_conv(x, conv.weight().value, s, bias ? &conv.bias().value : nullptr);
  REQUIRE(y.shape() == expected.shape());
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y.data()[i] == Approx(expected.data()[i]).epsilon(1e-12).margin(1e-12));
  return expected;
}

nn::conv2d_shape conv_shape(int in, int out, int k, int stride = 1, int pad = 0, int dilation = 1, int groups = 1) {
  nn::conv2d_shape s;
  s.in_channels = in;
  s.out_channels = out;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  s.dilation_h = s.dilation_w = dilation;
  s.groups = groups;
  return s;
}

struct chunk_limit {  // shrinks the im2col chunk so that small tests cross chunk boundaries
  std::int64_t saved = tailor::backend::cpu_detail::conv_chunk_elements;
  explicit chunk_limit(std::int64_t v) { tailor::backend::cpu_detail::conv_chunk_elements = v; }
  ~chunk_limit() { tailor::backend::cpu_detail::conv_chunk_elements = saved; }
};

}  // namespace

TEST_CASE("conv2d forward equals the direct definition and its gradients equal finite differences", "[layers][conv2d]") {
  struct config {
    const char* name;
    nn::conv2d_shape s;
    bool bias;
    std::size_t n, h, w;
    std::int64_t chunk;
  };
  const config configs[] = {
      {"3x3 stride 1 pad 1", conv_shape(3, 4, 3, 1, 1), false, 2, 5, 6, 1 << 22},
      {"3x3 stride 2 pad 1 with bias", conv_shape(2, 3, 3, 2, 1), true, 3, 7, 5, 1 << 22},
      {"5x5 dilation 2 pad 3", conv_shape(2, 2, 5, 1, 3, 2), false, 1, 6, 6, 1 << 22},
      {"grouped 3x3, 2 groups", conv_shape(4, 6, 3, 1, 1, 1, 2), true, 2, 4, 4, 1 << 22},
      {"depthwise 3x3 stride 2", conv_shape(3, 3, 3, 2, 1, 1, 3), true, 2, 6, 5, 1 << 22},
      {"depthwise 5x5 pad 2", conv_shape(2, 2, 5, 1, 2, 1, 2), false, 1, 5, 5, 1 << 22},
      {"depthwise multiplier 2", conv_shape(2, 4, 3, 1, 1, 1, 2), false, 2, 4, 4, 1 << 22},
      {"depthwise 5x5 stride 2 pad 2, odd sizes", conv_shape(3, 3, 5, 2, 2, 1, 3), true, 2, 7, 9, 1 << 22},
      {"depthwise 3x3 stride 1 no padding", conv_shape(2, 2, 3, 1, 0, 1, 2), true, 1, 5, 6, 1 << 22},
      {"depthwise 3x3 stride 2 no padding, even sizes", conv_shape(2, 2, 3, 2, 0, 1, 2), false, 2, 8, 6, 1 << 22},
      {"depthwise 3x3 dilation 2 (general loops)", conv_shape(2, 2, 3, 1, 2, 2, 2), true, 1, 6, 5, 1 << 22},
      {"1x1 pointwise, one image per chunk (direct GEMM)", conv_shape(3, 5, 1), true, 3, 3, 4, 1},
      {"1x1 pointwise, images batched", conv_shape(3, 5, 1), false, 3, 3, 4, 1 << 22},
      {"1x1 pointwise on 144-pixel planes (a GEMM per image)", conv_shape(3, 5, 1), true, 3, 12, 12, 1 << 22},
      {"1x1 pointwise on 144-pixel planes, one image", conv_shape(3, 5, 1), false, 1, 12, 12, 1 << 22},
      {"1x1 pointwise, 2 groups, 144-pixel planes", conv_shape(4, 6, 1, 1, 0, 1, 2), true, 2, 9, 16, 1 << 22},
      {"3x3, chunks of 2 images", conv_shape(2, 3, 3, 1, 1), false, 5, 4, 4, 2 * 18 * 16},
      {"7x7 stride 2 pad 3 (resnet stem)", conv_shape(3, 2, 7, 2, 3), false, 1, 9, 9, 1 << 22},
  };
  for (const auto& c : configs) {
    SECTION(c.name) {
      chunk_limit limit(c.chunk);
      nn::conv2d<B> conv(c.s, c.bias);
      nn::rng r(7);
      conv.init(r);
      if (c.bias) nn::normal(conv.bias().value, 0.5, r);
      const tensor x = random_tensor(c.n, std::size_t(c.s.in_channels), c.h, c.w, 11);
      require_direct_definition(conv, x, c.s, c.bias);
      check_gradients(conv, x, 3);
    }
  }
}

TEST_CASE("conv2d: Winograd F(2x2, 3x3) equals the direct definition and the im2col path", "[layers][conv2d][winograd]") {
  namespace cd = tailor::backend::cpu_detail;
  struct config {
    const char* name;
    nn::conv2d_shape s;
    bool bias;
    std::size_t n, h, w;
    std::int64_t chunk;  // winograd_chunk_elements: small values cross chunk boundaries
  };
  const config configs[] = {
      {"pad 1, even size", conv_shape(16, 16, 3, 1, 1), false, 2, 8, 8, 1 << 22},
      {"pad 1, odd sizes (cut tiles), bias", conv_shape(16, 20, 3, 1, 1), true, 2, 5, 7, 1 << 22},
      {"pad 0", conv_shape(17, 16, 3, 1, 0), false, 1, 6, 9, 1 << 22},
      {"pad 2", conv_shape(16, 18, 3, 1, 2), true, 1, 4, 3, 1 << 22},
      {"1x1 input, pad 1", conv_shape(16, 16, 3, 1, 1), false, 3, 1, 1, 1 << 22},
      {"chunks of one image", conv_shape(16, 16, 3, 1, 1), true, 3, 6, 6, 1},
  };
  for (const auto& c : configs) {
    SECTION(c.name) {
      REQUIRE(cd::winograd_applies(c.s));
      const auto saved = cd::winograd_chunk_elements;
      cd::winograd_chunk_elements = c.chunk;
      nn::conv2d<B> conv(c.s, c.bias);
      nn::rng r(5);
      conv.init(r);
      if (c.bias) nn::normal(conv.bias().value, 0.5, r);
      const tensor x = random_tensor(c.n, std::size_t(c.s.in_channels), c.h, c.w, 13);
      const tensor expected = require_direct_definition(conv, x, c.s, c.bias);

      // In float, against the double reference, as close as im2col gets.
      using F = tailor::backend::cpu_t<float>;
      nn::conv2d<F> conv_f(c.s, c.bias);
      for (std::size_t i = 0; i < conv_f.weight().value.size(); ++i)
        conv_f.weight().value.data()[i] = static_cast<float>(conv.weight().value.data()[i]);
      if (c.bias)
        for (std::size_t i = 0; i < conv_f.bias().value.size(); ++i)
          conv_f.bias().value.data()[i] = static_cast<float>(conv.bias().value.data()[i]);
      F::tensor xf = F::tensor::from_shape(x.shape());
      for (std::size_t i = 0; i < x.size(); ++i) xf.data()[i] = static_cast<float>(x.data()[i]);
      const F::tensor yw = conv_f.forward(xf, false);
      cd::winograd_enabled = false;
      const F::tensor yi = conv_f.forward(xf, false);
      cd::winograd_enabled = true;
      double worst_w = 0, worst_i = 0, scale = 0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        worst_w = std::max(worst_w, std::abs(double(yw.data()[i]) - expected.data()[i]));
        worst_i = std::max(worst_i, std::abs(double(yi.data()[i]) - expected.data()[i]));
        scale = std::max(scale, std::abs(expected.data()[i]));
      }
      INFO("max error, Winograd " << worst_w << ", im2col " << worst_i << ", max |y| " << scale);
      CHECK(worst_w <= 1e-5 * scale);
      CHECK(worst_w <= 8 * worst_i + 1e-6 * scale);
      cd::winograd_chunk_elements = saved;
    }
  }
  SECTION("gradients through the Winograd forward equal finite differences") {
    nn::conv2d<B> conv(conv_shape(16, 16, 3, 1, 1), true);
    nn::rng r(9);
    conv.init(r);
    check_gradients(conv, random_tensor(1, 16, 3, 3, 17), 5);
  }
  SECTION("not for strides, dilations, groups or few channels") {
    CHECK_FALSE(cd::winograd_applies(conv_shape(16, 16, 3, 2, 1)));
    CHECK_FALSE(cd::winograd_applies(conv_shape(16, 16, 3, 1, 2, 2)));
    CHECK_FALSE(cd::winograd_applies(conv_shape(16, 16, 3, 1, 1, 1, 2)));
    CHECK_FALSE(cd::winograd_applies(conv_shape(3, 16, 3, 1, 1)));
    CHECK_FALSE(cd::winograd_applies(conv_shape(16, 16, 5, 1, 2)));
  }
}

TEST_CASE("conv2d rejects a wrong channel count and an input smaller than its kernel", "[layers][conv2d]") {
  nn::conv2d<B> conv(conv_shape(3, 4, 3));
  REQUIRE_THROWS_WITH(conv.forward(random_tensor(1, 2, 5, 5, 1), false), Catch::Contains("input has 2 channels, the layer expects 3"));
  REQUIRE_THROWS_WITH(conv.forward(random_tensor(1, 3, 2, 2, 1), false), Catch::Contains("smaller than the 3x3 kernel"));
  REQUIRE_THROWS_WITH(nn::conv2d<B>(conv_shape(3, 4, 3, 1, 0, 1, 2)), Catch::Contains("groups 2 must divide"));
}

TEST_CASE("batch norm: batch statistics, running statistics and frozen statistics", "[layers][batch_norm]") {
  const tensor x = random_tensor(3, 2, 3, 4, 5, -2, 3);
  SECTION("training mode normalises each channel to mean beta and std gamma") {
    nn::batch_norm2d<B> bn(2);
    nn::rng r(1);
    bn.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { nn::normal(p.value, 1.0, r); });
    const tensor y = bn.forward(x, true);
    double gamma[2], beta[2];
    int k = 0;
    bn.visit_parameters("", [&](const std::string& name, nn::parameter<B>& p) {
      for (int c = 0; c < 2; ++c) (name == "weight" ? gamma : beta)[c] = p.value(c);
      ++k;
    });
    for (int c = 0; c < 2; ++c) {
      double s = 0, sq = 0;
      for (int n = 0; n < 3; ++n)
        for (int i = 0; i < 12; ++i) s += y(n, c, i / 4, i % 4);
      const double mean = s / 36;
      for (int n = 0; n < 3; ++n)
        for (int i = 0; i < 12; ++i) sq += (y(n, c, i / 4, i % 4) - mean) * (y(n, c, i / 4, i % 4) - mean);
      REQUIRE(mean == Approx(beta[c]).margin(1e-12));
      REQUIRE(std::sqrt(sq / 36) == Approx(std::abs(gamma[c])).epsilon(1e-4));  // eps = 1e-5 in the denominator
    }
  }
  SECTION("running statistics follow torch's momentum rule with the unbiased variance") {
    nn::batch_norm2d<B> bn(2, 1e-5, 0.1);
    (void)bn.forward(x, true);
    bn.visit_buffers("", [&](const std::string& name, B::array& a, nn::buffer_kind) {
      for (int c = 0; c < (name == "num_batches_tracked" ? 0 : 2); ++c) {
        double s = 0, sq = 0;
        for (int n = 0; n < 3; ++n)
          for (int i = 0; i < 12; ++i) s += x(n, c, i / 4, i % 4);
        const double mean = s / 36;
        for (int n = 0; n < 3; ++n)
          for (int i = 0; i < 12; ++i) sq += (x(n, c, i / 4, i % 4) - mean) * (x(n, c, i / 4, i % 4) - mean);
        if (name == "running_mean") REQUIRE(a(c) == Approx(0.1 * mean).margin(1e-12));
        if (name == "running_var") REQUIRE(a(c) == Approx(0.9 + 0.1 * sq / 35).epsilon(1e-12));
      }
      if (name == "num_batches_tracked") REQUIRE(a() == 1);
    });
  }
  SECTION("gradients with batch statistics") {
    nn::batch_norm2d<B> bn(2);
    nn::rng r(2);
    bn.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { nn::normal(p.value, 1.0, r); });
    check_gradients(bn, x, 9);
  }
  SECTION("gradients with frozen (running) statistics") {
    nn::batch_norm2d<B> bn(2);
    (void)bn.forward(x, true);  // give the running statistics non-trivial values
    bn.freeze_statistics(true);
    check_gradients(bn, x, 10);
  }
}

TEST_CASE("activations: values as torch defines them and gradients", "[layers][activation]") {
  using K = nn::activation_kind;
  struct expect {
    K kind;
    double at_minus_4, at_minus_1, at_half, at_4, at_7;
  };
  const double sig = [](double v) { return 1 / (1 + std::exp(-v)); }(0.5);
  const expect table[] = {
      {K::relu, 0, 0, 0.5, 4, 7},
      {K::relu6, 0, 0, 0.5, 4, 6},
      {K::hard_sigmoid, 0, 2.0 / 6, 3.5 / 6, 1, 1},
      {K::hard_swish, 0, -2.0 / 6, 0.5 * 3.5 / 6, 4, 7},
      {K::silu, -4 / (1 + std::exp(4.0)), -1 / (1 + std::exp(1.0)), 0.5 * sig, 4 / (1 + std::exp(-4.0)), 7 / (1 + std::exp(-7.0))},
      {K::sigmoid, 1 / (1 + std::exp(4.0)), 1 / (1 + std::exp(1.0)), sig, 1 / (1 + std::exp(-4.0)), 1 / (1 + std::exp(-7.0))},
  };
  for (const auto& e : table) {
    DYNAMIC_SECTION(nn::to_string(e.kind)) {
      nn::activation<B> a(e.kind);
      tensor x = tensor::from_shape({1, 1, 1, 5});
      x(0, 0, 0, 0) = -4, x(0, 0, 0, 1) = -1, x(0, 0, 0, 2) = 0.5, x(0, 0, 0, 3) = 4, x(0, 0, 0, 4) = 7;
      const tensor y = a.forward(x, false);
      REQUIRE(y(0, 0, 0, 0) == Approx(e.at_minus_4).margin(1e-15));
      REQUIRE(y(0, 0, 0, 1) == Approx(e.at_minus_1).margin(1e-15));
      REQUIRE(y(0, 0, 0, 2) == Approx(e.at_half).margin(1e-15));
      REQUIRE(y(0, 0, 0, 3) == Approx(e.at_4).margin(1e-15));
      REQUIRE(y(0, 0, 0, 4) == Approx(e.at_7).margin(1e-15));
      check_gradients(a, random_tensor(2, 3, 2, 2, 21, -8, 8), 4);
    }
  }
}

TEST_CASE("pooling layers: max, average and global average", "[layers][pooling]") {
  SECTION("max pool 3x3 stride 2 pad 1 (resnet stem)") {
    nn::max_pool2d<B> pool(3, 2, 1);
    const tensor x = random_tensor(2, 2, 7, 6, 31);
    const tensor y = pool.forward(x, true);
    REQUIRE(y.shape() == tensor::shape_type{2, 2, 4, 3});
    double m = -1e9;
    for (int iy = 0; iy <= 1; ++iy)
      for (int ix = 0; ix <= 1; ++ix) m = std::max(m, x(1, 1, iy, ix));
    REQUIRE(y(1, 1, 0, 0) == m);
    check_gradients(pool, x, 5);
  }
  SECTION("max pool equals torch's rule on every output: ties go to the first, NaN wins") {
    struct window {
      int k, stride, pad;
    };
    for (auto wdw : {window{3, 2, 1}, window{2, 2, 0}, window{3, 1, 1}, window{2, 1, 1}}) {
      INFO("kernel " << wdw.k << " stride " << wdw.stride << " pad " << wdw.pad);
      nn::max_pool2d<B> pool(wdw.k, wdw.stride, wdw.pad);
      tensor x = random_tensor(2, 3, 7, 8, 41);
      for (auto& v : x) v = std::floor(v * 2);  // values in {-2, -1, 0, 1}: many ties
      x(1, 2, 3, 4) = std::numeric_limits<double>::quiet_NaN();
      const tensor y = pool.forward(x, true);
      tensor dy = tensor::from_shape(y.shape());
      std::fill(dy.begin(), dy.end(), 1.0);
      const tensor dx = pool.backward(dy);
      tensor expected_dx = tensor::from_shape(x.shape());
      std::fill(expected_dx.begin(), expected_dx.end(), 0.0);
      const int H = 7, W = 8, OH = int(y.shape()[2]), OW = int(y.shape()[3]);
      for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
          for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox) {
              double best = -std::numeric_limits<double>::infinity();
              int at_y = -1, at_x = -1;
              for (int iy = oy * wdw.stride - wdw.pad; iy < oy * wdw.stride - wdw.pad + wdw.k; ++iy)
                for (int ix = ox * wdw.stride - wdw.pad; ix < ox * wdw.stride - wdw.pad + wdw.k; ++ix) {
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  const double v = x(n, c, iy, ix);
                  if (v > best || std::isnan(v) || at_y < 0) best = v, at_y = iy, at_x = ix;
                }
              const double got = y(n, c, oy, ox);
              REQUIRE((std::isnan(best) ? std::isnan(got) : got == best));
              expected_dx(n, c, at_y, at_x) += 1.0;
            }
      for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx.data()[i] == expected_dx.data()[i]);
    }
  }
  SECTION("average pool counts padding as zeros") {
    nn::avg_pool2d<B> pool(2, 2, 1);
    const tensor x = random_tensor(1, 2, 4, 4, 32);
    const tensor y = pool.forward(x, true);
    REQUIRE(y(0, 1, 0, 0) == Approx(x(0, 1, 0, 0) / 4));
    check_gradients(pool, x, 6);
  }
  SECTION("global average pool") {
    nn::global_avg_pool<B> pool;
    const tensor x = random_tensor(2, 3, 3, 5, 33);
    const tensor y = pool.forward(x, true);
    double s = 0;
    for (int i = 0; i < 15; ++i) s += x(1, 2, i / 5, i % 5);
    REQUIRE(y(1, 2, 0, 0) == Approx(s / 15).epsilon(1e-14));
    check_gradients(pool, x, 7);
  }
}

TEST_CASE("linear layer flattens its input and matches x W^T + b", "[layers][linear]") {
  nn::linear<B> fc(12, 4);
  nn::rng r(3);
  fc.init(r);
  const tensor x = random_tensor(3, 3, 2, 2, 41);
  const tensor y = fc.forward(x, false);
  REQUIRE(y.shape() == tensor::shape_type{3, 4, 1, 1});
  double expected = fc.bias().value(2);
  for (int i = 0; i < 12; ++i) expected += x.data()[12 + i] * fc.weight().value(2, i);
  REQUIRE(y(1, 2, 0, 0) == Approx(expected).epsilon(1e-14));
  check_gradients(fc, x, 8);
  REQUIRE_THROWS_WITH(fc.forward(random_tensor(1, 2, 2, 2, 1), false), Catch::Contains("8 features per sample"));
}

TEST_CASE("dropout: drop rate, scaling, identity in inference and gradients through its mask", "[layers][dropout]") {
  nn::dropout<B> drop(0.25, 42);
  const tensor ones = xt::ones<double>(std::vector<std::size_t>{4, 8, 16, 16});
  const tensor y = drop.forward(ones, true);
  std::size_t zeros = 0;
  for (double v : y) {
    REQUIRE((v == 0.0 || v == Approx(1 / 0.75)));
    zeros += v == 0.0;
  }
  REQUIRE(double(zeros) / double(y.size()) == Approx(0.25).margin(0.02));
  const tensor same = drop.forward(ones, false);
  REQUIRE(same == ones);
  nn::dropout<B> d2(0.5, 3);
  check_gradients<nn::dropout<B>>(d2, random_tensor(2, 2, 3, 3, 51), 9, [](nn::dropout<B>& d) { d.reseed(3); });
}

TEST_CASE("squeeze-and-excitation and a sequential conv-bn-act block", "[layers][squeeze_excitation][sequential]") {
  SECTION("squeeze-and-excitation") {
    nn::squeeze_excitation<B> se(4, 2);
    nn::rng r(5);
    se.init(r);
    se.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) { nn::normal(p.value, 1.0, r); });
    std::vector<std::string> names;
    se.visit_parameters("features.4.block.2", [&](const std::string& n, nn::parameter<B>&) { names.push_back(n); });
    REQUIRE(names == std::vector<std::string>{"features.4.block.2.fc1.weight", "features.4.block.2.fc1.bias",
                                              "features.4.block.2.fc2.weight", "features.4.block.2.fc2.bias"});
    check_gradients(se, random_tensor(2, 4, 3, 3, 61), 10);
  }
  SECTION("sequential names layers by position and chains their gradients") {
    nn::sequential<nn::conv2d<B>, nn::batch_norm2d<B>, nn::activation<B>> block(
        nn::conv2d<B>(conv_shape(2, 3, 3, 2, 1)), nn::batch_norm2d<B>(3), nn::activation<B>(nn::activation_kind::hard_swish));
    nn::rng r(6);
    block.init(r);
    std::vector<std::string> names;
    block.visit_parameters("features.0", [&](const std::string& n, nn::parameter<B>&) { names.push_back(n); });
    block.visit_buffers("features.0", [&](const std::string& n, B::array&, nn::buffer_kind) { names.push_back(n); });
    REQUIRE(names == std::vector<std::string>{"features.0.0.weight", "features.0.1.weight", "features.0.1.bias",
                                              "features.0.1.running_mean", "features.0.1.running_var",
                                              "features.0.1.num_batches_tracked"});
    check_gradients(block, random_tensor(2, 2, 5, 5, 71), 11);
  }
}

// Our loops give the same bits for any thread count; GEMMs split into column blocks may round
// differently (the BLAS picks kernels by block size), so across thread counts results agree to
// float precision, and for one thread count they are identical run after run.
TEST_CASE("results are repeatable for a thread count and agree across thread counts", "[layers][threads]") {
  using BF = tailor::backend::cpu;
  auto run = [](int threads) {
    BF::set_num_threads(threads);
    nn::conv2d<BF> conv(conv_shape(16, 32, 3, 1, 1));
    nn::batch_norm2d<BF> bn(32);
    nn::activation<BF> act(nn::activation_kind::hard_swish);
    nn::rng r(4);
    conv.init(r);
    BF::tensor x = BF::tensor::from_shape({8, 16, 24, 24});
    std::mt19937_64 g(9);
    std::normal_distribution<float> d(0.f, 1.f);
    for (auto& v : x) v = d(g);
    BF::tensor y = act.forward(bn.forward(conv.forward(x, true), true), true);
    BF::tensor dx = conv.backward(bn.backward(act.backward(y)));
    std::vector<float> out(y.begin(), y.end());
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), conv.weight().grad.begin(), conv.weight().grad.end());
    return out;
  };
  const auto one = run(1), two = run(2), two_again = run(2), three = run(3);
  BF::set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
  REQUIRE(two == two_again);
  REQUIRE(run(1) == one);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < one.size(); ++i) {
    worst = std::max({worst, double(std::abs(one[i] - two[i])), double(std::abs(one[i] - three[i]))});
    scale = std::max(scale, double(std::abs(one[i])));
  }
  REQUIRE(worst <= 1e-5 * scale);
}

TEST_CASE("the thread pool survives being resized between runs", "[layers][threads]") {
  namespace cd = tailor::backend::cpu_detail;
  auto& pool = cd::thread_pool::instance();
  const int saved = pool.threads();
  for (int i = 0; i < 200; ++i) {
    pool.set_threads(1 + i % 3);
    std::vector<int> hits(64, 0);
    pool.run(64, [&](std::int64_t b, std::int64_t e) {
      for (auto k = b; k < e; ++k) hits[std::size_t(k)] += 1;
    });
    REQUIRE(std::count(hits.begin(), hits.end(), 1) == 64);
  }
  pool.set_threads(saved);
}
