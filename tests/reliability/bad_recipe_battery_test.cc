// The bad-input battery, part 1: recipe files, --set overrides and command-line flags. Every
// case exits 2 (bad input) with a message naming the field or flag; none creates a run.
#include <gtest/gtest.h>

#include "tests/reliability/battery.h"

namespace attn::test {
namespace {

// A recipe file that `attnlab recipe` must refuse, naming `fragment`.
BadInput bad_recipe(const std::string& name, const std::string& text, const std::string& fragment) {
  return {name, "recipe {file}", 2, fragment, recipe_file(text)};
}
BadInput bad_extra(const std::string& name, const std::string& extra, const std::string& fragment) {
  return bad_recipe(name, recipe_with(extra), fragment);
}
// One that validates but must be refused by `attnlab train` before a run directory exists (it
// needs the data or the built model to tell).
BadInput bad_to_train(const std::string& name, const std::string& extra,
                      const std::string& fragment) {
  return {name, "train {file} --quiet --run-dir {dir}/out", 2, fragment,
          recipe_file(recipe_with(extra))};
}

TEST(BadInputBattery, RecipeFiles) {
  const std::vector<BadInput> cases = {
      // Syntax, located as file:line.
      bad_recipe("unterminated block", "name: \"x\"\nmodel { width: 32\n", "case.textproto:"),
      bad_recipe("unknown top-level field", "name: \"x\"\nmodle { }\n", "modle"),
      bad_recipe("unknown nested field", "name: \"x\"\nmodel { widht: 3 }\n", "widht"),
      bad_recipe("unknown enum value", "name: \"x\"\nattention { kind: FOO }\n", "FOO"),
      bad_recipe("string for an integer", "name: \"x\"\nmodel { width: \"a\" }\n",
                 ":2: Expected integer"),
      bad_recipe("float for an integer", "name: \"x\"\nmodel { layers: 1.5 }\n",
                 ":2: Expected integer"),
      bad_recipe("integer overflow", "name: \"x\"\nmodel { width: 99999999999 }\n",
                 ":2: Integer out of range"),
      bad_recipe("duplicate scalar", "name: \"a\"\nname: \"b\"\n", "name"),
      bad_recipe("missing colon", "name \"x\"\n", "case.textproto:1"),
      bad_recipe("binary garbage", std::string("\x00\xff\xfe garbage", 11), "case.textproto"),
      bad_recipe("empty file", "", "empty"),
      bad_recipe("only comments", "# nothing here\n\n", "empty"),
      bad_recipe("unbalanced brace", "name: \"x\" }\n", "case.textproto:1"),
      bad_recipe("unquoted string", "name: x\n", "case.textproto:1"),
      // Ranges.
      bad_extra("negative width", "model { width: -32 }", "model.width"),
      bad_extra("zero layers", "model { layers: 0 }", "model.layers"),
      bad_extra("too many layers", "model { layers: 5000 }", "model.layers"),
      bad_extra("zero heads", "model { heads: 0 }", "model.heads"),
      bad_extra("width not divisible by heads", "model { width: 30 heads: 4 }", "model.heads"),
      bad_extra("kv_heads not dividing heads", "model { heads: 4 kv_heads: 3 }", "kv_heads"),
      bad_extra("kv_heads above heads", "model { heads: 2 kv_heads: 4 }", "kv_heads"),
      bad_extra("zero seq_len", "model { seq_len: 0 }", "model.seq_len"),
      bad_extra("zero mlp_ratio", "model { mlp_ratio: 0 }", "mlp_ratio"),
      bad_extra("fractional hidden width", "model { mlp_ratio: 1.01 }", "mlp_ratio"),
      bad_to_train("vocab mismatch", "model { vocab_size: 300 }", "model.vocab_size"),
      bad_extra("huge width", "model { width: 1000000000 heads: 1 }", "parameters"),
      bad_extra("negative init_std", "model { init_std: -1 }", "init_std"),
      bad_extra("nan norm_eps", "model { norm_eps: nan }", "norm_eps"),
      bad_extra("zero rope_base", "model { positional: ROPE rope_base: 0 }", "rope_base"),
      bad_extra("negative lr", "optim { lr: -1 }", "optim.lr"),
      bad_extra("nan lr", "optim { lr: nan }", "optim.lr"),
      bad_extra("inf lr", "optim { lr: inf }", "optim.lr"),
      bad_extra("beta1 of 1", "optim { beta1: 1 }", "beta1"),
      bad_extra("negative beta2", "optim { beta2: -0.1 }", "beta2"),
      bad_extra("zero eps", "optim { eps: 0 }", "optim.eps"),
      bad_extra("negative weight decay", "optim { weight_decay: -0.1 }", "weight_decay"),
      bad_extra("negative grad_clip", "optim { grad_clip: -1 }", "grad_clip"),
      bad_extra("min_lr_ratio above 1", "optim { min_lr_ratio: 2 }", "min_lr_ratio"),
      bad_extra("warmup past steps", "optim { warmup_steps: 100 }", "warmup_steps"),
      bad_extra("negative warmup", "optim { warmup_steps: -1 }", "warmup_steps"),
      bad_extra("zero steps", "train { steps: 0 }", "train.steps"),
      bad_extra("negative eval_every", "train { eval_every: -1 }", "eval_every"),
      bad_extra("zero eval_steps", "train { eval_steps: 0 }", "eval_steps"),
      bad_extra("negative checkpoint_every", "train { checkpoint_every: -2 }", "checkpoint_every"),
      bad_extra("negative keep_last", "train { keep_last: -1 }", "keep_last"),
      bad_extra("micro-batches not dividing", "train { micro_batches: 3 }", "micro_batches"),
      bad_extra("bf16 on the CPU", "train { precision: BF16 }", "precision"),
      bad_extra("zero batch", "data { batch_size: 0 }", "data.batch_size"),
      bad_extra("tokens past int32",
                "data { batch_size: 2000000000 } model { seq_len: 16 positional: ROPE }", "int32"),
      bad_extra("zero log.every", "log { every: 0 }", "log.every"),
      bad_extra("name with a slash", "name: \"a/b\"", "name"),
      bad_extra("empty name", "name: \"\"", "name"),
      bad_extra("negative window", "attention { window: -1 }", "attention.window"),
      bad_extra("zero block_q", "attention { block_q: 0 }", "block_q"),
      // Cross-field rules.
      bad_recipe("SHARDS without train", "name: \"x\" data { corpus: SHARDS val: \"v.bin\" }",
                 "data.train"),
      bad_recipe("SHARDS without val", "name: \"x\" data { corpus: SHARDS train: \"t.bin\" }",
                 "data.val"),
      bad_recipe("BROWN without dir", "name: \"x\" data { corpus: BROWN dir: \"\" }", "data.dir"),
      bad_recipe("SFT without files", "name: \"x\" data { corpus: SFT }", "data.train"),
      bad_extra("SYMBOLS tokenizer on shards", "data { tokenizer: SYMBOLS }", "SYMBOLS"),
      bad_extra("bos with seq_len 1", "data { bos: true } model { seq_len: 1 }", "bos"),
      bad_extra("ADL with a negative weight", "losses { adl { weight: -1 } }", "weight"),
      bad_extra("AEM with a NaN weight", "losses { aem { weight: nan } }", "weight"),
      bad_extra("ADL on a missing layer", "losses { adl { weight: 1 layers: 7 } }", "layers"),
      bad_extra("AEM on a missing head", "losses { aem { weight: 1 heads: 9 } }", "heads"),
      bad_extra("ADL theta out of range", "losses { adl { weight: 1 theta: -1 } }", "theta"),
      bad_extra("MoH top_k above heads", "attention { kind: MOH moh { top_k: 5 } }", "top_k"),
      bad_extra("zero reduce groups",
                "parallel { mode: DATA_PARALLEL deterministic_reduce: true reduce_groups: 0 }",
                "reduce_groups"),
      bad_extra("negative timeout", "parallel { timeout_s: -1 }", "timeout_s"),
      bad_to_train("freeze matching nothing", "train { freeze: \"nothing*\" }", "freeze"),
      bad_extra("grouped differential odd heads",
                "attention { kind: GROUPED_DIFFERENTIAL } model { heads: 3 width: 48 }", "heads"),
  };
  EXPECT_GE(run_battery(cases), 70);
}

TEST(BadInputBattery, SetOverrides) {
  auto set = [](const std::string& name, const std::string& arg, const std::string& fragment) {
    return BadInput{name, "recipe {recipe} --set '" + arg + "'", 2, fragment};
  };
  const std::vector<BadInput> cases = {
      set("no equals sign", "optim.lr", "optim.lr"),
      set("empty path", "=3", "--set"),
      set("unknown field", "optim.nope=1", "optim.nope"),
      set("unknown message", "nope.lr=1", "nope"),
      set("path through a scalar", "optim.lr.x=1", "optim.lr"),
      set("message as a value", "optim=1", "optim"),
      set("not a number", "optim.lr=fast", "optim.lr"),
      set("integer overflow", "model.layers=99999999999", "model.layers"),
      set("float for an integer", "model.layers=1.5", "model.layers"),
      set("unknown enum", "attention.kind=FOO", "attention.kind"),
      set("bad bool", "data.bos=maybe", "data.bos"),
      set("validation after override", "model.width=-1", "model.width"),
      set("empty value for a number", "optim.lr=", "optim.lr"),
      set("trailing garbage", "model.layers=2x", "model.layers"),
      set("NaN lr", "optim.lr=nan", "optim.lr"),
      set("double dot", "optim..lr=1", "optim..lr"),
      set("trailing dot", "optim.=1", "optim."),
      set("space in path", "optim. lr=1", "optim"),
      set("cross-field after override", "model.heads=3", "model.heads"),
      set("steps zero", "train.steps=0", "train.steps"),
      set("hex for a double", "optim.lr=0x1p-3x", "optim.lr"),
      set("negative unsigned", "train.seed=-1", "train.seed"),
  };
  EXPECT_GE(run_battery(cases), 20);
}

TEST(BadInputBattery, CommandLineFlags) {
  const std::vector<BadInput> cases = {
      {"unknown command", "frobnicate", 2, "unknown command 'frobnicate'"},
      {"no command", "", 2, "command"},
      {"train without a recipe", "train", 2, "recipe"},
      {"train with a missing recipe", "train {dir}/nope.textproto", 2, "nope.textproto"},
      {"train with a directory as recipe", "train {dir}", 2, "not a regular file"},
      {"train with /dev/null", "train /dev/null", 2, "/dev/null"},
      {"train unknown flag", "train {recipe} --frobnicate", 2, "--frobnicate"},
      {"train --threads 0", "train {recipe} --threads 0", 2, "--threads"},
      {"train --threads word", "train {recipe} --threads many", 2, "--threads"},
      {"train --stop-after 0", "train {recipe} --stop-after 0", 2, "--stop-after"},
      {"train --set without value", "train {recipe} --set", 2, "--set"},
      {"train into an existing run", "train {recipe} --run-dir {run}", 2, "already holds a run"},
      {"eval of no directory", "eval {dir}/nope", 2, "nope"},
      {"eval of a directory without checkpoints", "eval {dir}", 2, "no complete checkpoint"},
      {"eval --batches 0", "eval {run} --batches 0", 2, "--batches"},
      {"sample --tokens huge", "sample {run} --tokens 99999999999999999999", 2, "1000000"},
      {"sample --tokens 0", "sample {run} --tokens 0", 2, "1000000"},
      {"sample negative temperature", "sample {run} --temperature -1", 2, ">= 0"},
      {"sample nan temperature", "sample {run} --temperature nan", 2, "--temperature"},
      {"sample negative top-k", "sample {run} --top-k -3", 2, "--top-k"},
      {"sample seed word", "sample {run} --seed x", 2, "--seed"},
      {"attnmap negative head", "attnmap {run} --layer 0 --head -1 --text ab", 2, ">= 0"},
      {"attnmap head past heads", "attnmap {run} --layer 0 --head 2 --text ab", 2,
       "not a head of layer 0"},
      {"attnmap layer past layers", "attnmap {run} --layer 5 --head 0 --text ab", 2, "layer"},
      {"plot of no run", "plot {dir}/nope", 2, "nope"},
      {"data unknown corpus", "data frobnicate", 2, "frobnicate"},
      {"ablate missing file", "ablate {dir}/nope.textproto", 2, "nope.textproto"},
      {"recipe flag typo", "recipe {recipe} --hepl", 2, "--hepl"},
  };
  EXPECT_GE(run_battery(cases), 25);
}

}  // namespace
}  // namespace attn::test
