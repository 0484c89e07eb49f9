// Shared by the recipe loader, override and validator files: field paths and where each field's
// value came from (a file line, a --set, or the built-in defaults), for error locations.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

#include "framework/config/recipe.pb.h"
#include "framework/config/recipe_rules.h"

namespace attn::config::detail {

// One step into a message: the field and, for repeated fields, the element (-1 otherwise).
struct PathStep {
  const google::protobuf::FieldDescriptor* field;
  int index;
};
using FieldPath = std::vector<PathStep>;

// "losses.adl.layers[2]".
std::string path_string(const FieldPath& path);
// The same without element indices: the key overrides are recorded under.
std::string path_key(const FieldPath& path);

class Origins {
 public:
  // `tree` holds the field locations of the file's parse; null when there is no file.
  Origins(std::string display_name, const google::protobuf::TextFormat::ParseInfoTree* tree)
      : display_name_(std::move(display_name)), tree_(tree) {}

  void record_override(const std::string& key, const std::string& where) {
    overrides_[key] = where;
  }

  // "--set ..." for an overridden field, "file:line" for one written in the file, "" otherwise.
  std::string locate(const FieldPath& path) const;
  const std::string& display_name() const { return display_name_; }

 private:
  std::string display_name_;
  const google::protobuf::TextFormat::ParseInfoTree* tree_;
  std::map<std::string, std::string> overrides_;
};

// Throws attn::Error(kConfig) for a rule over `fields` (the first one is named in the message):
// where = the first of them that the user wrote, overrides before file lines; when none was,
// where = the display name and the message marks the field "(default)".
[[noreturn]] void fail_fields(const Origins& origins, const std::vector<FieldPath>& fields,
                              const std::string& message);

// Applies one "a.b.c=value" override to `recipe` and records it in `origins`.
void apply_override(attnlab::config::Recipe* recipe, const std::string& arg, Origins* origins);

// Every annotated range, enum and string rule (options.proto), then the cross-field rules.
void validate_recipe(const attnlab::config::Recipe& recipe, const Origins& origins);

// The compiled-in defaults (framework/config/defaults.textproto), parsed once.
const attnlab::config::Recipe& default_recipe();

// model.kind's rules (model_kind_rules.cc): the fields of the other model kind must keep their
// defaults, and the MIL data's fields must fit data.mil.source.
void check_model_kind(const attnlab::config::Recipe& recipe, RuleCheck& check);

// The name closest to `name` (case-insensitive edit distance, or the one name it begins),
// or "" when none is close enough to be a typo.
std::string nearest_name(const std::vector<std::string>& names, std::string_view name);
std::string nearest_field(const google::protobuf::Descriptor* type, std::string_view name);

// "A, B, C": the enum's value names except the zero (UNSPECIFIED) one.
std::string enum_names(const google::protobuf::EnumDescriptor* type);

}  // namespace attn::config::detail
