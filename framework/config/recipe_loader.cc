#include "framework/config/recipe_loader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "framework/config/recipe_defaults.h"
#include "framework/config/recipe_internal.h"
#include "framework/config/text_format_errors.h"
#include "framework/core/error.h"

namespace attn::config {

namespace pb = google::protobuf;
using detail::FieldPath;
using detail::Origins;
using detail::TextFormatErrors;

namespace {

const Recipe& defaults() {
  // Parsed once; a broken defaults file is a build bug, reported with its own line.
  static const Recipe recipe = [] {
    Recipe r;
    TextFormatErrors errors(Recipe::descriptor());
    pb::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(detail::kDefaultsText, &r))
      errors.raise(detail::kDefaultsText, detail::kDefaultsName, ErrorKind::kInternal);
    return r;
  }();
  return recipe;
}

std::string read_file(const std::string& path) {
  // A FIFO or device would block or never end: a recipe is a regular text file.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorKind::kConfig, path, "not a regular file (a recipe is a text file)");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw Error(ErrorKind::kConfig, path,
                fmt::format("cannot open recipe: {}", std::strerror(errno)));
  std::string text;
  char buf[1 << 14];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0)
    throw Error(ErrorKind::kConfig, path,
                fmt::format("cannot read recipe: {}", std::strerror(err)));
  return text;
}

// Text-format string literal; bytes >= 0x80 stay as they are (validated UTF-8).
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\{:03o}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string scalar_text(const pb::Message& m, const pb::FieldDescriptor* f, int i) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return fmt::format("{}", rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return fmt::format("{}", rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return fmt::format("{}", rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return fmt::format("{}", rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f));
    // fmt's shortest representation reads back to the same bits.
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return fmt::format("{}", rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return fmt::format("{}", rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false";
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return quote(rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f));
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      const pb::EnumValueDescriptor* e = f->enum_type()->FindValueByNumber(v);
      return e != nullptr ? e->name() : fmt::format("{}", v);
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

// TextFormat::Printer skips zero-valued proto3 scalars, which would then read back as the
// (nonzero) defaults; this prints every field.
void print_message(const pb::Message& m, int indent, std::string* out) {
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  const std::string pad(indent, ' ');
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int j = 0; j < n; ++j) {
        *out += fmt::format("{}{} {{\n", pad, f->name());
        print_message(f->is_repeated() ? r->GetRepeatedMessage(m, f, j) : r->GetMessage(m, f),
                      indent + 2, out);
        *out += pad + "}\n";
      }
    } else if (f->is_repeated()) {
      std::vector<std::string> items;
      for (int j = 0; j < r->FieldSize(m, f); ++j) items.push_back(scalar_text(m, f, j));
      *out += fmt::format("{}{}: [{}]\n", pad, f->name(), fmt::join(items, ", "));
    } else {
      *out += fmt::format("{}{}: {}\n", pad, f->name(), scalar_text(m, f, -1));
    }
  }
}

}  // namespace

namespace detail {
const Recipe& default_recipe() {
  return defaults();
}
}  // namespace detail

namespace detail {

std::string path_string(const FieldPath& path) {
  std::string s;
  for (const PathStep& step : path) {
    if (!s.empty()) s += '.';
    s += step.field->name();
    if (step.index >= 0) s += fmt::format("[{}]", step.index);
  }
  return s;
}

std::string path_key(const FieldPath& path) {
  std::string s;
  for (const PathStep& step : path) {
    if (!s.empty()) s += '.';
    s += step.field->name();
  }
  return s;
}

std::string Origins::locate(const FieldPath& path) const {
  if (auto it = overrides_.find(path_key(path)); it != overrides_.end()) return it->second;
  // The tree wants -1 for singular fields and an element for repeated ones (a rule about a
  // whole list points at its first entry).
  auto index_of = [](const PathStep& s) {
    return s.field->is_repeated() ? std::max(s.index, 0) : -1;
  };
  const pb::TextFormat::ParseInfoTree* tree = tree_;
  for (size_t i = 0; tree != nullptr && i + 1 < path.size(); ++i)
    tree = tree->GetTreeForNested(path[i].field, index_of(path[i]));
  if (tree == nullptr || path.empty()) return "";
  // A list written as `f: [a, b, c]` records one location for all its elements.
  const PathStep& leaf = path.back();
  int line = -1;
  for (int index = index_of(leaf); line < 0 && index >= -1; --index) {
    line = tree->GetLocation(leaf.field, index).line;
    if (index <= 0) break;
  }
  return line >= 0 ? fmt::format("{}:{}", display_name_, line + 1) : "";
}

void fail_fields(const Origins& origins, const std::vector<FieldPath>& fields,
                 const std::string& message) {
  std::string where;
  for (bool want_override : {true, false}) {
    for (const FieldPath& f : fields) {
      std::string w = origins.locate(f);
      if (!w.empty() && (w.rfind("--set ", 0) == 0) == want_override) {
        where = std::move(w);
        break;
      }
    }
    if (!where.empty()) break;
  }
  const std::string name = fields.empty() ? std::string("recipe") : path_string(fields.front());
  if (where.empty())
    throw Error(ErrorKind::kConfig, origins.display_name(),
                fmt::format("{} (default): {}", name, message));
  throw Error(ErrorKind::kConfig, std::move(where), fmt::format("{}: {}", name, message));
}

std::string nearest_name(const std::vector<std::string>& names, std::string_view name) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::string a = lower(name);
  std::string best;
  size_t best_dist = std::max<size_t>(1, (a.size() + 1) / 3) + 1;  // farther is not a typo
  for (const std::string& candidate : names) {
    const std::string b = lower(candidate);
    // Edit distance counting a swap of neighbours as one edit ("hedas" -> "heads").
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t x = 0; x <= a.size(); ++x) d[x][0] = x;
    for (size_t y = 0; y <= b.size(); ++y) d[0][y] = y;
    for (size_t x = 1; x <= a.size(); ++x) {
      for (size_t y = 1; y <= b.size(); ++y) {
        d[x][y] =
            std::min({d[x - 1][y] + 1, d[x][y - 1] + 1, d[x - 1][y - 1] + (a[x - 1] != b[y - 1])});
        if (x > 1 && y > 1 && a[x - 1] == b[y - 2] && a[x - 2] == b[y - 1])
          d[x][y] = std::min(d[x][y], d[x - 2][y - 2] + 1);
      }
    }
    if (d[a.size()][b.size()] < best_dist) {
      best_dist = d[a.size()][b.size()];
      best = candidate;
    }
  }
  if (best.empty() && a.size() >= 3) {
    // A truncated name ("warm" for warmup_steps) when exactly one candidate starts with it.
    for (const std::string& candidate : names) {
      if (lower(candidate).rfind(a, 0) != 0) continue;
      if (!best.empty()) return "";
      best = candidate;
    }
  }
  return best;
}

std::string nearest_field(const pb::Descriptor* type, std::string_view name) {
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) names.push_back(type->field(i)->name());
  return nearest_name(names, name);
}

std::string enum_names(const pb::EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i)
    if (type->value(i)->number() != 0) names.push_back(type->value(i)->name());
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace detail

Recipe load_recipe_from_string(const std::string& text, const std::string& display_name,
                               const std::vector<std::string>& overrides) {
  // A strict parse first: Merge (needed to keep defaults) silently lets a field repeat.
  {
    Recipe scratch;
    TextFormatErrors errors(Recipe::descriptor());
    pb::TextFormat::Parser strict;
    strict.RecordErrorsTo(&errors);
    if (!strict.ParseFromString(text, &scratch))
      errors.raise(text, display_name, ErrorKind::kConfig);
  }
  // Merging sets every field the text names, even to its zero value, so an explicit `lr: 0`
  // replaces the default and is then rejected by validation.
  Recipe recipe = defaults();
  pb::TextFormat::ParseInfoTree tree;
  TextFormatErrors errors(Recipe::descriptor());
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.MergeFromString(text, &recipe)) errors.raise(text, display_name, ErrorKind::kConfig);

  Origins origins(display_name, &tree);
  for (const std::string& arg : overrides) detail::apply_override(&recipe, arg, &origins);
  detail::validate_recipe(recipe, origins);
  return recipe;
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = read_file(path);
  // An empty file is most likely a mistake (a truncated copy, /dev/null): it would run the
  // defaults under the name "run" for thousands of steps.
  bool content = false;
  for (size_t at = 0; at < text.size() && !content;) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const size_t first = text.find_first_not_of(" \t\r", at);
    content = first < end && text[first] != '#';
    at = end + 1;
  }
  if (!content)
    throw Error(ErrorKind::kConfig, path,
                "the recipe sets nothing (an empty file?); write at least its name and what "
                "differs from framework/config/defaults.textproto");
  return load_recipe_from_string(text, path, overrides);
}

std::string recipe_to_text(const Recipe& recipe) {
  std::string out;
  print_message(recipe, 0, &out);
  return out;
}

uint64_t recipe_hash(const Recipe& recipe) {
  Recipe identity = recipe;
  identity.mutable_train()->clear_device();
  // CAD's options are inert for the other modes, and CAD computes what DATA_PARALLEL does.
  if (identity.parallel().mode() == attnlab::config::Parallel::CAD)
    identity.mutable_parallel()->set_mode(attnlab::config::Parallel::DATA_PARALLEL);
  identity.mutable_parallel()->clear_cad();
  std::string bytes;
  {
    pb::io::StringOutputStream stream(&bytes);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    identity.SerializeToCodedStream(&coded);
  }
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string recipe_hash_hex(const Recipe& recipe) {
  return fmt::format("{:016x}", recipe_hash(recipe));
}

std::string_view default_recipe_text() {
  return detail::kDefaultsText;
}

}  // namespace attn::config
