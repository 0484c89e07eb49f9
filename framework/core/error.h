// Checked errors: every user-facing failure carries what went wrong and where (file:line of a
// recipe, path and byte offset of a data file, or the C++ source location of a failed check).
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace attn {

// Category decides the process exit code in the CLI: user mistakes exit 2, the rest exit 1.
// kNumeric: training diverged (non-finite loss or gradients).
enum class ErrorKind { kConfig, kInput, kIo, kShape, kNumeric, kInternal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string where, std::string what);
  ErrorKind kind() const { return kind_; }
  const std::string& where() const { return where_; }
  const std::string& message() const { return what_; }
  int exit_code() const;

 private:
  ErrorKind kind_;
  std::string where_;
  std::string what_;
};

[[noreturn]] void fail_at(ErrorKind kind, const char* file, int line, const std::string& msg);

}  // namespace attn

// ATTN_CHECK(cond, fmt, args...): throws attn::Error(kShape) naming the condition and source line.
// Used for API misuse (bad shapes, dtypes, devices) detected by ops before any kernel runs.
#define ATTN_CHECK(cond, ...)                                                                 \
  do {                                                                                        \
    if (!(cond))                                                                              \
      ::attn::fail_at(::attn::ErrorKind::kShape, __FILE__, __LINE__,                          \
                      std::string("check failed: " #cond ": ") + ::fmt::format(__VA_ARGS__)); \
  } while (0)

// ATTN_FAIL(kind, fmt, args...): unconditional throw with the source location.
#define ATTN_FAIL(kind, ...) \
  ::attn::fail_at(::attn::ErrorKind::kind, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
