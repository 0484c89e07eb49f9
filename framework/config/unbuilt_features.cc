#include "framework/config/unbuilt_features.h"

namespace attn::config {

namespace cfg = attnlab::config;

const std::vector<UnbuiltFeature>& unbuilt_features() {
  static const std::vector<UnbuiltFeature> features = {
      {"CAD (core attention disaggregation): use DATA_PARALLEL",
       "parallel.mode",
       {"parallel.cad."},
       [](const cfg::Recipe& r) { return r.parallel().mode() == cfg::Parallel::CAD; }},
  };
  return features;
}

}  // namespace attn::config
