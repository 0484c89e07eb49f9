// Each variant's cross-field rules live beside its factory and reach recipe validation once
// installed: the same file:line (or --set) reporting as the built-in rules.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"
#include "layers/attention/attention_layer.h"

namespace attn {
namespace {

struct RuleCase {
  const char* label;
  std::string text;
  std::vector<std::string> overrides;
  std::string where, phrase;
};

TEST(VariantRecipeRules, NameWhereAndWhat) {
  install_attention_recipe_rules();
  const std::vector<RuleCase> cases = {
      {"differential_odd_heads",
       "model {\n  width: 240\n  heads: 5\n}\nattention {\n  kind: DIFFERENTIAL\n}\n",
       {},
       "bad.textproto:3",
       "model.heads: DIFFERENTIAL pairs query/key maps: needs an even number, got 5"},
      {"grouped_differential_split",
       "attention {\n  kind: GROUPED_DIFFERENTIAL\n  grouped_differential { group_ratio: 2 }\n}\n",
       {"model.heads=8"},
       "--set model.heads=8",
       "8 query/key maps do not split 2:1"},
      {"affine_adl",
       "attention {\n  kind: AFFINE_SCALED\n}\nlosses {\n  adl { weight: 1 }\n}\n",
       {},
       "bad.textproto:5",
       "losses.adl.weight: AFFINE_SCALED weights alpha softmax + beta are not a probability map"},
      {"affine_window",
       "attention {\n  kind: AFFINE_SCALED\n  window: 64\n}\n",
       {},
       "bad.textproto:3",
       "attention.window: AFFINE_SCALED spreads beta"},
      {"moh_top_k",
       "attention {\n  kind: MOH\n  moh { top_k: 4 }\n}\n",
       {},
       "bad.textproto:3",
       "attention.moh.top_k: 4 exceeds the 3 routed heads"},
  };
  for (const RuleCase& c : cases) {
    SCOPED_TRACE(c.label);
    try {
      config::load_recipe_from_string(c.text, "bad.textproto", c.overrides);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.where(), c.where);
      EXPECT_NE(e.message().find(c.phrase), std::string::npos) << e.message();
    }
  }
  // A kind's rules bind only when that kind is chosen.
  EXPECT_NO_THROW(
      config::load_recipe_from_string("attention { kind: SOFTMAX window: 64 }\n", "ok.textproto"));
}

}  // namespace
}  // namespace attn
