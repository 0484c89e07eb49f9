// `--set a.b.c=value`: walks the schema by field name and sets one scalar, enum or list field.

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "framework/config/recipe_internal.h"
#include "framework/core/error.h"

namespace attn::config::detail {

namespace pb = google::protobuf;

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Parses one value of field `f` and adds it (repeated) or sets it (singular) on `m`.
class ValueSetter {
 public:
  ValueSetter(pb::Message* m, const pb::FieldDescriptor* f, std::string where, std::string path)
      : m_(m), f_(f), r_(m->GetReflection()), where_(std::move(where)), path_(std::move(path)) {}

  void set(const std::string& text) {
    switch (f_->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        const auto v = integer<int32_t>(text);
        f_->is_repeated() ? r_->AddInt32(m_, f_, v) : r_->SetInt32(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        const auto v = integer<int64_t>(text);
        f_->is_repeated() ? r_->AddInt64(m_, f_, v) : r_->SetInt64(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32: {
        const auto v = integer<uint32_t>(text);
        f_->is_repeated() ? r_->AddUInt32(m_, f_, v) : r_->SetUInt32(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        const auto v = integer<uint64_t>(text);
        f_->is_repeated() ? r_->AddUInt64(m_, f_, v) : r_->SetUInt64(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
        const double v = real(text);
        f_->is_repeated() ? r_->AddDouble(m_, f_, v) : r_->SetDouble(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        const auto v = static_cast<float>(real(text));
        f_->is_repeated() ? r_->AddFloat(m_, f_, v) : r_->SetFloat(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        const std::string u = upper(text);
        if (u != "TRUE" && u != "FALSE" && u != "1" && u != "0")
          fail(fmt::format("expects true, false, 1 or 0, got '{}'", text));
        const bool v = u == "TRUE" || u == "1";
        f_->is_repeated() ? r_->AddBool(m_, f_, v) : r_->SetBool(m_, f_, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING:
        f_->is_repeated() ? r_->AddString(m_, f_, text) : r_->SetString(m_, f_, text);
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* e = f_->enum_type()->FindValueByName(upper(text));
        if (e == nullptr)
          fail(fmt::format("unknown value '{}' (one of {})", text, enum_names(f_->enum_type())));
        f_->is_repeated() ? r_->AddEnumValue(m_, f_, e->number())
                          : r_->SetEnumValue(m_, f_, e->number());
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        fail("is a message");  // callers never get here: messages are rejected before
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::kConfig, where_, fmt::format("{}: {}", path_, what));
  }

  template <typename T>
  T integer(const std::string& text) const {
    T v{};
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec == std::errc::result_out_of_range)
      fail(fmt::format("{} is out of range for {}", text, f_->type_name()));
    if (ec != std::errc() || ptr != end || text.empty()) {
      const bool is_unsigned = !std::numeric_limits<T>::is_signed;
      fail(fmt::format("expects {} ({}), got '{}'",
                       is_unsigned ? "a non-negative integer" : "an integer", f_->type_name(),
                       text));
    }
    return v;
  }

  double real(const std::string& text) const {
    // strtod rather than from_chars: the latter rejects a leading '+' and hex floats differ.
    char* end = nullptr;
    errno = 0;
    const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() ||
        std::isspace(static_cast<unsigned char>(text[0])))
      fail(fmt::format("expects a number ({}), got '{}'", f_->type_name(), text));
    if (errno == ERANGE && std::isinf(v))
      fail(fmt::format("{} is out of range for {}", text, f_->type_name()));
    return v;
  }

  pb::Message* m_;
  const pb::FieldDescriptor* f_;
  const pb::Reflection* r_;
  std::string where_;
  std::string path_;
};

}  // namespace

void apply_override(attnlab::config::Recipe* recipe, const std::string& arg, Origins* origins) {
  const std::string where = "--set " + arg;
  auto fail = [&](const std::string& what) { throw Error(ErrorKind::kConfig, where, what); };

  const size_t eq = arg.find('=');
  if (eq == std::string::npos) fail("expected path=value, e.g. --set optim.lr=3e-4");
  const std::string path = trim(std::string_view(arg).substr(0, eq));
  const std::string value = arg.substr(eq + 1);

  pb::Message* msg = recipe;
  std::string walked;  // the path so far, for messages
  size_t begin = 0;
  while (true) {
    const size_t dot = path.find('.', begin);
    const std::string name = path.substr(begin, dot == std::string::npos ? dot : dot - begin);
    if (name.empty()) fail(fmt::format("empty field name in '{}'", path));
    const pb::Descriptor* type = msg->GetDescriptor();
    const pb::FieldDescriptor* f = type->FindFieldByName(name);
    if (f == nullptr) {
      const std::string near = nearest_field(type, name);
      fail(fmt::format("no field '{}' in {}{}", name, type->full_name(),
                       near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
    }
    walked += (walked.empty() ? "" : ".") + name;
    const bool last = dot == std::string::npos;
    const bool is_message = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;

    if (!last) {
      if (!is_message)
        fail(fmt::format("{} is a {} value and has no field '{}'", walked, f->type_name(),
                         path.substr(dot + 1)));
      if (f->is_repeated())
        fail(fmt::format("{} is a list of messages: --set cannot reach into it", walked));
      msg = msg->GetReflection()->MutableMessage(msg, f);
      begin = dot + 1;
      continue;
    }
    if (is_message) {
      const pb::Descriptor* sub = f->message_type();
      fail(fmt::format("{} is a message ({}): set one of its fields, e.g. {}.{}=...", walked,
                       sub->full_name(), walked,
                       sub->field_count() > 0 ? sub->field(0)->name() : "field"));
    }
    ValueSetter setter(msg, f, where, walked);
    if (f->is_repeated()) {
      // A whole list at once, comma-separated; an empty value clears it.
      msg->GetReflection()->ClearField(msg, f);
      const std::string list = trim(value);
      for (size_t b = 0; !list.empty() && b <= list.size();) {
        const size_t comma = std::min(list.find(',', b), list.size());
        setter.set(trim(std::string_view(list).substr(b, comma - b)));
        b = comma + 1;
      }
    } else {
      const bool keep_spaces = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING;
      setter.set(keep_spaces ? value : trim(value));
    }
    origins->record_override(walked, where);
    return;
  }
}

}  // namespace attn::config::detail
