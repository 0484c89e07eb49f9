#include "framework/config/unbuilt_features.h"

namespace attn::config {

namespace cfg = attnlab::config;

const std::vector<UnbuiltFeature>& unbuilt_features() {
  static const std::vector<UnbuiltFeature> features = {
      {"the FOCUS_SFT procedure",
       "procedure.kind",
       {"procedure.focus_sft."},
       [](const cfg::Recipe& r) { return r.procedure().kind() == cfg::Procedure::FOCUS_SFT; }},
      {"CAD (core attention disaggregation): use DATA_PARALLEL",
       "parallel.mode",
       {"parallel.cad."},
       [](const cfg::Recipe& r) { return r.parallel().mode() == cfg::Parallel::CAD; }},
  };
  return features;
}

}  // namespace attn::config
