// The bad-input battery, part 2: token shards, SFT JSONL files, checkpoints (each file of one,
// each way of corrupting it) and run directories. Corrupt data is bad input: exit 2 with the
// file named; nothing crashes, nothing "evaluates" to nan.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/io/file_util.h"
#include "recipes/data/token_shard.h"
#include "tests/reliability/battery.h"

namespace attn::test {
namespace {

namespace fs = std::filesystem;
using Prepare = std::function<void(const fs::path&)>;

void put(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}
std::string get(const fs::path& p) {
  return read_file(p.string());
}

// Edits the bytes of {dir}/`rel`.
Prepare edit(const std::string& rel, std::function<void(std::string&)> f) {
  return [rel, f](const fs::path& dir) {
    std::string b = get(dir / rel);
    f(b);
    put(dir / rel, b);
  };
}
Prepare truncate_to(const std::string& rel, size_t n) {
  return edit(rel, [n](std::string& b) { b.resize(std::min(n, b.size())); });
}
Prepare overwrite(const std::string& rel, size_t at, const std::string& bytes) {
  return edit(rel, [at, bytes](std::string& b) { b.replace(at, bytes.size(), bytes); });
}
Prepare replace_with(const std::string& rel, const std::string& bytes) {
  return [rel, bytes](const fs::path& dir) { put(dir / rel, bytes); };
}
Prepare remove(const std::string& rel) {
  return [rel](const fs::path& dir) { fs::remove_all(dir / rel); };
}
Prepare make_dir(const std::string& rel) {
  return [rel](const fs::path& dir) {
    fs::remove_all(dir / rel);
    fs::create_directories(dir / rel);
  };
}
Prepare both(Prepare a, Prepare b) {
  return [a, b](const fs::path& dir) {
    a(dir);
    b(dir);
  };
}

// The JSON header of a safetensors file, edited and written back (data unchanged).
Prepare edit_header(const std::string& rel, std::function<void(nlohmann::json&)> f) {
  return edit(rel, [f](std::string& b) {
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    nlohmann::json h = nlohmann::json::parse(b.substr(8, n));
    f(h);
    const std::string text = h.dump();
    const uint64_t m = text.size();
    b = std::string(reinterpret_cast<const char*>(&m), 8) + text + b.substr(8 + n);
  });
}
// The first tensor entry of a header (not __metadata__).
nlohmann::json& first_tensor(nlohmann::json& h) {
  for (auto& [k, v] : h.items())
    if (k != "__metadata__") return v;
  return h;
}

Prepare shard(const std::string& rel, uint32_t vocab, std::vector<std::vector<int32_t>> docs) {
  return [=](const fs::path& dir) {
    TokenShard s;
    s.vocab_size = vocab;
    for (const auto& d : docs) append_document(s, d);
    put(dir / rel, encode_token_shard(s));
  };
}

TEST(BadInputBattery, TokenShards) {
  auto bad = [](const std::string& name, Prepare setup, const std::string& fragment) {
    return BadInput{name, "train {recipe} --quiet --run-dir {dir}/out", 2, fragment, setup};
  };
  const std::vector<BadInput> cases = {
      bad("missing train shard", remove("train.bin"), "train.bin: token shard not found"),
      bad("missing val shard", remove("val.bin"), "val.bin: token shard not found"),
      bad("empty file", replace_with("train.bin", ""), "truncated header"),
      bad("truncated header", truncate_to("train.bin", 20), "truncated header"),
      bad("truncated tokens", truncate_to("train.bin", 100), "header claims"),
      bad("trailing bytes", edit("train.bin", [](std::string& b) { b += "xx"; }), "trailing bytes"),
      bad("bad magic", overwrite("train.bin", 0, "NOTTOKEN"), "bad magic"),
      bad("unknown version", overwrite("train.bin", 8, std::string("\x07\0\0\0", 4)), "version 7"),
      bad("unknown dtype", overwrite("train.bin", 12, std::string("\x09\0\0\0", 4)),
          "unknown token dtype 9"),
      bad("count past the file", overwrite("train.bin", 16, std::string(8, '\x7f')),
          "header claims"),
      bad("documents past the file", overwrite("train.bin", 24, std::string(8, '\x7f')),
          "header claims"),
      bad("vocab 0", overwrite("train.bin", 32, std::string(4, '\0')), "vocab size is 0"),
      bad("reserved field set", overwrite("train.bin", 36, std::string("\x01\0\0\0", 4)),
          "reserved field"),
      bad("token past the vocabulary", overwrite("train.bin", 40, "\xff\xff"), "65535"),
      bad("vocabulary mismatch", shard("train.bin", 300, {{1, 2, 3}}), "vocabulary of 300"),
      bad("no tokens", shard("train.bin", 256, {{}}), "token shard is empty"),
      bad("one-token corpus", shard("train.bin", 256, {{65}}), "no next token to predict"),
      bad("one-token validation", shard("val.bin", 256, {{65}, {66}}), "val.bin"),
      bad("directory as shard", make_dir("train.bin"), "train.bin"),
      bad("offsets not monotone",
          edit("train.bin",
               [](std::string& b) {
                 // The first document offset after o[0] = 0 is set past the token count.
                 uint64_t n = 0;
                 std::memcpy(&n, b.data() + 16, 8);
                 const uint64_t big = n + 5;
                 std::memcpy(b.data() + 40 + 2 * n + 8, &big, 8);
               }),
          "train.bin"),
  };
  EXPECT_GE(run_battery(cases), 20);
}

TEST(BadInputBattery, SftFiles) {
  const std::string good =
      R"({"runs": [{"role": "context", "text": "abc"}, {"role": "response", "text": "def"}]})";
  auto bad = [&](const std::string& name, const std::string& train_text,
                 const std::string& fragment) {
    const std::string recipe =
        "name: \"s\"\nmodel { width: 32 layers: 1 heads: 2 seq_len: 32 mlp_ratio: 2 }\n"
        "data { corpus: SFT train: \"{dir}/t.jsonl\" val: \"{dir}/v.jsonl\" batch_size: 2 }\n"
        "optim { warmup_steps: 1 }\ntrain { steps: 2 }\n";
    return BadInput{name, "train {file} --quiet --run-dir {dir}/out", 2, fragment,
                    both(recipe_file(recipe), [=](const fs::path& dir) {
                      put(dir / "t.jsonl", train_text);
                      put(dir / "v.jsonl", good + "\n");
                    })};
  };
  const std::vector<BadInput> cases = {
      bad("empty file", "", "holds no examples"),
      bad("not JSON", "hello\n", "t.jsonl:1"),
      bad("JSON array", "[1, 2]\n", "t.jsonl:1"),
      bad("no runs", "{}\n", "runs"),
      bad("empty runs",
          R"({"runs": []})"
          "\n",
          "runs"),
      bad("unknown role",
          R"({"runs": [{"role": "system", "text": "a"}]})"
          "\n",
          "role must be \"context\" or \"response\""),
      bad("text not a string",
          R"({"runs": [{"role": "response", "text": 5}]})"
          "\n",
          "text"),
      bad("unknown key",
          R"({"runs": [{"role": "response", "text": "a"}], "x": 1})"
          "\n",
          "x"),
      bad("meta not strings",
          R"({"runs": [{"role": "response", "text": "a"}], "meta": {"a": 1}})"
          "\n",
          "meta"),
      bad("bad second line", good + "\n{\"runs\": \n", "t.jsonl:2"),
      bad("truncated line", good.substr(0, 30) + "\n", "t.jsonl:1"),
      bad("invalid UTF-8",
          R"({"runs": [{"role": "response", "text": ")"
          "\xff\xfe"
          "\"}]}\n",
          "t.jsonl:1"),
      bad("missing file", "", "t.jsonl"),
  };
  std::vector<BadInput> all = cases;
  all.back().setup = both(all.back().setup, remove("t.jsonl"));
  EXPECT_GE(run_battery(all), 13);
}

// Corruptions of the newest checkpoint's files; `eval` must refuse each naming the file.
TEST(BadInputBattery, Checkpoints) {
  const std::string ck = "run/checkpoints/step_4/";
  auto bad = [&](const std::string& name, Prepare setup, const std::string& fragment) {
    return BadInput{name, "eval {run}/checkpoints/step_4", 2, fragment, setup};
  };
  const std::string m = ck + "model.safetensors", st = ck + "state.pb";
  std::vector<BadInput> cases = {
      bad("model: empty", replace_with(m, ""), "too short"),
      bad("model: 4 bytes", truncate_to(m, 4), "too short"),
      bad("model: truncated data", truncate_to(m, 2000), "model.safetensors"),
      bad("model: header past the end", overwrite(m, 0, std::string(8, '\x7f')), "runs past"),
      bad("model: header length 0", overwrite(m, 0, std::string(8, '\0')), "model.safetensors"),
      bad("model: garbage JSON", overwrite(m, 8, "{garbage"), "invalid JSON"),
      bad("model: JSON not an object", edit_header(m, [](auto& h) { h = nlohmann::json(3); }),
          "not a JSON object"),
      bad("model: unknown dtype", edit_header(m, [](auto& h) { first_tensor(h)["dtype"] = "Q7"; }),
          "unsupported dtype 'Q7'"),
      bad("model: dtype not a string",
          edit_header(m, [](auto& h) { first_tensor(h)["dtype"] = 5; }), "dtype"),
      bad("model: negative shape",
          edit_header(m,
                      [](auto& h) {
                        first_tensor(h)["shape"] = {-1, 4};
                      }),
          "shape"),
      bad("model: shape not matching the bytes",
          edit_header(m, [](auto& h) { first_tensor(h)["shape"] = {1}; }), "model.safetensors"),
      bad("model: offsets overlapping",
          edit_header(m,
                      [](auto& h) {
                        first_tensor(h)["data_offsets"] = {0, 8};
                      }),
          "model.safetensors"),
      bad("model: offsets reversed",
          edit_header(m,
                      [](auto& h) {
                        first_tensor(h)["data_offsets"] = {8, 0};
                      }),
          "model.safetensors"),
      bad("model: offsets past the end",
          edit_header(m,
                      [](auto& h) {
                        first_tensor(h)["data_offsets"] = {0, 1 << 30};
                      }),
          "model.safetensors"),
      bad("model: missing parameter",
          edit_header(m,
                      [](auto& h) {
                        std::string k;
                        for (auto& [key, val] : h.items())
                          if (key != "__metadata__") k = key;
                        h["renamed"] = h[k];
                        h.erase(k);
                      }),
          "model.safetensors"),
      bad("model: metadata not strings",
          edit_header(m,
                      [](auto& h) {
                        h["__metadata__"] = {{"step", 4}};
                      }),
          "metadata"),
      bad("model: a NaN weight", overwrite(m, 8 + 0, ""), "model.safetensors"),
      bad("model: missing", remove(m), "model.safetensors: cannot open"),
      bad("model: a directory", make_dir(m), "model.safetensors"),
      bad("state: empty", replace_with(st, ""), "state.pb: is empty"),
      bad("state: garbage", replace_with(st, std::string("\xff\xff\xff\xff\x0f", 5)), "state.pb"),
      bad("state: wrong step", replace_with(st, std::string("\x08\x05", 2)), "says step 5"),
      bad("state: missing", remove(st), "state.pb"),
      bad("DONE missing, no older", both(remove(ck + "DONE"), remove("run/checkpoints/step_2")),
          "incomplete checkpoint"),
      bad("not a checkpoint", remove("run/checkpoints/step_4"), "step_4"),
  };
  // A NaN in the weights: the first f32 of the data section.
  cases[16].setup = [m](const fs::path& dir) {
    std::string b = get(dir / m);
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    const float nan = std::nanf("");
    std::memcpy(b.data() + 8 + n, &nan, 4);
    put(dir / m, b);
  };
  cases[16].fragment = "holds nan";
  BadInput sample = cases[16];
  sample.name = "sample: a NaN weight";
  sample.args = "sample {run} --tokens 5";
  cases.push_back(sample);
  BadInput attnmap = cases[16];
  attnmap.name = "attnmap: a NaN weight";
  attnmap.args = "attnmap {run} --layer 0 --head 0 --text ab";
  cases.push_back(attnmap);
  EXPECT_GE(run_battery(cases), 27);
}

// Run directories: resume with every checkpoint corrupt, optimizer state corrupt, the saved
// recipe missing or edited, the run dir or its parts of the wrong kind.
TEST(BadInputBattery, RunDirectories) {
  const std::string resume = "train {run}/recipe.textproto --quiet --resume --run-dir {run}";
  const std::string opt4 = "run/checkpoints/step_4/optimizer.safetensors";
  const std::string opt2 = "run/checkpoints/step_2/optimizer.safetensors";
  const std::vector<BadInput> cases = {
      {"resume, every checkpoint corrupt", resume, 2, "none of the 2 complete checkpoints loads",
       both(replace_with(opt4, "x"), replace_with(opt2, "x"))},
      {"resume, optimizer with a NaN-free wrong shape", resume, 2, "optimizer.safetensors",
       both(edit_header(opt4, [](auto& h) { first_tensor(h)["dtype"] = "Q7"; }),
            remove("run/checkpoints/step_2"))},
      {"resume with an edited recipe", "train {recipe} --quiet --resume --run-dir {run}", 2,
       "differs from the one this run started with"},
      {"eval without recipe.textproto", "eval {run}", 2, "not an attnlab run directory",
       remove("run/recipe.textproto")},
      {"eval with a garbage recipe.textproto", "eval {run}", 2, "no field named \"garbage\"",
       replace_with("run/recipe.textproto", "garbage\n")},
      {"eval with an empty recipe.textproto", "eval {run}", 2, "empty",
       replace_with("run/recipe.textproto", "")},
      {"eval with no checkpoints", "eval {run}", 2, "no complete checkpoint",
       remove("run/checkpoints")},
      {"eval with checkpoints a file", "eval {run}", 2, "no complete checkpoint",
       both(remove("run/checkpoints"), replace_with("run/checkpoints", "x"))},
      {"eval of a file", "eval {run}/metrics.jsonl", 2, "not a directory"},
      {"sample with no checkpoints", "sample {run}", 2, "no complete checkpoint",
       remove("run/checkpoints")},
      {"attnmap of a directory without checkpoints", "attnmap {dir} --layer 0 --head 0 --text ab",
       2, "no complete checkpoint"},
      {"train into a file", "train {recipe} --quiet --run-dir {dir}/train.bin", 2,
       "not a directory"},
      {"plot with torn metrics", "plot {run}", 2, "metrics.jsonl",
       replace_with("run/metrics.jsonl", "{\"step\": 1, \"loss\"\n")},
      {"resume with a recipe hash mismatch in state", resume, 2, "different recipe",
       both(remove("run/checkpoints/step_2"),
            [](const fs::path& dir) {
              std::string b = get(dir / "run/checkpoints/step_4/state.pb");
              // Flip one hex digit of the 16-digit recipe hash (field 5, length 16).
              const size_t tag = b.find(std::string("\x2a\x10", 2));
              if (tag != std::string::npos) b[tag + 2] = b[tag + 2] == 'a' ? 'b' : 'a';
              put(dir / "run/checkpoints/step_4/state.pb", b);
            })},
  };
  EXPECT_GE(run_battery(cases), 14);
}

}  // namespace
}  // namespace attn::test
