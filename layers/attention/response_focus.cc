#include "layers/attention/response_focus.h"

#include <vector>

#include "framework/core/error.h"

namespace attn {

namespace {

constexpr int32_t kContextRole = static_cast<int32_t>(SegmentKind::kContext);
constexpr int32_t kResponseRole = static_cast<int32_t>(SegmentKind::kResponse);

}  // namespace

void request_response_focus(const PackedSequences& seq, const Tensor& q, CoreAttentionOptions& o) {
  if (!seq.roles.defined()) return;
  // The key mass carries one weighting per call; attention losses do not ask for it in the
  // forward of a diagnosed batch (ADL's fused form would, and must then share it).
  ATTN_CHECK(!o.stats.key_mass, "response focus: the key mass is already requested");
  const std::vector<int32_t> roles = seq.roles.to_vector<int32_t>();
  const int64_t n = q.size(0), heads = q.size(1);
  ATTN_CHECK(static_cast<int64_t>(roles.size()) == n, "response focus: {} roles for {} tokens",
             roles.size(), n);
  std::vector<double> w(static_cast<size_t>(n * heads), 0.0);
  for (int64_t i = 0; i < n; ++i)
    if (roles[i] == kResponseRole)
      for (int64_t h = 0; h < heads; ++h) w[i * heads + h] = 1.0;
  o.stats.first_token_mass = true;
  o.stats.key_mass = true;
  o.stats.key_mass_row_weights =
      Tensor::from_vector<double>({n, heads}, w).to(q.dtype()).to(q.device());
}

void record_response_focus(int layer, const PackedSequences& seq, const AttentionStats& st,
                           AttentionDiagnostics& d) {
  if (!seq.roles.defined()) return;
  ATTN_CHECK(st.key_mass.defined() && st.first_token_mass.defined(),
             "response focus: request_response_focus() was not called for this forward");
  const std::vector<int32_t> roles = seq.roles.to_vector<int32_t>();
  const std::vector<int32_t> pos = seq.positions.to_vector<int32_t>();
  const std::vector<double> first = st.first_token_mass.to_vector<double>();
  const std::vector<double> mass = st.key_mass.to_vector<double>();
  const int64_t n = static_cast<int64_t>(roles.size()), heads = st.key_mass.size(1);
  double sink = 0, context = 0, queries = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (roles[i] == kResponseRole) {
      queries += 1;
      for (int64_t h = 0; h < heads; ++h) sink += first[i * heads + h];
    }
    // Key j's mass summed over the response queries that see it: context keys but position 0.
    if (roles[i] == kContextRole && pos[i] > 0)
      for (int64_t h = 0; h < heads; ++h) context += mass[i * heads + h];
  }
  if (queries > 0)
    d.record_response_focus(layer, sink, context, queries * static_cast<double>(heads));
}

}  // namespace attn
