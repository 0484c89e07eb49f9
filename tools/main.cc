// attnlab: the command-line entry point. Each subcommand lives in its own file (command.h);
// errors are reported here once, with a non-zero exit code (2 for bad input, 1 otherwise).
#include <cstdio>
#include <new>
#include <string>

#include <CLI/CLI.hpp>

#include "framework/core/error.h"
#include "framework/core/version.h"
#include "layers/attention/attention_layer.h"
#include "layers/losses/recipe_losses.h"
#include "tools/command.h"

int main(int argc, char** argv) {
  // Recipes are validated with the attention variants' and losses' own rules too.
  attn::install_attention_recipe_rules();
  attn::install_attention_loss_rules();
  CLI::App app{"attnlab: a C++ training framework for attention research"};
  app.set_version_flag("--version", std::string("attnlab ") + attn::kVersion);
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, attn::cli::Run>> commands;
  auto add = [&](attn::cli::Run (*make)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    attn::cli::Run run = make(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(run));
  };
  add(attn::cli::add_recipe_command);
  add(attn::cli::add_smoke_command);
  add(attn::cli::add_data_command);
  add(attn::cli::add_plot_command);
  add(attn::cli::add_train_command);
  add(attn::cli::add_eval_command);
  add(attn::cli::add_sample_command);
  add(attn::cli::add_ablate_command);
  add(attn::cli::add_attnmap_command);
  add(attn::cli::add_cad_sim_command);

  // CLI11 would only say that a subcommand is required; name the word it did not know, at the
  // top level and under a command with subcommands of its own (`attnlab data frobnicate`).
  CLI::App* level = &app;
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    const std::vector<CLI::App*> subs = level->get_subcommands({});
    if (subs.empty()) break;
    std::string names;
    CLI::App* next = nullptr;
    for (CLI::App* sub : subs) {
      if (sub->get_name() == argv[i]) next = sub;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!next) {
      std::fprintf(stderr, "error: unknown command '%s' (%s: %s; see --help)\n", argv[i],
                   level == &app ? "commands" : (level->get_name() + " commands").c_str(),
                   names.c_str());
      return 2;
    }
    level = next;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints --help (exit 0) and usage errors; every usage error exits 2, like bad input.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (auto& [cmd, run] : commands)
      if (cmd->parsed()) return run();
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "error: out of memory: the run needs more than this machine has; lower "
                 "data.batch_size, model.seq_len or model.width (or raise train.micro_batches)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
