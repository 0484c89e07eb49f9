// Running the real `attnlab` binary from end-to-end tests (a crash or a signal then hits a child
// process, not the test) and collecting its output and exit status.
#pragma once

#include <cstdint>
#include <string>

namespace attn::test {

struct CliResult {
  int code = -1;       // exit status; 128 + signal when killed
  std::string output;  // stdout and stderr together
};

// Runs `env binary args` through the shell and collects its output.
CliResult run_command(const std::string& binary, const std::string& args,
                      const std::string& env = "");

}  // namespace attn::test
