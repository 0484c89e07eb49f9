// attnlab sample RUN_OR_CHECKPOINT [--prompt TEXT]: generate text from a trained model.
#include <cstdio>
#include <memory>

#include "recipes/train/data_source.h"
#include "recipes/train/load_run.h"
#include "recipes/train/sample.h"
#include "tools/command.h"

namespace attn::cli {

Run add_sample_command(CLI::App& app) {
  auto o = std::make_shared<SampleOptions>();
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("sample", "Generate text from a run's newest checkpoint");
  sub->add_option("run", *path, "Run directory or checkpoint directory")->required();
  sub->add_option("--prompt", o->prompt,
                  "Text to continue (default: a line break; BOS alone for a model trained with "
                  "data.bos)");
  sub->add_option("--tokens", o->tokens, "Tokens to generate (1 .. 1000000)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_option("--temperature", o->temperature, "Softmax temperature; 0 = greedy")
      ->check(non_negative())
      ->capture_default_str();
  sub->add_option("--top-k", o->top_k, "Sample among the k likeliest tokens; 0 = all")
      ->check(non_negative())
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Sampling seed (same seed, same text)")->capture_default_str();
  return [o, path] {
    const std::unique_ptr<LoadedRun> run = load_run(*path);
    const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(run->recipe);
    std::fputs(o->prompt.c_str(), stdout);
    sample(*run->model, *tokenizer, *o, run->recipe.model().seq_len(), [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    return 0;
  };
}

}  // namespace attn::cli
