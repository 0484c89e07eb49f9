#include "framework/config/unbuilt_features.h"

namespace attn::config {

namespace cfg = attnlab::config;

const std::vector<UnbuiltFeature>& unbuilt_features() {
  static const std::vector<UnbuiltFeature> features = {
      {"CAD ping-pong (two half-batches overlapping communication): set it false",
       "parallel.cad.ping_pong",
       {"parallel.cad.ping_pong_split"},
       [](const cfg::Recipe& r) {
         return r.parallel().mode() == cfg::Parallel::CAD && r.parallel().cad().ping_pong();
       }},
  };
  return features;
}

}  // namespace attn::config
