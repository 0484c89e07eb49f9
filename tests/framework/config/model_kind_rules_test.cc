// model.kind (framework/config/model_kind_rules.cc): an ABMIL recipe refuses every GPT field it
// writes, a GPT recipe every ABMIL and MIL field, and the MIL data's fields fit their source;
// each error names the file:line (or --set) of the field.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"

namespace attn::config {
namespace {

namespace cfg = attnlab::config;

const std::string kPlanted =
    "name: \"m\"\n"                          // 1
    "model { kind: ABMIL }\n"                // 2
    "data { corpus: MIL batch_size: 4 }\n";  // 3

struct Case {
  const char* label;
  std::string text;
  std::vector<std::string> overrides;
  std::string where, phrase;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.label;
}

class ModelKindRule : public testing::TestWithParam<Case> {};

TEST_P(ModelKindRule, RefusesNamingTheField) {
  const Case& c = GetParam();
  try {
    load_recipe_from_string(c.text, "r.textproto", c.overrides);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_EQ(e.where(), c.where) << e.what();
    EXPECT_NE(e.message().find(c.phrase), std::string::npos) << e.what();
  }
}

// clang-format off
const Case kCases[] = {
    {"gpt_width_in_abmil", "model { kind: ABMIL\n width: 64 }\ndata { corpus: MIL }\n", {}, "r.textproto:2",
     "model.width: a GPT field; model.kind ABMIL does not use it"},
    {"attention_in_abmil", kPlanted, {"attention.sink.mode=OFF_BY_ONE"},
     "--set attention.sink.mode=OFF_BY_ONE", "attention.sink.mode: a GPT field"},
    {"adl_in_abmil", kPlanted + "losses { adl { weight: 1 } }\n", {}, "r.textproto:4",
     "losses.adl.weight: a GPT field"},
    {"aem_layers_in_abmil", kPlanted + "losses { aem { weight: 0.1 layers: 0 } }\n", {},
     "r.textproto:4", "losses.aem.layers: ABMIL has one attention map"},
    {"packing_in_abmil", kPlanted, {"data.pack_documents=false"}, "--set data.pack_documents=false",
     "data.pack_documents: a GPT field"},
    {"micro_batches_in_abmil", kPlanted + "train { micro_batches: 2 }\n", {}, "r.textproto:4",
     "train.micro_batches: a GPT field"},
    {"abmil_on_shards", "model { kind: ABMIL }\n", {}, "r.textproto:1",
     "data.corpus: model.kind ABMIL trains on bags"},
    {"abmil_on_cuda", kPlanted + "train { device: CUDA }\n", {}, "r.textproto:4",
     "ABMIL trains on the CPU only"},
    {"min_above_max", kPlanted, {"data.mil.min_instances=9", "data.mil.max_instances=8"},
     "--set data.mil.min_instances=9", "data.mil.min_instances: 9 is above data.mil.max_instances 8"},
    {"planted_with_dir", kPlanted, {"data.dir=elsewhere"}, "--set data.dir=elsewhere",
     "data.dir: PLANTED_KEYS bags are feature vectors"},
    {"planted_with_encoder", kPlanted, {"model.abmil.encoder_width=8"},
     "--set model.abmil.encoder_width=8", "no word encoder"},
    {"planted_without_bags", kPlanted, {"data.mil.val_bags=0"}, "--set data.mil.val_bags=0",
     "data.mil.val_bags: PLANTED_KEYS generates this many bags"},
    {"brown_with_key_signal", kPlanted, {"data.mil.source=BROWN_GENRE", "data.mil.key_signal=3"},
     "--set data.mil.key_signal=3", "data.mil.key_signal: planted-key fields"},
    {"brown_without_dir", kPlanted, {"data.mil.source=BROWN_GENRE", "data.dir="},
     "--set data.dir=", "data.dir: BROWN_GENRE reads the shards"},
    {"abmil_field_in_gpt", "model { abmil { hidden: 8 } }\n", {}, "r.textproto:1",
     "model.abmil.hidden: an ABMIL field; set model.kind ABMIL"},
    {"mil_corpus_for_gpt", "data { corpus: MIL }\n", {}, "r.textproto:1",
     "data.corpus: MIL bags train model.kind ABMIL"},
    {"mil_field_for_gpt", "data { mil { seed: 3 } }\n", {}, "r.textproto:1",
     "data.mil.seed: a MIL data field"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Table, ModelKindRule, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.label);
                         });

TEST(ModelKind, AcceptsBothMilSourcesAndTheGpt) {
  const Recipe planted = load_recipe_from_string(kPlanted + "losses { aem { weight: 0.1 } }\n", "r",
                                                 {"data.mil.key_signal=3"});
  EXPECT_EQ(planted.model().kind(), cfg::Model::ABMIL);
  EXPECT_EQ(planted.data().mil().key_signal(), 3);
  const Recipe brown = load_recipe_from_string(
      kPlanted, "r",
      {"data.mil.source=BROWN_GENRE", "data.dir=data/brown", "model.abmil.encoder_width=16"});
  EXPECT_EQ(brown.data().mil().source(), cfg::Mil::BROWN_GENRE);
  EXPECT_EQ(load_recipe_from_string("", "r", {}).model().kind(), cfg::Model::GPT);
  // A resolved recipe lists every field at its value; the other kind's stay at their defaults.
  EXPECT_EQ(load_recipe_from_string(recipe_to_text(brown), "resolved", {}).data().dir(),
            "data/brown");
  // Writing a field at its default value asks for nothing the run does not do.
  EXPECT_NO_THROW(load_recipe_from_string(kPlanted + "attention { kind: SOFTMAX }\n", "r", {}));
}

}  // namespace
}  // namespace attn::config
