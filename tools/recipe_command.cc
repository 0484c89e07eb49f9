// attnlab recipe FILE [--set path=value]...: loads and validates a recipe and prints it fully
// resolved (defaults filled in), exactly as a run saves it. Errors propagate to main.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "framework/config/recipe_loader.h"
#include "tools/command.h"

namespace attn::cli {

Run add_recipe_command(CLI::App& app) {
  struct Args {
    std::string file;
    std::vector<std::string> sets;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("recipe", "Validate a recipe and print it fully resolved");
  sub->add_option("file", args->file, "Recipe file (.textproto)")->required();
  // One value per --set, so `--set a=1 recipe.textproto` keeps the file positional.
  sub->add_option("--set", args->sets, "Override a field: path=value, e.g. optim.lr=3e-4")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  return [args] {
    const config::Recipe recipe = config::load_recipe(args->file, args->sets);
    std::cout << config::recipe_to_text(recipe) << std::flush;
    return 0;
  };
}

}  // namespace attn::cli
