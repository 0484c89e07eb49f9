#include "tests/support/blas_core_types.h"

#include <unistd.h>

#include <climits>
#include <iostream>
#include <regex>

#include <gtest/gtest.h>

#include "tests/support/cli.h"

namespace attn::test {

std::vector<std::string> runnable_blas_core_types() {
  std::vector<std::string> types;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) types.push_back("Nehalem");
  if (__builtin_cpu_supports("avx")) types.push_back("Sandybridge");
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    types.push_back("Haswell");
    types.push_back("Zen");
  }
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512cd");
  if (avx512) types.push_back("SkylakeX");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) types.push_back("Cooperlake");
  return types;
}

namespace {

std::string self_path() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

void expect_filter_passes_under_every_core_type(const std::string& filter, bool binary_loads_blas) {
  const std::string self = self_path();
  ASSERT_FALSE(self.empty()) << "cannot find this test binary";
  std::vector<std::string> types = {""};  // "" = both variables unset
  for (const std::string& t : runnable_blas_core_types()) types.push_back(t);
  const std::regex core_line("Core: ([A-Za-z0-9_]+)"), passed_line(R"(\[  PASSED  \] (\d+) test)");
  int checked = 0;
  for (const std::string& type : types) {
    for (const bool small_l2 : {false, true}) {
      std::string env = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_VERBOSE=2";
      if (!type.empty()) env += " OPENBLAS_CORETYPE=" + type;
      if (small_l2) env += " OPENBLAS_L2_SIZE=512";
      const CliResult r = run_command(self, "--gtest_filter='" + filter + "'", env);
      SCOPED_TRACE(env);
      std::smatch m;
      const bool reported = std::regex_search(r.output, m, core_line);
      if (!type.empty() && r.output.find("Core not found: " + type) != std::string::npos) {
        std::cout << "[ note ] this OpenBLAS cannot force core type " << type << "; skipped\n";
        break;
      }
      EXPECT_EQ(r.code, 0) << r.output;
      std::smatch passed;
      EXPECT_TRUE(std::regex_search(r.output, passed, passed_line) && std::stoi(passed[1]) > 0)
          << "no test ran:\n"
          << r.output;
      EXPECT_EQ(r.output.find("[  FAILED  ]"), std::string::npos) << r.output;
      if (binary_loads_blas) {
        ASSERT_TRUE(reported) << "OpenBLAS did not report its core type:\n" << r.output;
        if (!type.empty()) EXPECT_EQ(m[1].str(), type) << "forcing " << type << " did not take";
      }
      const std::string used = reported ? m[1].str() : "?";
      std::cout << "[ core ] " << (type.empty() ? "(unset: " + used + ")" : type)
                << (small_l2 ? " L2=512" : "") << ": passed\n";
      ++checked;
    }
  }
  EXPECT_GE(checked, 2);
}

}  // namespace attn::test
