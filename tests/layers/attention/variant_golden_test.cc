// Whole attention blocks of every variant against PyTorch (tests/reference/variant_fixtures.py:
// dense f64 maps written from SPEC-attention.md, an explicit masked softmax per document): with
// the fixture's parameters, the block output on two packed documents and the gradients of
// sum(out * gout) w.r.t. x and every parameter must match; buffers the forward updates too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "framework/autograd/tape.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/io/safetensors.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduce.h"
#include "layers/attention/attention_layer.h"
#include "tests/support/fixtures.h"

namespace attn {
namespace {

using Attention = attnlab::config::Attention;

// Reads the fixture's metadata and remembers which keys were read, so a key the test does not
// understand (an option the reference used but the layer would not get) fails the test.
class Meta {
 public:
  explicit Meta(const SafetensorsFile& f) : f_(f) {}
  const std::string& str(const std::string& key) {
    auto it = f_.metadata.find(key);
    if (it == f_.metadata.end()) ATTN_FAIL(kInput, "{}: no metadata key '{}'", f_.path, key);
    used_.insert(key);
    return it->second;
  }
  int64_t integer(const std::string& key) { return std::stoll(str(key)); }
  double real(const std::string& key) { return std::stod(str(key)); }
  bool flag(const std::string& key) {
    const std::string& v = str(key);
    if (v != "true" && v != "false")
      ATTN_FAIL(kInput, "{}: {}='{}' is not a bool", f_.path, key, v);
    return v == "true";
  }
  std::vector<std::string> unread() const {
    std::vector<std::string> keys;
    for (const auto& [k, v] : f_.metadata)
      if (!used_.count(k)) keys.push_back(k);
    return keys;
  }

 private:
  const SafetensorsFile& f_;
  std::set<std::string> used_;
};

template <typename Enum>
Enum pick(Meta& m, const std::string& key, const std::map<std::string, Enum>& values) {
  const std::string& v = m.str(key);
  auto it = values.find(v);
  if (it == values.end()) ATTN_FAIL(kInput, "unknown {} '{}'", key, v);
  return it->second;
}

void read_gate(Meta& m, Attention& a) {
  a.mutable_gated()->set_granularity(pick<attnlab::config::Gated::Granularity>(
      m, "granularity",
      {{"elementwise", attnlab::config::Gated::ELEMENTWISE},
       {"headwise", attnlab::config::Gated::HEADWISE}}));
}

// The block the reference computed: shapes and shared options, then the variant's own block of
// the recipe's attention options (over the recipe defaults).
AttentionSpec spec_from(Meta& m) {
  AttentionSpec s;
  s.width = m.integer("width");
  s.heads = m.integer("heads");
  s.kv_heads = m.integer("kv_heads");
  s.head_dim = m.integer("head_dim");
  s.bias = m.flag("bias");
  s.rope = m.flag("rope");
  s.rope_options.base = m.real("rope_base");
  s.rope_options.pairing =
      pick<RopePairing>(m, "rope_pairing",
                        {{"half", RopePairing::kHalf}, {"interleaved", RopePairing::kInterleaved}});
  s.qk_norm_eps = m.real("qk_norm_eps");
  s.layer = static_cast<int>(m.integer("layer"));
  s.num_layers = static_cast<int>(m.integer("num_layers"));

  Attention a = config::load_recipe_from_string("", "defaults").attention();
  a.set_qk_norm(m.flag("qk_norm"));
  // Small tiles so the 5- and 7-token documents cross several query and key blocks.
  a.set_block_q(4);
  a.set_block_k(3);
  const std::string kind = m.str("kind");
  if (kind == "softmax") {
    a.set_kind(Attention::SOFTMAX);
  } else if (kind == "sink") {
    a.set_kind(Attention::SINK);
    a.mutable_sink()->set_mode(
        pick<attnlab::config::Sink::Mode>(m, "sink_mode",
                                          {{"learnable", attnlab::config::Sink::LEARNABLE},
                                           {"off_by_one", attnlab::config::Sink::OFF_BY_ONE}}));
  } else if (kind == "gated") {
    a.set_kind(Attention::GATED);
    read_gate(m, a);
  } else if (kind == "affine_scaled") {
    a.set_kind(Attention::AFFINE_SCALED);
    auto* o = a.mutable_affine();
    o->set_clip(pick<attnlab::config::AffineScaled::Clip>(
        m, "clip",
        {{"linear", attnlab::config::AffineScaled::LINEAR},
         {"sigmoid", attnlab::config::AffineScaled::SIGMOID}}));
    o->set_ma_momentum(m.real("ma_momentum"));
    o->set_gate(m.flag("affine_gate"));
    if (o->gate()) read_gate(m, a);
  } else if (kind == "differential" || kind == "grouped_differential") {
    a.set_kind(kind == "differential" ? Attention::DIFFERENTIAL : Attention::GROUPED_DIFFERENTIAL);
    a.mutable_differential()->set_lambda_init_std(m.real("lambda_init_std"));  // init only
    a.mutable_differential()->set_norm_eps(m.real("norm_eps"));
    if (kind == "grouped_differential")
      a.mutable_grouped_differential()->set_group_ratio(static_cast<int>(m.integer("group_ratio")));
  } else if (kind == "moh") {
    a.set_kind(Attention::MOH);
    a.mutable_moh()->set_shared_heads(static_cast<int>(m.integer("shared_heads")));
    a.mutable_moh()->set_top_k(static_cast<int>(m.integer("top_k")));
    a.mutable_moh()->set_balance_weight(m.real("balance_weight"));
  } else {
    ATTN_FAIL(kInput, "unknown attention kind '{}'", kind);
  }
  s.options = a;
  return s;
}

// max |got - want| / max(max |want|, 1e-3): the printed closeness of one tensor.
double relative_deviation(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) m = std::max(m, std::abs(g[i] - w[i]));
  return m / std::max(test::max_abs(want), 1e-3);
}

// f64 against f64: only summation order differs, so 1e-10 of each tensor's largest entry.
constexpr double kTol = 1e-10;

void run_golden(const std::string& name) {
  SCOPED_TRACE(name);
  const SafetensorsFile f = test::load_fixture("variants/" + name);
  Meta m(f);
  const AttentionSpec spec = spec_from(m);
  const bool training = m.flag("training");
  const std::vector<std::string> unread = m.unread();
  std::string unread_list;
  for (const std::string& k : unread) unread_list += " " + k;
  ASSERT_TRUE(unread.empty()) << name << ": metadata the test does not read:" << unread_list;

  ParamStore store(DType::kF64);
  std::unique_ptr<AttentionLayer> layer = make_attention(store, "attn", spec);
  store.finalize();
  store.initialize(1);  // buffers get their declared start; parameters are overwritten below

  std::set<std::string> layer_params, fixture_params;
  for (const auto& [tname, t] : f.tensors)
    if (tname.rfind("attn.", 0) == 0) fixture_params.insert(tname);
  for (const ParamInfo& p : store.params()) {
    if (!p.trainable) continue;  // buffers: state, compared after the forward where given
    layer_params.insert(p.name);
    ASSERT_TRUE(f.has(p.name)) << name << " lacks layer parameter " << p.name;
    ASSERT_TRUE(f.has("grad_" + p.name)) << name << " lacks the gradient of " << p.name;
    const Tensor& src = f.get(p.name);
    ASSERT_EQ(src.shape(), p.tensor.shape()) << p.name;
    Tensor view = p.tensor;  // a view of the flat buffer
    view.copy_from(src);
  }
  ASSERT_EQ(layer_params, fixture_params) << "parameter sets of layer and fixture differ";

  PackedSequences seq;
  seq.positions = f.get("positions");
  seq.cu_seqlens = f.get("cu_seqlens");
  Tensor x = f.get("x").clone().set_requires_grad();
  std::vector<Tensor> aux;
  AttentionContext ctx{seq, local_core_attention()};
  ctx.training = training;
  ctx.aux_losses = &aux;
  store.zero_grad();
  const Tensor out = layer->forward(x, ctx);
  // The objective: sum(out * gout), plus the block's auxiliary loss where the reference has one
  // (MoH's load balance, already weighted and averaged over layers).
  Tensor objective = sum(mul(out, f.get("gout")));
  if (f.has("aux_loss")) {
    ASSERT_EQ(aux.size(), 1u) << name << ": expected one auxiliary loss";
    objective = add(objective, aux[0]);
  } else {
    ASSERT_TRUE(aux.empty()) << "the reference has no auxiliary loss for " << name;
  }
  backward(objective);

  double worst = 0;
  std::string worst_name;
  auto compare = [&](const std::string& what, const Tensor& got, const Tensor& want) {
    const double scale = std::max(test::max_abs(want), 1e-3);
    EXPECT_TRUE(test::all_close(got, want, kTol * scale, 0.0))
        << name << " " << what << " (max |ref| " << scale << ")";
    const double dev = relative_deviation(got, want);
    if (dev >= worst) {
      worst = dev;
      worst_name = what;
    }
  };
  compare("out", out, f.get("out"));
  if (f.has("aux_loss")) compare("aux_loss", aux[0], f.get("aux_loss"));
  ASSERT_TRUE(x.has_grad());
  compare("grad_x", x.grad(), f.get("grad_x"));
  for (const ParamInfo& p : store.params())
    if (p.trainable) compare("grad_" + p.name, p.tensor.grad(), f.get("grad_" + p.name));
  // Buffers the forward must leave behind (affine: alpha_ma after the first training batch).
  int buffers_checked = 0;
  for (const auto& [tname, want] : f.tensors) {
    if (tname.rfind("after.", 0) != 0) continue;
    const ParamInfo& p = store.find(tname.substr(6));
    EXPECT_FALSE(p.trainable) << tname << " names a parameter, not a buffer";
    compare(tname, p.tensor, want);
    ++buffers_checked;
  }
  if (spec.options.kind() == Attention::AFFINE_SCALED) {
    EXPECT_TRUE(f.has("after.attn.alpha_ma")) << name << ": no expected alpha_ma";
  }
  std::printf("%s: worst deviation %.3g of max |ref| (%s), %zu parameters, %d buffers checked\n",
              name.c_str(), worst, worst_name.c_str(), layer_params.size(), buffers_checked);
}

TEST(Golden, AttentionSoftmax) {
  run_golden("softmax");
}
TEST(Golden, AttentionSoftmaxGqaRopeQkNorm) {
  run_golden("softmax_gqa_rope_qknorm");
}
TEST(Golden, AttentionSinkLearnable) {
  run_golden("sink_learnable");
}
TEST(Golden, AttentionSinkOffByOne) {
  run_golden("sink_off_by_one");
}
TEST(Golden, AttentionGatedElementwise) {
  run_golden("gated_elementwise");
}
TEST(Golden, AttentionGatedHeadwise) {
  run_golden("gated_headwise");
}
TEST(Golden, AttentionAffineLinear) {
  run_golden("affine_linear");
}
TEST(Golden, AttentionAffineSigmoid) {
  run_golden("affine_sigmoid");
}
TEST(Golden, AttentionAffineGated) {
  run_golden("affine_gated");
}
TEST(Golden, AttentionDifferential) {
  run_golden("differential");
}
TEST(Golden, AttentionDifferentialGqa) {
  run_golden("differential_gqa");
}
TEST(Golden, AttentionGroupedDifferentialR3) {
  run_golden("grouped_differential_r3");
}
TEST(Golden, AttentionGroupedDifferentialR1) {
  run_golden("grouped_differential_r1");
}
TEST(Golden, AttentionMoh) {
  run_golden("moh");
}

}  // namespace
}  // namespace attn
