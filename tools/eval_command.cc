// attnlab eval RUN_OR_CHECKPOINT: validation loss and bits per byte of a trained model.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "recipes/train/evaluate.h"
#include "recipes/train/load_run.h"
#include "tools/command.h"

namespace attn::cli {

Run add_eval_command(CLI::App& app) {
  struct Args {
    std::string path;
    int64_t batches = 0;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Validation loss and bits per byte of a run's newest (or a given) checkpoint");
  sub->add_option("run", args->path, "Run directory or checkpoint directory")->required();
  sub->add_option("--batches", args->batches,
                  "Validation batches (default: the recipe's train.eval_steps)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--json", args->json, "Print one JSON object");
  return [args] {
    const std::unique_ptr<LoadedRun> run = load_run(args->path);
    const config::Recipe& r = run->recipe;
    const DataSource data = open_data_source(r);
    const int64_t rows = r.eval().batch_size() > 0 ? r.eval().batch_size() : r.data().batch_size();
    const int64_t batches = args->batches > 0 ? args->batches : r.train().eval_steps();
    const EvalResult e =
        evaluate(*run->model, data, rows, r.model().seq_len(), batches, r.data().pack_documents());
    if (args->json) {
      nlohmann::ordered_json j{{"checkpoint", run->checkpoint},
                               {"step", run->state.step()},
                               {"val_loss", e.loss},
                               {"val_bpb", e.bpb},
                               {"tokens", e.tokens},
                               {"batches", e.batches}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s (step %lld): val loss %.4f, %.4f bits/byte over %lld tokens\n",
                  run->checkpoint.c_str(), static_cast<long long>(run->state.step()), e.loss, e.bpb,
                  static_cast<long long>(e.tokens));
    }
    return 0;
  };
}

}  // namespace attn::cli
