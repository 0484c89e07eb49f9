// attnlab eval RUN_OR_CHECKPOINT: validation loss and bits per byte of a trained model; for SFT
// runs (example corpora) also exact-match accuracy, sink mass and context engagement on the test
// split.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
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
      "eval",
      "Validation loss and bits per byte of a run's newest (or a given) checkpoint; SFT runs: "
      "also test exact match, sink mass and context engagement");
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
    const EvalResult e = evaluate(*run->model, data, rows, batches);
    nlohmann::ordered_json j{{"checkpoint", run->checkpoint},
                             {"step", run->state.step()},
                             {"val_loss", e.loss},
                             {"val_bpb", e.bpb},
                             {"tokens", e.tokens},
                             {"batches", e.batches}};
    std::string line = fmt::format("{} (step {}): val loss {:.4f}, {:.4f} bits/byte over {} tokens",
                                   run->checkpoint, run->state.step(), e.loss, e.bpb, e.tokens);
    if (data.examples && !data.test_examples.empty()) {
      AttentionDiagnostics focus(r.eval().sink_threshold(), /*focus_only=*/true);
      const ExactMatch m = exact_match(*run->model, data, rows, &focus);
      j["test_exact_match"] = m.accuracy();
      j["test_examples"] = m.examples;
      line += fmt::format("; test exact match {:.4f} ({}/{})", m.accuracy(), m.correct, m.examples);
      for (const auto& [key, value] : focus.values()) {
        if (key == "attn/sink_mass" || key == "attn/context_engagement") {
          j["test_" + key.substr(5)] = value;
          line += fmt::format(", {} {:.4f}", key.substr(5), value);
        }
      }
    }
    std::printf("%s\n", args->json ? j.dump().c_str() : line.c_str());
    return 0;
  };
}

}  // namespace attn::cli
