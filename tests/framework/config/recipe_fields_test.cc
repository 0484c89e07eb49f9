// Every recipe field acts or is refused. The schema is walked by reflection, so a field added to
// recipe.proto fails this test until it is listed below as read by the run (with the place that
// reads it) or belongs to an entry of unbuilt_features(), which validation refuses.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "framework/config/recipe_loader.h"
#include "framework/config/unbuilt_features.h"
#include "framework/core/error.h"

namespace attn::config {
namespace {

namespace pb = google::protobuf;

// Fields the run reads, and where. Options of one attention kind are read when that kind is
// chosen (the proto says so); the unbuilt features' options are listed in unbuilt_features.cc.
const std::set<std::string> kActing = {
    "name",  // recipes/run/run_dir.cc: runs/<name>
    // layers/models/gpt.cc and its blocks
    "model.vocab_size",
    "model.width",
    "model.layers",
    "model.heads",
    "model.kv_heads",
    "model.mlp_ratio",
    "model.mlp",
    "model.norm",
    "model.norm_eps",
    "model.positional",
    "model.rope_base",
    "model.rope_pairing",
    "model.tied_head",
    "model.bias",
    "model.seq_len",
    "model.init_std",
    "model.dtype",  // validation: only F32 is accepted (parameters are f32)
    // recipes/train/trainer.cc picks the trainer; the GPT fields are refused for ABMIL
    // (framework/config/model_kind_rules.cc), model.abmil for the GPT
    "model.kind",
    // recipes/train/mil_trainer.cc (layers/models/abmil.cc, word_bag_encoder.cc)
    "model.abmil.hidden",
    "model.abmil.attention_dim",
    "model.abmil.encoder_width",
    "model.abmil.encoder_buckets",
    "model.abmil.init_std",
    // layers/attention: projected_attention.cc, core_attention.cc, variants/*.cc
    "attention.kind",
    "attention.qk_norm",
    "attention.tap",
    "attention.window",
    "attention.block_q",
    "attention.block_k",
    "attention.sink.mode",
    "attention.gated.granularity",
    "attention.affine.clip",
    "attention.affine.ma_momentum",
    "attention.affine.gate",
    "attention.differential.lambda_init_std",
    "attention.differential.norm_eps",
    "attention.grouped_differential.group_ratio",
    "attention.moh.shared_heads",
    "attention.moh.top_k",
    "attention.moh.balance_weight",
    // recipes/train/data_source.cc, recipes/data/loader.cc
    "data.corpus",
    "data.dir",
    "data.train",
    "data.val",
    "data.tokenizer",
    "data.bpe_vocab_size",
    "data.batch_size",
    "data.pack_documents",
    "data.test",
    "data.examples.mask",
    "data.examples.targets",
    "data.synthetic.task",
    "data.synthetic.seed",
    "data.synthetic.train_examples",
    "data.synthetic.val_examples",
    "data.synthetic.test_examples",
    "data.synthetic.num_pairs",
    "data.synthetic.num_queries",
    "data.synthetic.num_distractors",
    "data.synthetic.length",
    // recipes/data/loader.cc (BOS before documents/windows), recipes/data/tokenizer.cc
    "data.bos",
    // recipes/data/synthetic/bigram_backcopy.cc, recipes/train/data_source.cc
    "data.bigram_backcopy.seed",
    "data.bigram_backcopy.vocab",
    "data.bigram_backcopy.triggers",
    "data.bigram_backcopy.logit_std",
    "data.bigram_backcopy.val_sequences",
    // recipes/data/mil_bags.cc (data.corpus MIL); the other source's fields are refused
    "data.mil.source",
    "data.mil.seed",
    "data.mil.train_bags",
    "data.mil.val_bags",
    "data.mil.min_instances",
    "data.mil.max_instances",
    "data.mil.instance_dim",
    "data.mil.key_fraction",
    "data.mil.key_signal",
    // optim/ through recipes/train/from_recipe.cc
    "optim.kind",
    "optim.lr",
    "optim.beta1",
    "optim.beta2",
    "optim.eps",
    "optim.weight_decay",
    "optim.momentum",
    "optim.schedule",
    "optim.warmup_steps",
    "optim.min_lr_ratio",
    "optim.grad_clip",
    // recipes/train/trainer.cc
    "train.steps",
    "train.seed",
    "train.eval_every",
    "train.eval_steps",
    "train.checkpoint_every",
    "train.keep_last",
    "train.device",
    "train.precision",
    "train.micro_batches",
    "train.init_from",
    "train.freeze",
    // parallel/ through the trainer
    "parallel.mode",
    "parallel.zero1",
    "parallel.deterministic_reduce",
    "parallel.bucket_mb",
    "parallel.timeout_s",
    "parallel.reduce_groups",
    // parallel/cad/cad_executor.cc through the trainer
    "parallel.cad.eps",
    "parallel.cad.min_slice",
    "parallel.cad.buffer_mb",
    "parallel.cad.backward",
    "parallel.cad.fixed_order",  // always fixed order: false asks for less and gets the same
    "parallel.cad.ping_pong",    // false: sequential CAD; true is unbuilt
    "parallel.cad.cost_model",
    "parallel.cad.calibration",  // read with cost_model CALIBRATED
    // recipes/procedures/: NONE the plain step, FOCUS_SFT focus_sft.cc
    "procedure.kind",
    "procedure.focus_sft.top_fraction",
    "procedure.focus_sft.lora_rank",
    "procedure.focus_sft.lora_alpha",
    "procedure.focus_sft.inner_steps",
    "procedure.focus_sft.inner_lr",
    "procedure.focus_sft.inner_clip",
    // layers/losses/{aem,adl}.cc through layers/losses/recipe_losses.cc and the trainer
    "losses.adl.weight",
    "losses.adl.theta",
    "losses.adl.pairwise",
    "losses.adl.layers",
    "losses.adl.materialise",
    "losses.aem.weight",
    "losses.aem.layers",
    "losses.aem.heads",
    // recipes/train/evaluate.cc, layers/attention/attention_diagnostics.cc
    "eval.batch_size",
    "eval.diagnostics",
    "eval.sink_threshold",
    // recipes/run/metrics_log.cc, the trainer
    "log.every",
    "log.attn_every",
    "log.tensorboard",
    "log.run_dir",
};

// How each unbuilt feature is switched on (keyed by its switch field): as a --set, and as a file
// whose line `line` turns it on.
struct SwitchOn {
  std::string set, text;
  int line;
  std::string base = "";  // the recipe the --set applies to
};
const std::map<std::string, SwitchOn> kSwitchOn = {
    {"parallel.cad.ping_pong",
     {"parallel.cad.ping_pong=true",
      "parallel {\n  mode: CAD\n  cad {\n    ping_pong: true\n  }\n}\n", 4,
      "parallel { mode: CAD }\n"}},
};

void leaf_fields(const pb::Descriptor* type, const std::string& prefix,
                 std::vector<std::string>* out) {
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* f = type->field(i);
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
      leaf_fields(f->message_type(), prefix + f->name() + ".", out);
    else
      out->push_back(prefix + f->name());
  }
}

// An option of an unbuilt feature. Its switch field is not one: its "off" value acts (weight 0,
// procedure NONE) and is listed in kActing.
bool governed_by_unbuilt(const std::string& field) {
  for (const UnbuiltFeature& u : unbuilt_features())
    if (field == u.switch_field) return false;
  for (const UnbuiltFeature& u : unbuilt_features())
    for (std::string_view o : u.options)
      if (o.back() == '.' ? field.rfind(o, 0) == 0 : field == o) return true;
  return false;
}

TEST(RecipeFields, EveryFieldActsOrIsRefused) {
  std::vector<std::string> fields;
  leaf_fields(attnlab::config::Recipe::descriptor(), "", &fields);
  ASSERT_GT(fields.size(), 90u);  // the walk reaches the whole schema
  for (const std::string& f : fields) {
    const bool acts = kActing.count(f) > 0, refused = governed_by_unbuilt(f);
    EXPECT_TRUE(acts || refused) << f << ": a recipe field that neither acts nor is refused; "
                                 << "list it in kActing or in unbuilt_features.cc";
    EXPECT_FALSE(acts && refused) << f << ": listed both as acting and as unbuilt";
  }
  for (const std::string& f : kActing)
    EXPECT_NE(std::find(fields.begin(), fields.end(), f), fields.end())
        << f << " is listed as acting but is not in recipe.proto";
}

TEST(RecipeFields, EverySwitchedOnUnbuiltFeatureIsRefusedAtItsLine) {
  for (const UnbuiltFeature& u : unbuilt_features()) {
    const std::string field(u.switch_field);
    SCOPED_TRACE(field);
    ASSERT_TRUE(kSwitchOn.count(field)) << "no way to switch on " << u.what << " in this test";
    EXPECT_TRUE(kActing.count(field)) << "a switch field's off value must act";
    const SwitchOn& on = kSwitchOn.at(field);
    try {
      load_recipe_from_string(on.text, "r.textproto");
      ADD_FAILURE() << "a recipe switching on " << u.what << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.where(), "r.textproto:" + std::to_string(on.line)) << on.text;
      EXPECT_NE(e.message().find(field + ": "), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("not built yet"), std::string::npos) << e.message();
    }
    // As an override: refused naming the --set.
    try {
      load_recipe_from_string(on.base, "r.textproto", {on.set});
      ADD_FAILURE() << "--set " << on.set << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "--set " + on.set);
      EXPECT_NE(e.message().find("not built yet"), std::string::npos) << e.message();
    }
  }
}

TEST(RecipeFields, OptionsOfAnInactiveFeatureAreInert) {
  // Like the option blocks of the attention kinds not chosen: accepted while the feature is off.
  const Recipe r =
      load_recipe_from_string("parallel { mode: NONE cad { min_slice: 8 } }\n", "r.textproto");
  EXPECT_EQ(r.parallel().cad().min_slice(), 8);
}

}  // namespace
}  // namespace attn::config
