// Scratch directories for tests: unique per process and test (parallel ctest never collides),
// emptied when created; tests remove them in TearDown or leave them to the system's tmp cleanup.
#pragma once

#include <filesystem>
#include <string>

namespace attn::test {

// <tmp>/attnlab_<tag>_<pid>_<current test name>, freshly created and empty.
std::filesystem::path fresh_temp_dir(const std::string& tag);

}  // namespace attn::test
