// Capabilities the recipe schema already describes but no run can perform yet. A recipe that
// switches one on is refused at validation ("file:line: losses.adl.weight: ADL ... is not built
// yet"), never run as if the field were absent. Remove a feature's entry in the change that
// builds it; tests/framework/config/recipe_fields_test.cc proves every schema field either acts
// or belongs to an entry here.
#pragma once

#include <string_view>
#include <vector>

#include "framework/config/recipe.pb.h"

namespace attn::config {

struct UnbuiltFeature {
  std::string_view what;          // "ADL (attention diversification loss)"
  std::string_view switch_field;  // the field that turns it on: "losses.adl.weight"
  // Fields read only while the feature is on (its options): inert otherwise, like the option
  // blocks of the attention kinds not chosen. Field paths or prefixes ending in '.'.
  std::vector<std::string_view> options;
  bool (*active)(const attnlab::config::Recipe&);
};

const std::vector<UnbuiltFeature>& unbuilt_features();

}  // namespace attn::config
