#include "framework/core/error.h"

#include <cstring>

namespace attn {

namespace {
std::string compose(const std::string& where, const std::string& what) {
  return where.empty() ? what : where + ": " + what;
}
}  // namespace

Error::Error(ErrorKind kind, std::string where, std::string what)
    : std::runtime_error(compose(where, what)),
      kind_(kind),
      where_(std::move(where)),
      what_(std::move(what)) {}

int Error::exit_code() const {
  return (kind_ == ErrorKind::kConfig || kind_ == ErrorKind::kInput) ? 2 : 1;
}

void fail_at(ErrorKind kind, const char* file, int line, const std::string& msg) {
  // Strip the build-machine prefix so messages name repository paths only.
  const char* rel = std::strstr(file, "framework/");
  for (const char* top : {"layers/", "optim/", "parallel/", "recipes/", "tools/", "tests/"}) {
    if (rel) break;
    rel = std::strstr(file, top);
  }
  throw Error(kind, fmt::format("{}:{}", rel ? rel : file, line), msg);
}

}  // namespace attn
