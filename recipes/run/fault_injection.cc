#include "recipes/run/fault_injection.h"

#include <cstdlib>

#include "framework/core/error.h"

namespace attn {

namespace {

bool injected(const std::string& point) {
  const char* v = std::getenv("ATTNLAB_FAULT_INJECT");
  return v && point == v;
}

}  // namespace

void crash_if_injected(const std::string& point) {
  if (injected(point)) std::_Exit(75);
}

void throw_if_injected(const std::string& point) {
  if (injected(point)) ATTN_FAIL(kInternal, "injected fault at {}", point);
}

}  // namespace attn
