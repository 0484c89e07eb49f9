// Recipe loading: every kind of mistake names the right file:line (or --set) and field; good
// recipes merge defaults, file and overrides in that order, and resolve to text that reads back.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "framework/config/recipe_internal.h"
#include "framework/config/recipe_loader.h"
#include "framework/core/error.h"

namespace attn::config {
namespace {

namespace pb = google::protobuf;
namespace cfg = attnlab::config;

bool same(const Recipe& a, const Recipe& b) {
  return pb::util::MessageDifferencer::Equals(a, b);
}

struct BadCase {
  const char* label;
  std::string text;
  std::vector<std::string> overrides;
  std::string where;   // exact
  std::string phrase;  // must occur in the message
};

std::ostream& operator<<(std::ostream& os, const BadCase& c) {
  return os << c.label;
}

class BadRecipe : public testing::TestWithParam<BadCase> {};

TEST_P(BadRecipe, NamesWhereAndWhat) {
  const BadCase& c = GetParam();
  try {
    load_recipe_from_string(c.text, "bad.textproto", c.overrides);
    FAIL() << "accepted a bad recipe";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.where(), c.where) << e.what();
    EXPECT_NE(e.message().find(c.phrase), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()), e.where() + ": " + e.message());
  }
}

// A table reads best one case per entry: keep clang-format from splitting every field.
// clang-format off
const BadCase kBadCases[] = {
    // Sizes from user input are bounded before anything is allocated.
    {"huge_width", "model {\n  width: 1000000000\n  heads: 1\n}\n", {},
     "bad.textproto:2", "model.width: the model would have 4.8e+19 parameters"},
    {"too_many_layers", "", {"model.layers=100000000"},
     "--set model.layers=100000000", "model.layers: 100000000 blocks; attnlab builds at most 4096"},
    // Parse errors, located by the text-format parser.
    {"unknown_field", "name: \"x\"\nnmae: \"y\"\n", {},
     "bad.textproto:2", "has no field named \"nmae\". (did you mean \"name\"?)"},
    {"unknown_nested_field", "model {\n  width: 128\n  hedas: 4\n}\n", {},
     "bad.textproto:3",
     "\"attnlab.config.Model\" has no field named \"hedas\". (did you mean \"heads\"?)"},
    {"truncated_field_name", "optim {\n  warm: 3\n}\n", {},
     "bad.textproto:2", "(did you mean \"warmup_steps\"?)"},
    {"bad_enum_value", "attention {\n  kind: GATTED\n}\n", {},
     "bad.textproto:2",
     "Unknown enumeration value of \"GATTED\" for field \"kind\". (one of SOFTMAX, SINK, GATED, "
     "AFFINE_SCALED, DIFFERENTIAL, GROUPED_DIFFERENTIAL, MOH; did you mean GATED?)"},
    {"bad_enum_value_same_line", "attention { kind: GATTED }\n", {},
     "bad.textproto:1", "Unknown enumeration value of \"GATTED\""},
    {"bad_nested_enum_value",
     "optim { kind: SGD }  # kind: STATELESS\n"
     "parallel {\n  cad {\n    backward:\n      STATELESS\n  }\n}\n", {},
     "bad.textproto:5", "\"STATELESS\" for field \"backward\". (one of STATEFUL, RESEND)"},
    {"string_for_int", "model {\n  heads: \"four\"\n}\n", {},
     "bad.textproto:2", "Expected integer"},
    {"int_overflow", "model {\n  width: 99999999999\n}\n", {},
     "bad.textproto:2", "Integer out of range"},
    {"syntax_missing_colon", "optim {\n  lr 1e-3\n}\n", {},
     "bad.textproto:2", "Expected \":\""},
    {"syntax_unclosed", "\n\nmodel {\n  width: 128\n", {},
     "bad.textproto:5", "Expected"},
    {"duplicate_field", "optim {\n  lr: 1e-3\n  lr: 2e-3\n}\n", {},
     "bad.textproto:3", "specified multiple times"},
    {"duplicate_block", "optim { kind: SGD }\noptim {\n}\n", {},
     "bad.textproto:2", "specified multiple times"},

    // Declared ranges (options.proto annotations).
    {"negative_size", "model {\n  width: -4\n}\n", {},
     "bad.textproto:2", "model.width: must be >= 1, got -4"},
    {"lr_too_large", "optim {\n  lr: 20\n}\n", {},
     "bad.textproto:2", "optim.lr: must be in (0, 10], got 20"},
    {"zero_lr", "\noptim {\n  lr: 0\n}\n", {},
     "bad.textproto:3", "optim.lr: must be in (0, 10], got 0"},
    {"nan_lr", "optim { lr: nan }\n", {},
     "bad.textproto:1", "optim.lr: must be a finite number"},
    {"beta_open_end", "optim {\n  beta2: 1\n}\n", {},
     "bad.textproto:2", "optim.beta2: must be in [0, 1), got 1"},
    {"unspecified_enum", "attention {\n  kind: KIND_UNSPECIFIED\n}\n", {},
     "bad.textproto:2", "attention.kind: must be set (one of SOFTMAX, SINK, GATED,"},
    {"unknown_enum_number", "attention {\n  kind: 42\n}\n", {},
     "bad.textproto:2", "attention.kind: unknown value 42"},
    {"list_element_range", "losses {\n  aem {\n    layers: [1, -1]\n  }\n}\n", {},
     "bad.textproto:3", "losses.aem.layers[1]: must be >= 0, got -1"},
    {"empty_shard_path", "data {\n  corpus: SHARDS\n  train: \"a.bin\"\n  train: \"\"\n}\n", {},
     "bad.textproto:4", "data.train[1]: must not be empty"},
    {"invalid_utf8", "log {\n  run_dir: \"runs/\\xff\"\n}\n", {},
     "bad.textproto:2", "log.run_dir: must be valid UTF-8 text"},

    // Cross-field rules: the error points at whichever involved field the user wrote.
    {"heads_not_dividing_width", "model {\n  width: 128\n  heads: 5\n}\n", {},
     "bad.textproto:3", "model.heads: 5 does not divide model.width 128"},
    {"kv_heads_not_dividing_heads", "model {\n  heads: 8\n  kv_heads: 3\n}\n", {},
     "bad.textproto:3", "model.kv_heads: 3 does not divide model.heads 8"},
    {"rope_odd_head_dim", "model {\n  width: 36\n  heads: 4\n  positional: ROPE\n}\n", {},
     "bad.textproto:4", "ROPE needs an even head_dim"},
    {"mlp_not_whole", "model {\n  mlp_ratio: 2.7\n}\n", {},
     "bad.textproto:2", "model.mlp_ratio: mlp_ratio * width = 691.2"},
    {"warmup_beyond_steps_points_at_steps", "train {\n  steps: 50\n}\n", {},
     "bad.textproto:2", "optim.warmup_steps: 100 exceeds train.steps 50"},
    {"bf16_on_cpu", "train {\n  precision: BF16\n}\n", {},
     "bad.textproto:2", "BF16 matrix products need train.device CUDA"},
    {"bf16_weights", "model {\n  dtype: BF16\n}\n", {},
     "bad.textproto:2", "parameters are kept in F32"},
    {"shards_without_files", "data {\n  corpus: SHARDS\n}\n", {},
     "bad.textproto:2", "needs at least one training shard"},
    {"layer_out_of_model", "losses {\n  adl {\n    layers: [0, 9]\n  }\n}\n", {},
     "bad.textproto:3", "losses.adl.layers[1]: layer 9 does not exist (model.layers 4)"},
    {"layer_twice", "losses { adl { layers: 1 layers: 1 } }\n", {},
     "bad.textproto:1", "losses.adl.layers[1]: layer 1 listed twice"},
    {"bad_run_name", "name: \"a/b\"\n", {},
     "bad.textproto:1", "names the run directory"},
    {"zero1_alone", "parallel {\n  zero1: true\n}\n", {},
     "bad.textproto:2", "needs parallel.mode"},

    // --set overrides: where is the --set argument itself.
    {"set_bad_path", "", {"model.hedas=4"},
     "--set model.hedas=4", "no field 'hedas' in attnlab.config.Model (did you mean 'heads'?)"},
    {"set_bad_top_level", "", {"modle.heads=4"},
     "--set modle.heads=4", "no field 'modle' in attnlab.config.Recipe (did you mean 'model'?)"},
    {"set_bad_int", "", {"model.heads=four"},
     "--set model.heads=four", "model.heads: expects an integer (int32), got 'four'"},
    {"set_int_overflow", "", {"model.heads=99999999999"},
     "--set model.heads=99999999999", "model.heads: 99999999999 is out of range for int32"},
    {"set_bad_double", "", {"optim.lr=fast"},
     "--set optim.lr=fast", "optim.lr: expects a number (double), got 'fast'"},
    {"set_bad_bool", "", {"model.bias=yes"},
     "--set model.bias=yes", "model.bias: expects true, false, 1 or 0, got 'yes'"},
    {"set_bad_enum", "", {"attention.kind=relu"},
     "--set attention.kind=relu", "attention.kind: unknown value 'relu' (one of SOFTMAX, SINK,"},
    {"set_negative_unsigned", "", {"train.seed=-1"},
     "--set train.seed=-1", "expects a non-negative integer (uint64)"},
    {"set_message", "", {"model=4"},
     "--set model=4", "model is a message (attnlab.config.Model): set one of its fields"},
    {"set_through_scalar", "", {"optim.lr.x=1"},
     "--set optim.lr.x=1", "optim.lr is a double value and has no field 'x'"},
    {"set_without_equals", "", {"optim.lr"},
     "--set optim.lr", "expected path=value"},
    {"set_empty_segment", "", {"optim..lr=1"},
     "--set optim..lr=1", "empty field name"},
    {"set_out_of_range", "optim {\n  lr: 1e-3\n}\n", {"optim.lr=-1"},
     "--set optim.lr=-1", "optim.lr: must be in (0, 10], got -1"},
    {"set_breaks_cross_rule", "", {"model.heads=3"},
     "--set model.heads=3", "model.heads: 3 does not divide model.width 256"},
    {"set_other_field_of_rule", "model {\n  heads: 8\n}\n", {"model.width=100"},
     "--set model.width=100", "model.heads: 8 does not divide model.width 100"},
    {"set_list_element", "", {"losses.aem.layers=0,1,x"},
     "--set losses.aem.layers=0,1,x", "losses.aem.layers: expects an integer (int32), got 'x'"},
    {"set_list_range", "", {"losses.aem.layers=0, 7"},
     "--set losses.aem.layers=0, 7", "losses.aem.layers[1]: layer 7 does not exist"},
    {"set_unspecified_enum", "", {"train.device=device_unspecified"},
     "--set train.device=device_unspecified", "train.device: must be set (one of CPU, CUDA)"},
    {"set_invalid_utf8", "", {"name=\xc3("},
     "--set name=\xc3(", "name: must be valid UTF-8"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Table, BadRecipe, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.label);
                         });

TEST(RecipeLoader, MissingFileNamesPath) {
  const std::string path = "/nonexistent/attnlab/missing.textproto";
  try {
    load_recipe(path);
    FAIL() << "loaded a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.where(), path);
    EXPECT_EQ(e.message(), "cannot open recipe: No such file or directory");
  }
}

TEST(RecipeLoader, FileErrorsNameThePathGiven) {
  const auto path = std::filesystem::path(testing::TempDir()) / "recipe_loader_test_bad.textproto";
  std::ofstream(path) << "# comment\nmodel {\n  heads: 0\n}\n";
  try {
    load_recipe(path.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), path.string() + ":3");
    EXPECT_EQ(e.message(), "model.heads: must be >= 1, got 0");
  }
  std::filesystem::remove(path);
}

TEST(RecipeLoader, EmptyFilesAndNonRegularFilesAreRefused) {
  const auto dir = std::filesystem::path(testing::TempDir());
  const auto empty = dir / "recipe_loader_test_empty.textproto";
  std::ofstream(empty) << "# only a comment\n\n   \n";
  const auto fifo = dir / "recipe_loader_test_fifo";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& [path, message] :
       {std::pair<std::string, std::string>{empty.string(), "the recipe sets nothing"},
        {"/dev/null", "not a regular file"},
        {fifo.string(), "not a regular file"},
        {dir.string(), "not a regular file"}}) {
    try {
      load_recipe(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig) << path;
      EXPECT_EQ(e.where(), path);
      EXPECT_NE(e.message().find(message), std::string::npos) << path << ": " << e.message();
    }
  }
  std::filesystem::remove(empty);
  std::filesystem::remove(fifo);
}

TEST(RecipeLoader, DefaultedFieldIsMarked) {
  // No rule fails on the defaults alone, so drive the locator directly: nothing written by the
  // user -> the display name without a line, and "(default)" after the field.
  detail::Origins origins("run.textproto", nullptr);
  const detail::FieldPath path = {{cfg::Recipe::descriptor()->FindFieldByName("model"), -1},
                                  {cfg::Model::descriptor()->FindFieldByName("heads"), -1}};
  try {
    detail::fail_fields(origins, {path}, "too many");
    FAIL() << "fail_fields returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "run.textproto");
    EXPECT_EQ(e.message(), "model.heads (default): too many");
  }
}

TEST(RecipeLoader, DefaultsLoad) {
  const Recipe r = load_recipe_from_string("", "empty.textproto");
  EXPECT_EQ(r.name(), "run");
  EXPECT_EQ(r.model().width(), 256);
  EXPECT_EQ(r.model().heads(), 4);
  EXPECT_EQ(r.model().rope_pairing(), cfg::Model::HALF);
  EXPECT_EQ(r.attention().kind(), cfg::Attention::SOFTMAX);
  EXPECT_DOUBLE_EQ(r.optim().lr(), 1e-3);
  EXPECT_DOUBLE_EQ(r.parallel().timeout_s(), 300);
  EXPECT_DOUBLE_EQ(r.procedure().focus_sft().top_fraction(), 0.35);
  EXPECT_EQ(r.procedure().focus_sft().lora_rank(), 32);
  EXPECT_DOUBLE_EQ(r.procedure().focus_sft().lora_alpha(), 64);
  EXPECT_EQ(r.procedure().focus_sft().inner_steps(), 2);
  EXPECT_EQ(kv_heads(r.model()), 4);
  EXPECT_EQ(head_dim(r.model()), 64);
  EXPECT_EQ(mlp_hidden(r.model()), 1024);
  // 1.1 * 50 is 55.00000000000001 in floating point: still 55 hidden units.
  const Recipe odd = load_recipe_from_string("model { width: 50 heads: 5 mlp_ratio: 1.1 }", "x");
  EXPECT_EQ(mlp_hidden(odd.model()), 55);
}

// Every singular field is written in defaults.textproto (it doubles as the reference), and no
// repeated one is (merging would append to it).
void expect_all_listed(const pb::Descriptor* type, const pb::TextFormat::ParseInfoTree* tree,
                       const std::string& prefix) {
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* f = type->field(i);
    const std::string name = prefix + f->name();
    if (f->is_repeated()) {
      EXPECT_EQ(tree->GetLocation(f, 0).line, -1) << name << " has a default list";
      continue;
    }
    EXPECT_GE(tree->GetLocation(f, -1).line, 0) << name << " missing from defaults.textproto";
    if (f->message_type() != nullptr) {
      const pb::TextFormat::ParseInfoTree* nested = tree->GetTreeForNested(f, -1);
      if (nested != nullptr) expect_all_listed(f->message_type(), nested, name + ".");
    }
  }
}

TEST(RecipeLoader, DefaultsListEveryField) {
  Recipe r;
  pb::TextFormat::ParseInfoTree tree;
  pb::TextFormat::Parser parser;
  parser.WriteLocationsTo(&tree);
  ASSERT_TRUE(parser.ParseFromString(std::string(default_recipe_text()), &r));
  expect_all_listed(cfg::Recipe::descriptor(), &tree, "");
}

TEST(RecipeLoader, EveryAttentionKindValidWithDefaults) {
  const pb::EnumDescriptor* kinds = cfg::Attention::Kind_descriptor();
  for (int i = 0; i < kinds->value_count(); ++i) {
    if (kinds->value(i)->number() == 0) continue;
    const std::string set = "attention.kind=" + kinds->value(i)->name();
    EXPECT_NO_THROW(load_recipe_from_string("", "x.textproto", {set})) << set;
  }
}

TEST(RecipeLoader, FileOverridesDefaults) {
  const Recipe r = load_recipe_from_string(
      "name: \"wide\"\nmodel {\n  width: 512\n  tied_head: false\n  kv_heads: 0\n}\n",
      "x.textproto");
  EXPECT_EQ(r.name(), "wide");
  EXPECT_EQ(r.model().width(), 512);
  EXPECT_FALSE(r.model().tied_head());  // an explicit zero value replaces a nonzero default
  EXPECT_EQ(r.model().heads(), 4);      // untouched fields keep their defaults
  EXPECT_TRUE(r.model().bias());
}

TEST(RecipeLoader, SetOverridesFile) {
  const Recipe r = load_recipe_from_string(
      "optim {\n  lr: 1e-3\n}\n", "x.textproto",
      {"optim.lr=3e-4", " attention.kind = gated", "attention.gated.granularity=HeadWise",
       "model.bias=0", "model.tied_head=TRUE", "name=my-run.2"});
  EXPECT_DOUBLE_EQ(r.optim().lr(), 3e-4);
  EXPECT_EQ(r.attention().kind(), cfg::Attention::GATED);
  EXPECT_EQ(r.attention().gated().granularity(), cfg::Gated::HEADWISE);
  EXPECT_FALSE(r.model().bias());
  EXPECT_TRUE(r.model().tied_head());
  EXPECT_EQ(r.name(), "my-run.2");
}

TEST(RecipeLoader, RepeatedSetLastWins) {
  const Recipe r =
      load_recipe_from_string("losses {\n  adl { layers: [3] }\n}\n", "x.textproto",
                              {"model.layers=2", "model.layers=6", "losses.adl.layers=0, 2,5",
                               "losses.aem.layers=1", "losses.aem.layers="});
  EXPECT_EQ(r.model().layers(), 6);
  EXPECT_EQ(std::vector<int>(r.losses().adl().layers().begin(), r.losses().adl().layers().end()),
            (std::vector<int>{0, 2, 5}));  // the list replaces the file's, not appends
  EXPECT_EQ(r.losses().aem().layers_size(), 0);
}

Recipe varied_recipe() {
  return load_recipe_from_string(
      "name: \"rt\"\n"
      "model { kv_heads: 2 tied_head: false bias: false positional: ROPE rope_pairing: "
      "INTERLEAVED mlp_ratio: 2.75 norm_eps: 1e-6 init_std: 0.013 }\n"
      "attention { kind: MOH window: 128 moh { shared_heads: 0 top_k: 4 balance_weight: 0 } }\n"
      "data { corpus: SHARDS train: [\"a b.bin\", \"q\\\"x\\\\y\"] val: \"v.bin\" "
      "pack_documents: false dir: \"d\\t\\001\" }\n"
      "optim { lr: 3.3e-4 warmup_steps: 0 grad_clip: 0 }\n"
      "train { seed: 18446744073709551615 steps: 7 }\n"
      "losses { adl { weight: 0 layers: [0, 3] } }\n"
      "log { run_dir: \"/tmp/runs/r\u00e9sum\u00e9 \xce\xbb\" tensorboard: false }\n",
      "rt.textproto");
}

TEST(RecipeLoader, ResolvedTextRoundTrips) {
  for (const Recipe& r : {load_recipe_from_string("", "x"), varied_recipe()}) {
    const std::string text = recipe_to_text(r);
    const Recipe back = load_recipe_from_string(text, "resolved.textproto");
    EXPECT_TRUE(same(r, back)) << text;
    EXPECT_EQ(recipe_to_text(back), text);
  }
  const std::string text = recipe_to_text(varied_recipe());
  EXPECT_NE(text.find("  tied_head: false\n"), std::string::npos) << text;  // zeros are printed
  EXPECT_NE(text.find("  kind: MOH\n"), std::string::npos);
  EXPECT_NE(text.find("  layers: [0, 3]\n"), std::string::npos);
  EXPECT_NE(text.find("  layers: []\n"), std::string::npos);
}

TEST(RecipeLoader, HashStableAndSensitive) {
  const Recipe a = varied_recipe();
  const Recipe b = varied_recipe();
  EXPECT_EQ(recipe_hash(a), recipe_hash(b));
  EXPECT_EQ(recipe_hash(a), recipe_hash(load_recipe_from_string(recipe_to_text(a), "x")));
  EXPECT_EQ(recipe_hash_hex(a).size(), 16u);
  const Recipe c = load_recipe_from_string("", "x", {"optim.lr=2e-3"});
  const Recipe e = load_recipe_from_string("", "x");
  EXPECT_NE(recipe_hash(c), recipe_hash(e));
  EXPECT_NE(recipe_hash(e), recipe_hash(load_recipe_from_string("", "x", {"model.bias=false"})));
  // Where a run executes is not part of its identity (a GPU checkpoint resumes on the CPU)...
  EXPECT_EQ(recipe_hash(e), recipe_hash(load_recipe_from_string("", "x", {"train.device=CUDA"})));
  // ...nor whether core attention is disaggregated (a CAD checkpoint resumes as plain DP)...
  const Recipe dp = load_recipe_from_string("", "x", {"parallel.mode=DATA_PARALLEL"});
  EXPECT_EQ(recipe_hash(dp), recipe_hash(load_recipe_from_string(
                                 "", "x", {"parallel.mode=CAD", "parallel.cad.eps=0.2"})));
  EXPECT_NE(recipe_hash(dp), recipe_hash(e));  // one process is not data parallel
  // ...but the precision of its matrix products is.
  EXPECT_NE(recipe_hash(e), recipe_hash(load_recipe_from_string(
                                "", "x", {"train.device=CUDA", "train.precision=BF16"})));
}

// Every recipe shipped in recipes/ loads against the current schema. Files that declare another
// message (`# proto-message: attnlab.config.Ablation`, say) are someone else's to check.
bool is_recipe_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# proto-message:", 0) == 0)
      return line.find("attnlab.config.Recipe") != std::string::npos;
  }
  return true;
}

TEST(RecipeLoader, ShippedRecipesLoad) {
  const char* root = std::getenv("ATTNLAB_SOURCE_DIR");
  if (root == nullptr) GTEST_SKIP() << "ATTNLAB_SOURCE_DIR not set";
  const std::filesystem::path dir = std::filesystem::path(root) / "recipes";
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".textproto" || !is_recipe_file(entry.path())) continue;
    ++count;
    try {
      load_recipe(entry.path().string());
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_GE(count, 1);
  const Recipe r = load_recipe((dir / "pretrain/example.textproto").string());
  EXPECT_EQ(r.attention().kind(), cfg::Attention::GATED);
  EXPECT_EQ(mlp_hidden(r.model()), 704);
}

}  // namespace
}  // namespace attn::config
