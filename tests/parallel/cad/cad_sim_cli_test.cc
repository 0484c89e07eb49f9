// `attnlab cad-sim` end to end: a small grid writes its report, table rows and plots, every
// figure labelled a projection; bad flags and files exit 2 naming the flag.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/cli.h"
#include "tests/support/temp_dir.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

test::CliResult cad_sim(const std::string& args) {
  return test::run_command(ATTNLAB_BINARY, "cad-sim --quiet " + args);
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CadSimCli, WritesTheReportTableAndPlots) {
  const fs::path dir = test::fresh_temp_dir("cad_sim");
  const test::CliResult r =
      cad_sim("--gpus 16,32 --context 16K --steps 1 --out " + (dir / "out").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string md = read(dir / "out" / "results.md");
  EXPECT_NE(md.find("**Every figure here is a projection**"), std::string::npos);
  for (const char* scheme : {"packing", "wlb", "cp (c=", "cad", "cad+pingpong"})
    EXPECT_NE(md.find(std::string("| 32 | 16K | ") + scheme), std::string::npos) << scheme;
  std::ifstream jsonl(dir / "out" / "results.jsonl");
  int lines = 0;
  for (std::string line; std::getline(jsonl, line);) {
    ++lines;
    EXPECT_NE(line.find("\"projection\":true"), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 10);
  for (const char* png : {"speedup_16K.png", "idle_16K.png", "attention_imbalance_16K.png"})
    EXPECT_TRUE(fs::is_regular_file(dir / "out" / "plots" / png)) << png;
  fs::remove_all(dir);
}

TEST(CadSimCli, TheProjectsOwnGptFromItsRecipe) {
  const fs::path dir = test::fresh_temp_dir("cad_sim");
  const std::string recipe =
      std::string(ATTNLAB_SOURCE_DIR) + "/recipes/pretrain/brown_tiny.textproto";
  const test::CliResult r = cad_sim("--model " + recipe +
                                    " --tp 1 --gpus 4 --context 4096 --steps 1 --schemes "
                                    "packing,cad --out " +
                                    dir.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read(dir / "results.md").find("model: brown_tiny"), std::string::npos);
  fs::remove_all(dir);
}

TEST(CadSimCli, BadFlagsExit2NamingWhatIsWrong) {
  const fs::path dir = test::fresh_temp_dir("cad_sim");
  const std::string out = " --out " + dir.string();
  const std::pair<std::string, std::string> cases[] = {
      {"--hardware tpu", "--hardware tpu"},
      {"--hardware cpu", "--calibration"},
      {"--model gpt-5", "--model gpt-5"},
      {"--gpus 12", "12 GPUs"},
      {"--tp 3", "tensor parallelism 3"},
      {"--context 12x", "12x"},
      {"--schemes packing,magic", "magic"},
      {"--calibration /nonexistent.json", "/nonexistent.json"},
      {"--lengths-from /nonexistent.bin", "/nonexistent.bin"},
      {"--steps 0", "--steps"},
      {"--long-share 1.5", "long_share"},
  };
  for (const auto& [args, fragment] : cases) {
    const test::CliResult r = cad_sim(args + out);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
  }
  std::ofstream(dir / "bad.json") << "{\"per_pair_ns\": 1}";
  const test::CliResult r = cad_sim("--calibration " + (dir / "bad.json").string() + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("per_row_ns"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attn
