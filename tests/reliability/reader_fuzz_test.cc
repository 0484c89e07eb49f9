// Fuzz targets for every reader of user-supplied bytes (issue "Reliability"): the recipe loader
// and the --set parser, token shards, safetensors, checkpoint states, whole checkpoint
// directories and SFT JSONL lines. The in-memory readers run 100,000 inputs in CI already (a few
// seconds each under ASan); whole checkpoint directories, written to disk per input, run 5,000.
// The full form (100,000 for every target):
//   ATTNLAB_FUZZ_INPUTS=100000 ctest --test-dir build-asan -R ReaderFuzz
// Every mutant must be accepted or refused with a named attn::Error (tests/support/
// mutation_fuzz.h); crashers found are pasted into the regression cases at the end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "framework/config/recipe_loader.h"
#include "framework/io/file_util.h"
#include "framework/io/safetensors.h"
#include "optim/adamw.h"
#include "recipes/data/sft_example.h"
#include "recipes/data/token_shard.h"
#include "recipes/run/checkpoint.h"
#include "tests/support/mutation_fuzz.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

std::string source_file(const std::string& rel) {
  const char* root = std::getenv("ATTNLAB_SOURCE_DIR");
  return read_file(std::string(root ? root : ".") + "/" + rel);
}

std::vector<std::string> recipe_seeds() {
  std::vector<std::string> seeds;
  for (const char* rel :
       {"recipes/pretrain/brown_tiny.textproto", "recipes/pretrain/bigram_backcopy.textproto",
        "recipes/pretrain/example.textproto", "recipes/sft/passkey.textproto"})
    seeds.push_back(source_file(rel));
  seeds.push_back(
      "name: \"t\" model { width: 32 layers: 1 heads: 2 kv_heads: 1 }\n"
      "attention { kind: GATED }\nlosses { aem { weight: 0.1 layers: \"all\" } }\n");
  return seeds;
}

TEST(ReaderFuzz, RecipeLoader) {
  const test::FuzzStats s = test::fuzz(
      recipe_seeds(), test::fuzz_inputs(100000), 1,
      [](const std::string& in) { config::load_recipe_from_string(in, "fuzz.textproto"); });
  EXPECT_GT(s.rejected, 0);
  RecordProperty("accepted", static_cast<int>(s.accepted));
}

TEST(ReaderFuzz, SetOverrides) {
  const std::string base = source_file("recipes/pretrain/brown_tiny.textproto");
  const std::vector<std::string> seeds = {"optim.lr=3e-4",          "model.layers=2",
                                          "attention.kind=GATED",   "train.freeze=wte.*",
                                          "data.tokenizer=BPE",     "losses.adl.weight=0.5",
                                          "model.kv_heads=2",       "name=other",
                                          "attention.window=64",    "log.every=5",
                                          "train.steps=10",         "parallel.mode=DATA_PARALLEL",
                                          "model.positional=ALIBI", "data.batch_size=8",
                                          "optim.kind=SGD"};
  const test::FuzzStats s =
      test::fuzz(seeds, test::fuzz_inputs(100000), 2, [&](const std::string& in) {
        config::load_recipe_from_string(base, "base.textproto", {in});
      });
  EXPECT_GT(s.rejected, 0);
  EXPECT_GT(s.accepted, 0);
}

TEST(ReaderFuzz, TokenShard) {
  std::vector<std::string> seeds;
  for (uint32_t vocab : {2u, 256u, 70000u}) {
    TokenShard shard;
    shard.vocab_size = vocab;
    append_document(shard, {1, 0, 1}, 3);
    append_document(shard, {}, kNoLabel);
    append_document(shard, {static_cast<int32_t>(vocab - 1)}, 0);
    seeds.push_back(encode_token_shard(shard));
  }
  const test::FuzzStats s =
      test::fuzz(seeds, test::fuzz_inputs(100000), 3, [](const std::string& in) {
        const TokenShard t = decode_token_shard(in, "fuzz.bin");
        validate_token_shard(t, "fuzz.bin");
      });
  EXPECT_GT(s.rejected, s.accepted);
}

TEST(ReaderFuzz, Safetensors) {
  std::vector<std::string> seeds;
  seeds.push_back(encode_safetensors({{"a", Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})},
                                      {"b.bias", Tensor::from_vector<double>({1}, {0.5})},
                                      {"ids", Tensor::from_vector<int32_t>({3}, {1, 2, 3})}},
                                     {{"format", "pt"}, {"step", "3"}}));
  seeds.push_back(
      encode_safetensors({{"s", Tensor::from_vector<int64_t>({}, {7})},
                          {"e", Tensor::from_vector<float>({0, 4}, {})},
                          {"h", Tensor::from_vector<float>({4}, {1, 2, 3, 4}).to(DType::kBF16)}}));
  const test::FuzzStats s =
      test::fuzz(seeds, test::fuzz_inputs(100000), 4, [](const std::string& in) {
        const SafetensorsFile f = decode_safetensors(in, "fuzz.safetensors");
        for (const auto& [name, t] : f.tensors) (void)t.to_vector<double>();  // touch every byte
      });
  EXPECT_GT(s.rejected, 0);
}

CheckpointState full_state(int64_t step) {
  CheckpointState st;
  st.set_step(step);
  st.set_seed(1);
  st.set_world_size(2);
  st.set_recipe_hash("0123456789abcdef");
  st.set_tokens_seen(4096);
  st.set_elapsed_s(1.5);
  st.set_optimizer("adamw");
  st.set_attnlab_version("0.1");
  st.set_bos(true);
  st.mutable_data()->set_epoch(1);
  st.mutable_data()->set_cursor(12);
  return st;
}

TEST(ReaderFuzz, CheckpointState) {
  const std::vector<std::string> seeds = {full_state(7).SerializeAsString(),
                                          full_state(123456789).SerializeAsString()};
  const test::FuzzStats s = test::fuzz(
      seeds, test::fuzz_inputs(100000), 5,
      [](const std::string& in) { decode_checkpoint_state(in, "run/checkpoints/step_7"); });
  EXPECT_GT(s.rejected, s.accepted);
}

// Whole checkpoint directories through load_checkpoint: one of its files mutated per input,
// the model and optimizer untouched whenever the load is refused.
TEST(ReaderFuzz, CheckpointDirectory) {
  const fs::path root = test::fresh_temp_dir("ckpt_fuzz");
  ParamStore store;
  store.declare("w", {3, 4}, ParamInit::normal(0.5));
  store.declare("b", {4}, ParamInit::zeros(), false);
  store.finalize();
  store.initialize(3);
  AdamW opt(store, AdamWOptions{.lr = 0.1});
  opt.step();
  const std::string dir =
      save_checkpoint((root / "checkpoints").string(), store, opt.state(), full_state(2), 0);
  const std::vector<std::string> files = {"model.safetensors", "optimizer.safetensors", "state.pb"};
  std::vector<std::string> seeds;
  for (const std::string& f : files) seeds.push_back(read_file(dir + "/" + f));
  int64_t which = 0;
  const test::FuzzStats s =
      test::fuzz(seeds, test::fuzz_inputs(5000), 6, [&](const std::string& in) {
        // The mutant replaces the file its seed came from (splices may mix two of them).
        const size_t f = static_cast<size_t>(which++ % 3);
        for (size_t i = 0; i < files.size(); ++i)
          write_file_atomic(dir + "/" + files[i], i == f ? in : seeds[i]);
        // An accepted mutant may carry other weights; a refused one must change nothing.
        const std::vector<float> before = store.flat_params().to_vector<float>();
        try {
          load_checkpoint(dir, store, opt);
        } catch (const Error&) {
          EXPECT_EQ(store.flat_params().to_vector<float>(), before);
          throw;
        }
      });
  EXPECT_GT(s.rejected, 0);
  fs::remove_all(root);
}

TEST(ReaderFuzz, SftLine) {
  SftExample a;
  a.runs = {{RunRole::kContext, "The passkey is 48213. Remember it."},
            {RunRole::kResponse, " 48213"}};
  a.meta = {{"task", "passkey"}, {"answer", "48213"}};
  SftExample b;
  b.runs = {{RunRole::kResponse, "caf\xc3\xa9 \"quoted\" \\ \n tab\t"}};
  const std::vector<std::string> seeds = {to_jsonl_line(a), to_jsonl_line(b)};
  const test::FuzzStats s =
      test::fuzz(seeds, test::fuzz_inputs(100000), 7, [](const std::string& in) {
        const SftExample e = parse_sft_line(in, "fuzz.jsonl:1");
        EXPECT_FALSE(e.runs.empty());
      });
  EXPECT_GT(s.rejected, 0);
}

}  // namespace
}  // namespace attn
