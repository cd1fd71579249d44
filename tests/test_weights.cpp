// Weights in .safetensors files: the format (round trips, conversions, files written by the PyPI
// package, every malformed file), loading by name with its one clear error, and parity with
// PyTorch: torchvision models at reduced width (tests/fixtures/torch_parity/make_fixtures.py) give
// the same logits, in evaluation and training mode, and the same gradients.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tailor/backend/cpu.hpp>
#include <tailor/nn/backbones/mobilenet_v3.hpp>
#include <tailor/nn/backbones/mobilenet_v3_timm.hpp>
#include <tailor/nn/backbones/resnet.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/nn/layers/linear.hpp>
#include <tailor/nn/safetensors.hpp>
#include <tailor/nn/weights.hpp>
#include <tailor/task/classification_network.hpp>

#include "test_support.hpp"

namespace {

namespace nn = tailor::nn;
using tailor::error;
using tailor::failure_code;
using Catch::Matchers::Contains;
using F = tailor::backend::cpu;
using D = tailor::backend::cpu_t<double>;

const std::filesystem::path parity_dir = std::filesystem::path(TAILOR_TEST_DATA_DIR) / "torch_parity";

// load_options with some fields set (designated initializers leave GCC 12's -Wextra warning
// about the fields not named).
nn::load_options options(auto&& set) {
  nn::load_options o;
  set(o);
  return o;
}

// A file from a header (padded as the reference writer pads) and a data section.
std::vector<std::uint8_t> raw_file(std::string header, const std::vector<std::uint8_t>& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<std::uint8_t> out(8 + header.size() + data.size());
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::copy(header.begin(), header.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + std::ptrdiff_t(header.size()));
  return out;
}

// The error read_safetensors throws for these bytes written to `name`.
std::string read_error(const tailor::testing::temp_dir& dir, const std::string& name, const std::vector<std::uint8_t>& bytes) {
  const auto path = dir.path / name;
  tailor::write_file_atomically(path, std::span<const std::uint8_t>(bytes));
  try {
    (void)nn::read_safetensors(path);
  } catch (const error& e) {
    REQUIRE(e.code() == failure_code::invalid_argument);
    const std::string what = e.what();
    INFO(what);
    REQUIRE_THAT(what, Contains(path.string()));  // every error names the file
    return what;
  }
  FAIL("no error for " << name);
  return {};
}

template <class B>
std::map<std::string, std::vector<typename B::value_type>> snapshot(auto&& model) {
  std::map<std::string, std::vector<typename B::value_type>> out;
  model.visit_parameters("", [&](const std::string& n, nn::parameter<B>& p) { out[n].assign(p.value.begin(), p.value.end()); });
  model.visit_buffers("", [&](const std::string& n, typename B::array& a, nn::buffer_kind) { out[n].assign(a.begin(), a.end()); });
  return out;
}

template <class B>
void randomize(auto&& model, std::uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<double> d(0, 1);
  model.visit_parameters("", [&](const std::string&, nn::parameter<B>& p) {
    for (auto& v : p.value) v = typename B::value_type(d(r));
  });
  model.visit_buffers("", [&](const std::string&, typename B::array& a, nn::buffer_kind k) {
    for (auto& v : a) v = typename B::value_type(k == nn::buffer_kind::counter ? double(r() % 100000) : std::abs(d(r)) + 0.1);
  });
}

std::string load_error(auto&& model, const nn::safetensors_file& file, const nn::load_options& o = {}) {
  try {
    (void)nn::load_weights(model, file, o);
  } catch (const error& e) {
    REQUIRE(e.code() == failure_code::invalid_argument);
    return e.what();
  }
  FAIL("load_weights did not fail");
  return {};
}

// A resnet18 at width 1/8 with a head, as one model.
template <class B>
struct resnet_classifier {
  nn::resnet_backbone<B> backbone;
  nn::linear<B> head;
  explicit resnet_classifier(int classes, double width = 0.125)
      : backbone(nn::make_resnet<B>(18, {width})), head(backbone.feature_dim(), classes) {}
  auto model() { return nn::with_head(backbone, head, "fc"); }
};

}  // namespace

TEST_CASE("safetensors: a round trip keeps every byte, dtype, shape and the metadata", "[weights][safetensors]") {
  tailor::testing::temp_dir dir("weights");
  nn::safetensors_map tensors;
  const std::vector<float> f{1.5f, -2.25f, 3.0e-38f, 7.0f, 0.0f, -0.0f};
  const std::vector<double> d{1.0 / 3.0, -1e300};
  const std::vector<std::int64_t> counter{1234567890123LL};
  tensors["b.weight"] = nn::safetensor::from_values<float>(f, {2, 3});
  tensors["a.double"] = nn::safetensor::from_values<double>(d, {2});
  tensors["c.num_batches_tracked"] = nn::safetensor::from_values<std::int64_t>(counter, {});
  tensors["d.empty"] = nn::safetensor::from_values<float>(std::vector<float>{}, {0, 4});
  nn::safetensor half;
  half.dtype = nn::tensor_dtype::f16;
  half.shape = {3};
  half.bytes = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};
  tensors["e.half"] = half;
  const nn::safetensors_metadata metadata{{"format", "pt"}, {"note", "caf\xc3\xa9"}};
  const auto path = dir.path / "round.safetensors";
  nn::write_safetensors(path, tensors, metadata);

  const auto bytes = tailor::read_file(path);
  std::uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  REQUIRE(header_len % 8 == 0);  // the data section starts 8-aligned, as the reference writer pads
  REQUIRE(bytes[8] == '{');
  const auto file = nn::read_safetensors(path);
  REQUIRE(file.source == path.string());
  REQUIRE(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const auto& u = file.at(name);
    REQUIRE(u.dtype == t.dtype);
    REQUIRE(u.shape == t.shape);
    REQUIRE(u.bytes == t.bytes);
  }
  REQUIRE(file.at("c.num_batches_tracked").values<std::int64_t>() == counter);
  REQUIRE(file.at("b.weight").values<float>() == f);
  REQUIRE(file.at("a.double").values<double>() == d);
  // The same content gives the same bytes (names sorted, largest elements first, so aligned).
  REQUIRE(nn::serialize_safetensors(tensors, metadata) == bytes);
  const auto header = std::string(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(header_len));
  REQUIRE(header.find("\"a.double\"") != std::string::npos);
  REQUIRE_THROWS_WITH(file.at("nope"), Contains("no tensor named \"nope\"") && Contains(path.string()));
}

TEST_CASE("safetensors: F16, BF16, F64 and integers convert to float", "[weights][safetensors]") {
  auto tensor = [](nn::tensor_dtype dt, std::vector<std::uint8_t> b) {
    nn::safetensor t;
    t.dtype = dt;
    t.shape = {b.size() / nn::dtype_size(dt)};
    t.bytes = std::move(b);
    return t;
  };
  // 1, -2, 65504 (largest half), 2^-24 (smallest subnormal), +inf
  const auto h = tensor(nn::tensor_dtype::f16, {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C}).to_float();
  REQUIRE(h[0] == 1.0f);
  REQUIRE(h[1] == -2.0f);
  REQUIRE(h[2] == 65504.0f);
  REQUIRE(h[3] == std::ldexp(1.0f, -24));
  REQUIRE(std::isinf(h[4]));
  REQUIRE(std::isnan(tensor(nn::tensor_dtype::f16, {0x01, 0x7E}).to_float()[0]));
  const auto bf = tensor(nn::tensor_dtype::bf16, {0x80, 0x3F, 0x49, 0xC0}).to_float();  // 1, -3.140625
  REQUIRE(bf[0] == 1.0f);
  REQUIRE(bf[1] == -3.140625f);
  const std::vector<double> d{0.1, -123456.789};
  REQUIRE(nn::safetensor::from_values<double>(d, {2}).to_float() == std::vector<float>{0.1f, -123456.789f});
  const std::vector<std::int64_t> i{-5, 1 << 20};
  REQUIRE(nn::safetensor::from_values<std::int64_t>(i, {2}).to_float() == std::vector<float>{-5.0f, 1048576.0f});
  const std::vector<std::int32_t> j{7, -9};
  REQUIRE(nn::safetensor::from_values<std::int32_t>(j, {2}).values<double>() == std::vector<double>{7, -9});
  REQUIRE(tensor(nn::tensor_dtype::f8_e4m3, {0x38, 0xC4}).to_float() == std::vector<float>{1.0f, -3.0f});
  REQUIRE(tensor(nn::tensor_dtype::f8_e5m2, {0x3C, 0xC2}).to_float() == std::vector<float>{1.0f, -3.0f});
  for (auto dt : nn::all_tensor_dtypes) REQUIRE(nn::parse_tensor_dtype(nn::to_string(dt)) == dt);
  REQUIRE_FALSE(nn::parse_tensor_dtype("F128"));
}

TEST_CASE("safetensors: files written by the PyPI safetensors package load", "[weights][safetensors][torch]") {
  const auto inputs = nn::read_safetensors(parity_dir / "inputs.safetensors");
  REQUIRE(inputs.at("input").dtype == nn::tensor_dtype::f32);
  REQUIRE(inputs.at("input").shape == std::vector<std::size_t>{2, 3, 64, 64});
  REQUIRE(inputs.at("r").shape == std::vector<std::size_t>{2, 10});
  REQUIRE(inputs.metadata.at("torch").starts_with("1.13"));
  const auto weights = nn::read_safetensors(parity_dir / "resnet18_w0125.safetensors");
  REQUIRE(weights.metadata.at("format") == "pt");
  REQUIRE(weights.tensors.size() == 122);
  const auto& counter = weights.at("layer3.1.bn2.num_batches_tracked");
  REQUIRE(counter.dtype == nn::tensor_dtype::i64);
  REQUIRE(counter.shape.empty());
  REQUIRE(counter.values<std::int64_t>()[0] > 0);
  REQUIRE(weights.at("conv1.weight").shape == std::vector<std::size_t>{8, 3, 7, 7});
  REQUIRE(weights.at("fc.weight").shape == std::vector<std::size_t>{10, 64});

  // tailor's writer lays the data out as the reference writer does (largest dtype first, then by
  // name): the data sections are byte for byte the same (the header's key order may differ).
  for (const char* name : {"resnet18_w0125.safetensors", "mobilenet_v3_large_w025.safetensors"}) {
    INFO(name);
    const auto original = tailor::read_file(parity_dir / name);
    const auto file = nn::parse_safetensors(original, name);
    const auto ours = nn::serialize_safetensors(file.tensors, file.metadata);
    std::uint64_t n0, n1;
    std::memcpy(&n0, original.data(), 8);
    std::memcpy(&n1, ours.data(), 8);
    REQUIRE(std::equal(original.begin() + 8 + std::ptrdiff_t(n0), original.end(), ours.begin() + 8 + std::ptrdiff_t(n1), ours.end()));
    REQUIRE(nn::parse_safetensors(ours).tensors.size() == file.tensors.size());
  }
}

TEST_CASE("safetensors: every malformed file is refused with the file, the tensor and the fix", "[weights][safetensors]") {
  tailor::testing::temp_dir dir("weights");
  const std::vector<std::uint8_t> eight(8, 0);
  const std::string fix = "write it again";
  auto tensor_json = [](std::string name, std::string dtype, std::string shape, std::string offsets) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":{}}})", name, dtype, shape, offsets);
  };
  const std::string two = tensor_json("a.weight", "F32", "[2]", "[0,8]");

  SECTION("shorter than the header length") {
    REQUIRE_THAT(read_error(dir, "short.safetensors", {1, 2, 3}), Contains("shorter than the 8-byte header length") && Contains(fix));
  }
  SECTION("truncated: the last tensor runs past the end") {
    nn::safetensors_map m;
    const std::vector<float> v(16, 1.0f);
    m["first"] = nn::safetensor::from_values<float>(v, {16});
    m["second"] = nn::safetensor::from_values<float>(v, {4, 4});
    auto bytes = nn::serialize_safetensors(m);
    bytes.resize(bytes.size() - 10);
    const auto e = read_error(dir, "truncated.safetensors", bytes);
    REQUIRE_THAT(e, Contains("tensor \"second\"") && Contains("out of range") && Contains("truncated") && Contains(fix));
  }
  SECTION("truncated inside the header") {
    auto bytes = raw_file("{" + two + "}", eight);
    bytes.resize(20);
    REQUIRE_THAT(read_error(dir, "cut.safetensors", bytes), Contains("only 12 bytes follow") && Contains("truncated"));
  }
  SECTION("header length too large") {
    auto bytes = raw_file("{" + two + "}", eight);
    const std::uint64_t huge = 1ull << 40;
    std::memcpy(bytes.data(), &huge, 8);
    REQUIRE_THAT(read_error(dir, "huge.safetensors", bytes), Contains("header length is 1099511627776 bytes") && Contains(fix));
    const std::uint64_t past = bytes.size();
    std::memcpy(bytes.data(), &past, 8);
    REQUIRE_THAT(read_error(dir, "past.safetensors", bytes), Contains("truncated"));
  }
  SECTION("not JSON, not an object, no '{'") {
    REQUIRE_THAT(read_error(dir, "json.safetensors", raw_file("{\"a.weight\": {\"dtype\": \"F32\",", eight)),
                 Contains("not valid JSON") && Contains(fix));
    REQUIRE_THAT(read_error(dir, "start.safetensors", raw_file("[1, 2]", {})), Contains("does not start with '{'"));
    REQUIRE_THAT(read_error(dir, "utf8.safetensors", raw_file("{\"\xff\":1}", {})), Contains("not valid JSON"));
    REQUIRE_THAT(read_error(dir, "entry.safetensors", raw_file(R"({"a.weight": 3})", {})),
                 Contains("tensor \"a.weight\" is not described by a JSON object"));
  }
  SECTION("offsets out of range") {
    const auto e = read_error(dir, "range.safetensors", raw_file("{" + tensor_json("a.weight", "F32", "[4]", "[0,16]") + "}", eight));
    REQUIRE_THAT(e, Contains("tensor \"a.weight\"") && Contains("[0, 16]") && Contains("out of range"));
    REQUIRE_THAT(read_error(dir, "backwards.safetensors", raw_file("{" + tensor_json("b", "F32", "[0]", "[8,0]") + "}", eight)),
                 Contains("tensor \"b\"") && Contains("end before they begin"));
    REQUIRE_THAT(read_error(dir, "negative.safetensors", raw_file("{" + tensor_json("b", "F32", "[2]", "[-1,7]") + "}", eight)),
                 Contains("tensor \"b\"") && Contains("not non-negative integers"));
  }
  SECTION("overlapping tensors") {
    const auto e = read_error(dir, "overlap.safetensors",
                              raw_file("{" + tensor_json("a", "F32", "[2]", "[0,8]") + "," + tensor_json("b", "F32", "[1]", "[4,8]") + "}",
                                       eight));
    REQUIRE_THAT(e, Contains("tensor \"b\"") && Contains("overlaps tensor \"a\"") && Contains(fix));
  }
  SECTION("gaps and trailing bytes") {
    REQUIRE_THAT(read_error(dir, "gap.safetensors", raw_file("{" + tensor_json("a", "F32", "[1]", "[4,8]") + "}", eight)),
                 Contains("tensor \"a\" starts at byte 4") && Contains("belong to no tensor"));
    REQUIRE_THAT(read_error(dir, "trailing.safetensors", raw_file("{" + tensor_json("a", "F32", "[1]", "[0,4]") + "}", eight)),
                 Contains("tensor \"a\" is last") && Contains("4 bytes belong to no tensor"));
  }
  SECTION("unknown dtype") {
    const auto e = read_error(dir, "dtype.safetensors", raw_file("{" + tensor_json("a.weight", "Q4", "[2]", "[0,8]") + "}", eight));
    REQUIRE_THAT(e, Contains("tensor \"a.weight\" has the unknown dtype \"Q4\"") && Contains("Known dtypes: BOOL") &&
                        Contains("BF16"));
  }
  SECTION("shape and bytes disagree") {
    const auto e = read_error(dir, "shape.safetensors", raw_file("{" + tensor_json("a.weight", "F32", "[3]", "[0,8]") + "}", eight));
    REQUIRE_THAT(e, Contains("tensor \"a.weight\" is F32 of shape [3]: 12 bytes, but its data_offsets [0, 8] hold 8 bytes"));
    REQUIRE_THAT(read_error(dir, "shape2.safetensors", raw_file("{" + tensor_json("a", "F32", "[2.5]", "[0,8]") + "}", eight)),
                 Contains("tensor \"a\" has a shape entry that is not a non-negative integer"));
    REQUIRE_THAT(read_error(dir, "overflow.safetensors",
                            raw_file("{" + tensor_json("a", "F32", "[4294967296,4294967296,16]", "[0,8]") + "}", eight)),
                 Contains("tensor \"a\"") && Contains("too many"));
  }
  SECTION("duplicate names and bad metadata") {
    REQUIRE_THAT(read_error(dir, "dup.safetensors", raw_file("{" + two + "," + tensor_json("a.weight", "F32", "[0]", "[8,8]") + "}", eight)),
                 Contains("tensor \"a.weight\" appears twice"));
    REQUIRE_THAT(read_error(dir, "meta.safetensors", raw_file(R"({"__metadata__":{"epoch":3},)" + two + "}", eight)),
                 Contains("metadata \"epoch\" is not a string"));
    REQUIRE_THAT(read_error(dir, "nodtype.safetensors", raw_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight)),
                 Contains("tensor \"a\" has no \"dtype\""));
  }
  SECTION("a missing file is an io_error naming it") {
    try {
      (void)nn::read_safetensors(dir.path / "absent.safetensors");
      FAIL("no error");
    } catch (const error& e) {
      REQUIRE(e.code() == failure_code::io_error);
      REQUIRE_THAT(std::string(e.what()), Contains("absent.safetensors"));
    }
  }
  SECTION("well-formed edge cases load: unpadded header, zero-size tensors, a header with only metadata") {
    const auto path = dir.path / "edge.safetensors";
    tailor::write_file_atomically(path, std::span<const std::uint8_t>(raw_file(
                                            "{" + tensor_json("z", "F32", "[0,3]", "[8,8]") + "," + two + "}", eight, false)));
    const auto f = nn::read_safetensors(path);
    REQUIRE(f.at("z").numel() == 0);
    REQUIRE(f.at("a.weight").numel() == 2);
    REQUIRE(nn::parse_safetensors(raw_file(R"({"__metadata__":{"k":"v"}})", {})).metadata.at("k") == "v");
  }
}

TEST_CASE("weights: save and load give back every parameter and buffer bit for bit", "[weights]") {
  tailor::testing::temp_dir dir("weights");
  SECTION("float backend, resnet18 with its head") {
    resnet_classifier<F> a(10), b(10);
    randomize<F>(a.model(), 1);
    randomize<F>(b.model(), 2);
    const auto path = dir.path / "r18.safetensors";
    nn::save_weights(a.model(), path, {{"classes", "10"}});
    const auto file = nn::read_safetensors(path);
    REQUIRE(file.metadata.at("classes") == "10");
    REQUIRE(file.metadata.at("format") == "pt");
    REQUIRE(file.at("bn1.num_batches_tracked").dtype == nn::tensor_dtype::i64);
    REQUIRE(file.at("bn1.num_batches_tracked").shape.empty());
    REQUIRE(file.at("layer1.0.bn1.running_var").dtype == nn::tensor_dtype::f32);
    const auto report = nn::load_weights(b.model(), path);
    REQUIRE(report.complete());
    REQUIRE(report.loaded.size() == file.tensors.size());
    const auto sa = snapshot<F>(a.model()), sb = snapshot<F>(b.model());
    REQUIRE(sa.size() == 122);
    for (const auto& [name, values] : sa) {
      INFO(name);
      REQUIRE(sb.at(name).size() == values.size());
      REQUIRE(std::memcmp(sb.at(name).data(), values.data(), values.size() * sizeof(float)) == 0);
    }
    const auto again = dir.path / "again.safetensors";
    nn::save_weights(b.model(), again, {{"classes", "10"}});
    REQUIRE(tailor::read_file(again) == tailor::read_file(path));
  }
  SECTION("double backend, mobilenet_v3_small: F64 on disk") {
    auto a = nn::mobilenet_v3_small::make<D>({0.25});
    auto b = nn::mobilenet_v3_small::make<D>({0.25});
    randomize<D>(a, 3);
    const auto path = dir.path / "m.safetensors";
    nn::save_weights(a, path);
    REQUIRE(nn::read_safetensors(path).at("features.0.0.weight").dtype == nn::tensor_dtype::f64);
    (void)nn::load_weights(b, path);
    REQUIRE(snapshot<D>(a) == snapshot<D>(b));
  }
  SECTION("a prefix on the whole model (the stem of a resnet is the unit named \"\")") {
    auto net = nn::make_resnet<F>(18, {0.125});
    std::vector<std::string> names;
    net.visit_parameters("backbone", [&](const std::string& n, nn::parameter<F>&) { names.push_back(n); });
    REQUIRE(names.front() == "backbone.conv1.weight");
  }
}

TEST_CASE("weights: a file that does not fit gives one error listing everything", "[weights]") {
  tailor::testing::temp_dir dir("weights");
  resnet_classifier<F> ten(10), five(5), wide(10, 0.25);
  randomize<F>(ten.model(), 4);
  randomize<F>(wide.model(), 5);
  randomize<F>(five.model(), 6);
  const auto file10 = nn::parse_safetensors(nn::serialize_safetensors(nn::to_safetensors(ten.model())), "ten.safetensors");

  SECTION("another number of classes: the head's shapes, and the way out") {
    const auto before = snapshot<F>(five.model());
    const auto e = load_error(five.model(), file10);
    REQUIRE(snapshot<F>(five.model()) == before);  // a failed load changes nothing
    REQUIRE_THAT(e, Contains("ten.safetensors: the weights do not fit the model") && Contains("2 have another shape"));
    REQUIRE_THAT(e, Contains("fc.weight: file [10, 64], model [5, 64]") && Contains("fc.bias: file [10], model [5]"));
    REQUIRE_THAT(e, Contains("only \"fc\" differs (10 outputs in the file, 5 in the model)") &&
                        Contains("skip_prefixes = {\"fc\"}") && Contains("strict = false"));

    const auto skipped = nn::load_weights(five.model(), file10, options([](auto& o) { o.skip_prefixes = {"fc"}; }));
    REQUIRE(skipped.complete());
    REQUIRE(skipped.skipped == std::vector<std::string>{"fc.bias", "fc.weight"});
    REQUIRE(skipped.loaded.size() == 120);
    const auto loose = nn::load_weights(five.model(), file10, options([](auto& o) { o.strict = false; }));
    REQUIRE(loose.mismatched.size() == 2);
    REQUIRE(loose.loaded.size() == 120);
    const auto s5 = snapshot<F>(five.model()), s10 = snapshot<F>(ten.model());
    REQUIRE(s5.at("layer4.1.conv2.weight") == s10.at("layer4.1.conv2.weight"));
    REQUIRE(s5.at("layer4.1.bn2.num_batches_tracked") == s10.at("layer4.1.bn2.num_batches_tracked"));
    REQUIRE(s5.at("fc.bias") == before.at("fc.bias"));  // left as it was
  }
  SECTION("another width: every shape listed (capped, with the count), the width named") {
    const auto e = load_error(ten.model(), nn::parse_safetensors(nn::serialize_safetensors(nn::to_safetensors(wide.model())), "wide"));
    REQUIRE_THAT(e, Contains("conv1.weight: file [16, 3, 7, 7], model [8, 3, 7, 7]") && Contains("... and ") &&
                        Contains("have another shape or type") && Contains("(most have 2x the model's channels)") &&
                        Contains("backbone_options.width"));
  }
  SECTION("missing and unexpected names: a \"module.\" prefix, a missing head, a deeper model, timm") {
    nn::safetensors_map prefixed;
    for (const auto& [n, t] : file10.tensors) prefixed["module." + n] = t;
    const auto pf = nn::parse_safetensors(nn::serialize_safetensors(prefixed), "dp.safetensors");
    const auto e = load_error(ten.model(), pf);
    REQUIRE_THAT(e, Contains("122 of the model's 122 tensors are missing") && Contains("122 of the file's 122 tensors are not in "
                                                                                        "the model"));
    REQUIRE_THAT(e, Contains("(no tensor matches)") && Contains("with \"module.\" in front") && Contains("load_options.rename"));
    REQUIRE_THAT(e, Contains("missing from the file (122):") && Contains("... and 110 more"));
    const auto renamed = nn::load_weights(ten.model(), pf, options([](auto& o) {
      o.rename = [](std::string_view n) { return std::string(n.substr(std::string_view("module.").size())); };
    }));
    REQUIRE(renamed.complete());
    // strict = false does not make a file that matches nothing pass silently
    REQUIRE_THAT(load_error(ten.model(), pf, options([](auto& o) { o.strict = false; })), Contains("no tensor matches"));

    nn::safetensors_map headless = file10.tensors;
    headless.erase("fc.weight");
    headless.erase("fc.bias");
    const auto hf = nn::parse_safetensors(nn::serialize_safetensors(headless), "backbone.safetensors");
    REQUIRE_THAT(load_error(ten.model(), hf),
                 Contains("missing from the file (2):\n    fc.weight\n    fc.bias") && Contains("nothing under \"fc\""));
    REQUIRE(nn::load_weights(ten.backbone, hf).complete());  // the backbone alone takes it whole

    auto extra = file10.tensors;
    extra["layer1.2.conv1.weight"] = extra.at("layer1.1.conv1.weight");
    extra["layer1.2.bn1.weight"] = extra.at("layer1.1.bn1.weight");
    const auto deeper = load_error(ten.model(), nn::parse_safetensors(nn::serialize_safetensors(extra), "r34"));
    REQUIRE_THAT(deeper, Contains("in the file, not in the model (2):\n    layer1.2.bn1.weight\n    layer1.2.conv1.weight") &&
                             Contains("the file has \"layer1.2\", which the model does not"));
    const auto loose = nn::load_weights(ten.model(), nn::parse_safetensors(nn::serialize_safetensors(extra), "r34"), options([](auto& o) { o.strict = false; }));
    REQUIRE(loose.unexpected.size() == 2);
    REQUIRE(loose.loaded.size() == 122);

    nn::safetensors_map timm;
    const std::vector<float> w(8 * 3 * 3 * 3, 0.5f);
    timm["conv_stem.weight"] = nn::safetensor::from_values<float>(w, {8, 3, 3, 3});
    timm["blocks.0.0.conv_dw.weight"] = nn::safetensor::from_values<float>(w, {8, 3, 3, 3});
    auto mobile = nn::mobilenet_v3_small::make<F>({0.25});
    REQUIRE_THAT(load_error(mobile, nn::parse_safetensors(nn::serialize_safetensors(timm), "timm")),
                 Contains("look like timm's") && Contains("features.0.0.weight"));
  }
  SECTION("dtypes: integers cannot be parameters; counters take integers or floats") {
    auto t = file10.tensors;
    const std::vector<std::int64_t> ints(10, 1);
    t["fc.bias"] = nn::safetensor::from_values<std::int64_t>(ints, {10});
    const std::vector<float> count{42.0f};
    t["bn1.num_batches_tracked"] = nn::safetensor::from_values<float>(count, {});
    const auto f = nn::parse_safetensors(nn::serialize_safetensors(t), "ints");
    REQUIRE_THAT(load_error(ten.model(), f), Contains("fc.bias: the file holds I64 [10], a parameter needs floating-point values"));
    (void)nn::load_weights(ten.model(), f, options([](auto& o) { o.skip_prefixes = {"fc."}; }));
    REQUIRE(snapshot<F>(ten.model()).at("bn1.num_batches_tracked")[0] == 42.0f);
  }
  SECTION("options: buffers = false, rename dropping and colliding, empty prefixes") {
    resnet_classifier<F> fresh(10);
    const auto before = snapshot<F>(fresh.model());
    const auto r = nn::load_weights(fresh.model(), file10, options([](auto& o) { o.buffers = false; }));
    REQUIRE(r.complete());
    REQUIRE(r.loaded.size() == 62);
    REQUIRE(snapshot<F>(fresh.model()).at("bn1.running_var") == before.at("bn1.running_var"));
    REQUIRE(snapshot<F>(fresh.model()).at("bn1.weight") == snapshot<F>(ten.model()).at("bn1.weight"));
    auto drop_head = [](std::string_view n) { return n.starts_with("fc.") ? std::string() : std::string(n); };
    REQUIRE_THAT(load_error(fresh.model(), file10, options([&](auto& o) { o.rename = drop_head; })), Contains("nothing under \"fc\""));
    REQUIRE_THAT(load_error(fresh.model(), file10, options([](auto& o) { o.rename = [](std::string_view) { return std::string("x"); }; })),
                 Contains("maps both") && Contains("to \"x\""));
    REQUIRE_THAT(load_error(fresh.model(), file10, options([](auto& o) { o.skip_prefixes = {""}; })), Contains("empty skip prefix"));
    // The head alone: its names are "weight" and "bias"; take the file's "fc.*" and leave the rest out.
    const auto head_only = nn::load_weights(fresh.head, file10, options([](auto& o) {
      o.rename = [](std::string_view n) { return n.starts_with("fc.") ? std::string(n.substr(3)) : std::string(); };
    }));
    REQUIRE(head_only.complete());
    REQUIRE(head_only.loaded == std::vector<std::string>{"weight", "bias"});
    REQUIRE(head_only.skipped.size() == 120);
  }
}

// ---- parity with PyTorch ------------------------------------------------------------------------

namespace {

template <class T>
double relative_difference(const std::vector<T>& ours, const std::vector<float>& theirs) {
  REQUIRE(ours.size() == theirs.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    diff = std::max(diff, std::abs(double(ours[i]) - double(theirs[i])));
    scale = std::max(scale, std::abs(double(theirs[i])));
  }
  return diff / scale;
}

template <class Tensor>
std::vector<typename Tensor::value_type> flat(const Tensor& t) {
  return {t.data(), t.data() + t.size()};
}

// Loads <model>.safetensors into backbone + head, runs the fixture's input in evaluation and in
// training mode, back-propagates r and compares logits and the listed gradients with torch's.
// The file's names go through options.rename, the expected gradients' names too.
template <class B>
void check_parity(const std::string& model, auto&& make_backbone, std::string_view head_name, double tolerance,
                  const std::filesystem::path& dir = parity_dir, const nn::load_options& options = {}) {
  using T = typename B::value_type;
  auto backbone = make_backbone();
  nn::linear<B> head(backbone.feature_dim(), 10);
  const auto report = nn::load_weights(nn::with_head(backbone, head, head_name), dir / (model + ".safetensors"), options);
  REQUIRE(report.complete());
  const auto inputs = nn::read_safetensors(parity_dir / "inputs.safetensors");
  const auto expected = nn::read_safetensors(dir / (model + ".expected.safetensors"));

  auto x = B::tensor::from_shape({2, 3, 64, 64});
  const auto xv = inputs.at("input").values<T>();
  std::copy(xv.begin(), xv.end(), x.data());
  auto r = B::tensor::from_shape({2, 10, 1, 1});
  const auto rv = inputs.at("r").values<T>();
  std::copy(rv.begin(), rv.end(), r.data());

  std::vector<std::string> lines;
  auto compare = [&](const std::string& what, const std::vector<T>& ours, const std::string& key, double tol) {
    const double d = relative_difference(ours, expected.at(key).to_float());
    lines.push_back(fmt::format("{} {:.2e}", what, d));
    INFO(model << " " << what << ": max |tailor - torch| / max |torch| = " << d);
    CHECK(d <= tol);
  };
  const auto eval_logits = head.forward(backbone.forward(x, false), false);
  compare("eval", flat(eval_logits), "eval_logits", tolerance);
  compare("eval(torch f32)", flat(eval_logits), "f32.eval_logits", 1e-4);

  nn::with_head(backbone, head, head_name).visit_parameters("", [](const std::string&, nn::parameter<B>& p) { p.zero_grad(); });
  const auto train_logits = head.forward(backbone.forward(x, true), true);
  compare("train", flat(train_logits), "train_logits", tolerance);
  compare("train(torch f32)", flat(train_logits), "f32.train_logits", 1e-4);
  backbone.backward(head.backward(r));

  std::map<std::string, std::vector<T>> grads;
  nn::with_head(backbone, head, head_name).visit_parameters("", [&](const std::string& n, nn::parameter<B>& p) {
    grads[n].assign(p.grad.begin(), p.grad.end());
  });
  std::string names = expected.metadata.at("gradients");
  REQUIRE(!names.empty());
  for (std::size_t start = 0; start <= names.size();) {
    const auto comma = std::min(names.find(',', start), names.size());
    const std::string name = names.substr(start, comma - start);
    const std::string ours = options.rename ? options.rename(name) : name;
    INFO(name << " (tailor's " << ours << ")");
    REQUIRE(grads.contains(ours));
    compare("grad " + name, grads.at(ours), "grad." + name, tolerance);
    start = comma + 1;
  }
  if (std::getenv("TAILOR_PARITY_VERBOSE"))
    fmt::print("parity {} ({}): {}\n", model, sizeof(T) == 4 ? "float" : "double", fmt::join(lines, ", "));
}

}  // namespace

TEST_CASE("parity with PyTorch: torchvision's widths at reduced width", "[weights][torch]") {
  // make_resnet(18, {0.125}) is 8-16-32-64 and make_mobilenet_v3(..., {0.25}) rounds as
  // torchvision's width_mult = 0.25: strict loading of torchvision's state_dicts checks every shape.
  auto r = nn::make_resnet<F>(18, {0.125});
  REQUIRE(r.feature_dim() == 64);
  auto s = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::small, {0.25});
  REQUIRE(s.feature_dim() == 256);  // torchvision: last_channel = _make_divisible(1024 * 0.25) = 256
  auto l = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::large, {0.25});
  REQUIRE(l.feature_dim() == 320);
}

TEST_CASE("parity with PyTorch: logits and gradients (float)", "[weights][torch][parity]") {
  SECTION("resnet18 at width 1/8") {
    check_parity<F>("resnet18_w0125", [] { return nn::make_resnet<F>(18, {0.125}); }, nn::resnet<18>::head_name, 1e-4);
  }
  SECTION("mobilenet_v3_small at width 0.25") {
    check_parity<F>("mobilenet_v3_small_w025", [] { return nn::mobilenet_v3_small::make<F>({0.25, 0.0}); },
                    nn::mobilenet_v3_small::head_name, 1e-4);
  }
  SECTION("mobilenet_v3_large at width 0.25") {
    check_parity<F>("mobilenet_v3_large_w025", [] { return nn::mobilenet_v3_large::make<F>({0.25, 0.0}); },
                    nn::mobilenet_v3_large::head_name, 1e-4);
  }
}

TEST_CASE("parity with PyTorch in double: the float differences are rounding only", "[weights][torch][parity]") {
  // The references were computed in float64 and stored as float32: double gets within their rounding.
  check_parity<D>("resnet18_w0125", [] { return nn::make_resnet<D>(18, {0.125}); }, "fc", 1e-6);
  check_parity<D>("mobilenet_v3_small_w025", [] { return nn::mobilenet_v3_small::make<D>({0.25, 0.0}); }, "classifier.3", 1e-6);
  check_parity<D>("mobilenet_v3_large_w025", [] { return nn::mobilenet_v3_large::make<D>({0.25, 0.0}); }, "classifier.3", 1e-6);
}

TEST_CASE("parity with PyTorch: a torchvision state_dict loads whole into classification_network", "[weights][torch]") {
  tailor::task::classification_network<nn::resnet<18>, F> net(10, {0.125});
  REQUIRE(nn::load_weights(net, parity_dir / "resnet18_w0125.safetensors").complete());
  const auto inputs = nn::read_safetensors(parity_dir / "inputs.safetensors");
  auto x = F::tensor::from_shape({2, 3, 64, 64});
  const auto xv = inputs.at("input").to_float();
  std::copy(xv.begin(), xv.end(), x.data());
  const auto logits = net.forward(x, false);
  const auto expected = nn::read_safetensors(parity_dir / "resnet18_w0125.expected.safetensors");
  REQUIRE(relative_difference(flat(logits), expected.at("eval_logits").to_float()) <= 1e-4);
}

// ---- timm's MobileNetV3 and ResNet files ---------------------------------------------------------

namespace {

const std::filesystem::path timm_dir = std::filesystem::path(TAILOR_TEST_DATA_DIR) / "timm_parity";

nn::backbone_options timm_options(double width) {
  nn::backbone_options o;
  o.width = width;
  o.dropout = 0.0;
  o.convention = nn::weights_convention::timm;
  return o;
}

}  // namespace

TEST_CASE("timm: MobileNetV3 names map to torchvision's, block by block", "[weights][timm]") {
  using S = nn::mobilenet_v3_size;
  auto name = [](S s, std::string_view n) { return nn::timm_mobilenet_v3_name(s, n); };
  CHECK(name(S::small, "conv_stem.weight") == "features.0.0.weight");
  CHECK(name(S::small, "bn1.running_var") == "features.0.1.running_var");
  // the first block is depthwise-separable; small's has squeeze-excitation, large's has not
  CHECK(name(S::small, "blocks.0.0.conv_dw.weight") == "features.1.block.0.0.weight");
  CHECK(name(S::small, "blocks.0.0.se.conv_reduce.bias") == "features.1.block.1.fc1.bias");
  CHECK(name(S::small, "blocks.0.0.conv_pw.weight") == "features.1.block.2.0.weight");
  CHECK(name(S::large, "blocks.0.0.conv_pw.weight") == "features.1.block.1.0.weight");
  CHECK(name(S::large, "blocks.0.0.bn2.num_batches_tracked") == "features.1.block.1.1.num_batches_tracked");
  // stages flatten: small's blocks.2.1 is its 5th block; blocks.5.0 the last 1x1 conv
  CHECK(name(S::small, "blocks.1.1.conv_pwl.weight") == "features.3.block.2.0.weight");  // no SE
  CHECK(name(S::small, "blocks.2.1.se.conv_expand.weight") == "features.5.block.2.fc2.weight");
  CHECK(name(S::small, "blocks.2.1.bn3.bias") == "features.5.block.3.1.bias");
  CHECK(name(S::small, "blocks.5.0.conv.weight") == "features.12.0.weight");
  CHECK(name(S::large, "blocks.6.0.bn1.weight") == "features.16.1.weight");
  CHECK(name(S::large, "blocks.3.3.conv_dw.weight") == "features.10.block.1.0.weight");
  CHECK(name(S::small, "conv_head.weight") == "classifier.0.weight");
  CHECK(name(S::small, "classifier.bias") == "classifier.3.bias");
  // what it does not know comes back unchanged, for load_weights to list
  for (std::string_view n : {"blocks.6.0.conv.weight", "blocks.0.1.conv_dw.weight", "blocks.x.0.conv_dw.weight",
                             "blocks.1.0.se.gate.weight", "head.fc.weight"})
    CHECK(name(S::small, n) == n);
}

TEST_CASE("timm: the widths of timm's recipe at reduced width", "[weights][timm]") {
  // mobilenetv3_small at 0.25: the stem stays 16 (fix_stem), expansions come from the scaled inputs
  // (8 x 4.5 = 36 -> 40, torchvision has 24), the head stays 1024.
  auto s = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::small, timm_options(0.25));
  REQUIRE(s.feature_dim() == 1024);
  auto l = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::large, timm_options(0.25));
  REQUIRE(l.feature_dim() == 1280);
  const auto names = snapshot<F>(s);
  CHECK(names.at("features.0.0.weight").size() == 16 * 3 * 3 * 3);
  CHECK(names.at("features.2.block.0.0.weight").size() == 40 * 8);
  // at width 1 both recipes give the same shapes; only the norms' eps and momentum differ
  auto t = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::large, timm_options(1.0));
  auto v = nn::make_mobilenet_v3<F>(nn::mobilenet_v3_size::large, {1.0, 0.0});
  std::map<std::string, std::vector<std::size_t>> ts, vs;
  t.visit_parameters("", [&](const std::string& n, nn::parameter<F>& p) { ts[n].assign(p.value.shape().begin(), p.value.shape().end()); });
  v.visit_parameters("", [&](const std::string& n, nn::parameter<F>& p) { vs[n].assign(p.value.shape().begin(), p.value.shape().end()); });
  CHECK(ts == vs);
}

TEST_CASE("timm: every tensor of timm's full-width models has its place in tailor's", "[weights][timm]") {
  // names.json lists the names and shapes of the variants timm publishes ImageNet weights for; a
  // file with exactly those tensors (F8 zeros, to stay small) must load completely.
  const auto doc = nlohmann::json::parse(tailor::testing::read_text(timm_dir / "names.json"));
  REQUIRE(doc.at("models").size() == 7);
  for (const auto& [variant, entry] : doc.at("models").items()) {
    INFO(variant);
    nn::safetensors_map tensors;
    for (const auto& t : entry.at("tensors")) {
      nn::safetensor st;
      st.dtype = t[0].get<std::string>().ends_with("num_batches_tracked") ? nn::tensor_dtype::i64 : nn::tensor_dtype::f8_e4m3;
      st.shape = t[1].get<std::vector<std::size_t>>();
      st.bytes.assign(st.numel() * nn::dtype_size(st.dtype), 0);
      tensors.emplace(t[0].get<std::string>(), std::move(st));
    }
    const auto file = nn::parse_safetensors(nn::serialize_safetensors(tensors), variant);
    const double width = entry.at("width").get<double>();
    const std::string size = entry.at("size").get<std::string>();
    if (size.empty()) {
      REQUIRE(nn::detect_weights_convention(file) == nn::weights_convention::torchvision);
      auto backbone = nn::make_resnet<F>(variant == "resnet18" ? 18 : 34, timm_options(width));
      nn::linear<F> head(backbone.feature_dim(), 1000);
      CHECK(nn::load_weights(nn::with_head(backbone, head, "fc"), file).complete());
    } else {
      REQUIRE(nn::detect_weights_convention(file) == nn::weights_convention::timm);
      const auto s = size == "small" ? nn::mobilenet_v3_size::small : nn::mobilenet_v3_size::large;
      auto backbone = nn::make_mobilenet_v3<F>(s, timm_options(width));
      nn::linear<F> head(backbone.feature_dim(), 1000);
      const auto report = nn::load_weights(nn::with_head(backbone, head, "classifier.3"), file, nn::timm_mobilenet_v3_load_options(s));
      CHECK(report.complete());
      CHECK(report.loaded.size() == entry.at("tensors").size());
    }
  }
}

TEST_CASE("parity with timm: MobileNetV3 logits and gradients", "[weights][timm][parity]") {
  using S = nn::mobilenet_v3_size;
  SECTION("mobilenetv3_small at 0.25 (float)") {
    check_parity<F>("mobilenetv3_small_025", [] { return nn::make_mobilenet_v3<F>(S::small, timm_options(0.25)); },
                    "classifier.3", 1e-4, timm_dir, nn::timm_mobilenet_v3_load_options(S::small));
  }
  SECTION("mobilenetv3_large at 0.25 (float)") {
    check_parity<F>("mobilenetv3_large_025", [] { return nn::make_mobilenet_v3<F>(S::large, timm_options(0.25)); },
                    "classifier.3", 1e-4, timm_dir, nn::timm_mobilenet_v3_load_options(S::large));
  }
  SECTION("both in double: the differences are rounding only") {
    check_parity<D>("mobilenetv3_small_025", [] { return nn::make_mobilenet_v3<D>(S::small, timm_options(0.25)); },
                    "classifier.3", 1e-6, timm_dir, nn::timm_mobilenet_v3_load_options(S::small));
    check_parity<D>("mobilenetv3_large_025", [] { return nn::make_mobilenet_v3<D>(S::large, timm_options(0.25)); },
                    "classifier.3", 1e-6, timm_dir, nn::timm_mobilenet_v3_load_options(S::large));
  }
  SECTION("without the convention the file does not fit, and the error says what to do") {
    auto backbone = nn::make_mobilenet_v3<F>(S::small, {0.25, 0.0});
    nn::linear<F> head(backbone.feature_dim(), 10);
    const auto file = nn::read_safetensors(timm_dir / "mobilenetv3_small_025.safetensors");
    REQUIRE_THAT(load_error(nn::with_head(backbone, head, "classifier.3"), file),
                 Contains("weights_convention::timm") && Contains("timm_mobilenet_v3_load_options"));
  }
}
