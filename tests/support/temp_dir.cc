#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace attn::test {

std::filesystem::path fresh_temp_dir(const std::string& tag) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? info->name() : "global";
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("attnlab_" + tag + "_" + std::to_string(::getpid()) + "_" + test);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace attn::test
