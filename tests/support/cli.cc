#include "tests/support/cli.h"

#include <sys/wait.h>

#include <cstdio>

namespace attn::test {

CliResult run_command(const std::string& binary, const std::string& args, const std::string& env) {
  const std::string cmd = env + " " + binary + " " + args + " 2>&1";
  CliResult r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace attn::test
