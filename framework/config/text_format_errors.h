// Errors of the protobuf text-format parser as attnlab errors: the first one only (later ones
// are usually its echoes), at file:line, with the closest field name or the valid enum names.
#pragma once

#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>

#include "framework/core/error.h"

namespace attn::config::detail {

class TextFormatErrors : public google::protobuf::io::ErrorCollector {
 public:
  // `root`: the message type being parsed (to find which enum a bad value belongs to).
  explicit TextFormatErrors(const google::protobuf::Descriptor* root) : root_(root) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override;

  // Throws the recorded error as Error(kind, "<display_name>:<line>", message + hint).
  [[noreturn]] void raise(const std::string& text, const std::string& display_name,
                          ErrorKind kind) const;

 private:
  const google::protobuf::Descriptor* root_;
  bool seen_ = false;
  int line_ = -1;
  int column_ = 0;
  std::string message_;
};

}  // namespace attn::config::detail
