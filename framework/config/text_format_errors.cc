#include "framework/config/text_format_errors.h"

#include <regex>

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "framework/config/recipe_internal.h"

namespace attn::config::detail {

namespace pb = google::protobuf;

namespace {

class SilentErrors : public pb::io::ErrorCollector {
 public:
  void AddError(int, pb::io::ColumnNumber, const std::string&) override {}
};

// What the parser's enum error does not say: the line of the bad name (the parser reports the
// token after it, often on the next line) and the message type the field belongs to. Found by
// re-tokenizing the text up to the error, tracking `field {` nesting.
struct EnumErrorContext {
  int line = -1;
  const pb::EnumDescriptor* type = nullptr;
};

EnumErrorContext enum_error_context(const pb::Descriptor* root, const std::string& text, int line,
                                    int column, const std::string& value,
                                    const std::string& field) {
  pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  SilentErrors silent;
  pb::io::Tokenizer tokens(&input, &silent);
  std::vector<const pb::Descriptor*> open = {root};
  std::string last_name;
  EnumErrorContext ctx;
  const pb::Descriptor* value_in = nullptr;
  while (tokens.Next()) {
    const pb::io::Tokenizer::Token& t = tokens.current();
    if (t.line > line || (t.line == line && t.column >= column)) break;
    if (t.type == pb::io::Tokenizer::TYPE_IDENTIFIER) {
      if (t.text == value) {
        ctx.line = t.line;
        value_in = open.back();
      }
      last_name = t.text;
    } else if (t.text == "{" || t.text == "<") {
      const pb::FieldDescriptor* f =
          open.back() != nullptr ? open.back()->FindFieldByName(last_name) : nullptr;
      open.push_back(f != nullptr ? f->message_type() : nullptr);
    } else if ((t.text == "}" || t.text == ">") && open.size() > 1) {
      open.pop_back();
    }
  }
  const pb::FieldDescriptor* f = value_in != nullptr ? value_in->FindFieldByName(field) : nullptr;
  if (f != nullptr) ctx.type = f->enum_type();
  return ctx;
}

}  // namespace

void TextFormatErrors::AddError(int line, pb::io::ColumnNumber column, const std::string& message) {
  if (seen_) return;
  seen_ = true;
  line_ = line;
  column_ = column;
  message_ = message;
}

// Unknown fields gain the closest real name, bad enum names the valid ones.
void TextFormatErrors::raise(const std::string& text, const std::string& display_name,
                             ErrorKind kind) const {
  static const std::regex unknown_field(
      R"re(^Message type "([\w.]+)" has no field named "(\w+)")re");
  static const std::regex unknown_enum(
      R"re(^Unknown enumeration value of "(\w+)" for field "(\w+)")re");
  int line = line_;
  std::string what = message_;
  std::smatch m;
  if (std::regex_search(message_, m, unknown_field)) {
    const pb::Descriptor* type = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(m[1]);
    const std::string near = type != nullptr ? nearest_field(type, m[2].str()) : "";
    if (!near.empty()) what += fmt::format(" (did you mean \"{}\"?)", near);
  } else if (line_ >= 0 && std::regex_search(message_, m, unknown_enum)) {
    const EnumErrorContext ctx = enum_error_context(root_, text, line_, column_, m[1], m[2]);
    if (ctx.line >= 0) line = ctx.line;
    if (ctx.type != nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < ctx.type->value_count(); ++i) names.push_back(ctx.type->value(i)->name());
      const std::string near = nearest_name(names, m[1].str());
      what += fmt::format(" (one of {}{})", enum_names(ctx.type),
                          near.empty() ? "" : fmt::format("; did you mean {}?", near));
    }
  }
  std::string where = line >= 0 ? fmt::format("{}:{}", display_name, line + 1) : display_name;
  throw Error(kind, std::move(where), std::move(what));
}

}  // namespace attn::config::detail
