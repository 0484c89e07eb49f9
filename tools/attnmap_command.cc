// attnlab attnmap RUN_OR_CHECKPOINT --layer L [--head H] --text TEXT [--out FILE]: PNG heatmaps of
// a trained model's attention weights on a text (one head, or a grid of all heads of the layer).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "framework/io/png_heatmap.h"
#include "recipes/train/attention_map.h"
#include "recipes/train/data_source.h"
#include "recipes/train/load_run.h"
#include "tools/command.h"

namespace attn::cli {

Run add_attnmap_command(CLI::App& app) {
  struct Args {
    std::string path, text, out;
    int layer = 0, head = -1;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "attnmap", "Draw a trained model's attention weights on a text as PNG heatmaps");
  sub->add_option("run", a->path, "Run directory or checkpoint directory");
  sub->add_option("--checkpoint", a->path, "Same as the positional argument");
  sub->add_option("--layer", a->layer, "Block index (0-based)")->required();
  sub->add_option("--head", a->head, "One head (0-based); default: a grid of all heads")
      ->check(non_negative());
  sub->add_option("--text", a->text, "The text to run (cut to the model's context)")->required();
  sub->add_option("--out", a->out, "PNG file (default: <run>/plots/attnmap_l<L>[_h<H>].png)");
  return [a] {
    if (a->path.empty()) throw Error(ErrorKind::kInput, "attnmap", "give a run or --checkpoint");
    const std::unique_ptr<LoadedRun> run = load_run(a->path);
    const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(run->recipe);
    AttentionMapResult r =
        attention_map(*run->model, *tokenizer, a->text, a->layer, run->recipe.model().seq_len());
    const int64_t heads = r.map.heads, t = r.map.tokens;
    if (a->head >= heads)
      throw Error(
          ErrorKind::kInput, "--head",
          fmt::format("{} is not a head of layer {} (0 .. {})", a->head, a->layer, heads - 1));
    std::vector<Heatmap> maps;
    for (int64_t h = 0; h < heads; ++h) {
      if (a->head >= 0 && h != a->head) continue;
      Heatmap m{fmt::format("head {}: first column {:.2f}", h, r.first_column_mass[h]), t, t, {}};
      m.values.assign(r.map.weights.begin() + h * t * t, r.map.weights.begin() + (h + 1) * t * t);
      maps.push_back(std::move(m));
    }
    std::string out = a->out;
    if (out.empty()) {
      const std::filesystem::path dir = std::filesystem::path(run->run_dir) / "plots";
      std::filesystem::create_directories(dir);
      out = (dir / (a->head >= 0 ? fmt::format("attnmap_l{}_h{}.png", a->layer, a->head)
                                 : fmt::format("attnmap_l{}.png", a->layer)))
                .string();
    }
    write_heatmaps(out,
                   fmt::format("{} layer {} (step {}): {}", run->recipe.name(), a->layer,
                               run->state.step(), r.map.description),
                   maps, r.labels);
    std::printf("%s: %lld head(s) x %lld tokens\n", out.c_str(),
                static_cast<long long>(maps.size()), static_cast<long long>(t));
    // The first column's mass (attention sink) per head, mean over rows 1 .. T-1.
    for (int64_t h = 0; h < heads; ++h)
      if (a->head < 0 || h == a->head)
        std::printf("  head %lld: first-column mass %.4f (first token %s)\n",
                    static_cast<long long>(h), r.first_column_mass[h], r.labels.front().c_str());
    return 0;
  };
}

}  // namespace attn::cli
