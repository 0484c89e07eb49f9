// attnlab smoke: the built-in end-to-end check that a fresh build trains (loss must fall).
#include <cstdio>

#include "framework/core/error.h"
#include "framework/core/threads.h"
#include "recipes/smoke_run.h"
#include "tools/command.h"

namespace attn::cli {

Run add_smoke_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("smoke",
                                 "Tiny built-in training run (seconds); exits 1 unless "
                                 "the loss falls below --target");
  auto opts = std::make_shared<SmokeRunOptions>();
  auto target = std::make_shared<double>(0.05);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("--steps", opts->steps, "Training steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->add_option("--target", *target, "Final loss that counts as success")->capture_default_str();
  cmd->add_flag("--quiet", *quiet, "Print only the summary");
  return [opts, target, quiet] {
    std::printf("smoke: MLP next-token map, vocab %lld, %d steps, %d threads\n",
                static_cast<long long>(opts->vocab), opts->steps, num_threads());
    SmokeRunResult r = run_smoke(*opts, [&](int step, double loss) {
      if (!*quiet && (step % 50 == 0 || step + 1 == opts->steps))
        std::printf("step %4d  loss %.4f\n", step, loss);
    });
    bool ok = r.final_loss < *target;
    std::printf("smoke: loss %.4f -> %.4f (%s, target < %g)\n", r.first_loss, r.final_loss,
                ok ? "ok" : "FAILED", *target);
    return ok ? 0 : 1;
  };
}

}  // namespace attn::cli
