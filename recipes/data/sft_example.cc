#include "recipes/data/sft_example.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/file_util.h"

namespace attn {

namespace {

using nlohmann::json;

const char* role_name(RunRole r) {
  return r == RunRole::kResponse ? "response" : "context";
}

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorKind::kInput, where, what);
}

}  // namespace

std::string SftExample::text_of(RunRole role) const {
  std::string out;
  for (const SftRun& r : runs)
    if (r.role == role) out += r.text;
  return out;
}

size_t SftExample::size() const {
  size_t n = 0;
  for (const SftRun& r : runs) n += r.text.size();
  return n;
}

std::string to_jsonl_line(const SftExample& example) {
  json runs = json::array();
  for (const SftRun& r : example.runs)
    runs.push_back({{"role", role_name(r.role)}, {"text", r.text}});
  json line = {{"runs", runs}};
  if (!example.meta.empty()) line["meta"] = example.meta;
  // Invalid UTF-8 (byte-level text) is written with replacement characters rather than failing.
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

SftExample parse_sft_line(std::string_view line, const std::string& where) {
  const json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) bad(where, "not valid JSON");
  if (!j.is_object()) bad(where, "an example must be a JSON object with \"runs\"");
  for (const auto& [key, value] : j.items())
    if (key != "runs" && key != "meta")
      bad(where, fmt::format("unknown key \"{}\" (expected \"runs\" and optional \"meta\")", key));
  if (!j.contains("runs") || !j["runs"].is_array() || j["runs"].empty())
    bad(where, "\"runs\" must be a non-empty array of {\"role\", \"text\"}");
  SftExample ex;
  size_t i = 0;
  for (const json& r : j["runs"]) {
    const std::string at = fmt::format("runs[{}]", i++);
    if (!r.is_object() || !r.contains("role") || !r.contains("text") || r.size() != 2)
      bad(where, at + " must be {\"role\": ..., \"text\": ...} and nothing else");
    if (!r["text"].is_string()) bad(where, at + ".text must be a string");
    const std::string role = r["role"].is_string() ? r["role"].get<std::string>() : "";
    if (role != "context" && role != "response")
      bad(where, at + ".role must be \"context\" or \"response\"");
    ex.runs.push_back({role == "response" ? RunRole::kResponse : RunRole::kContext,
                       r["text"].get<std::string>()});
  }
  if (j.contains("meta")) {
    if (!j["meta"].is_object()) bad(where, "\"meta\" must be an object of strings");
    for (const auto& [key, value] : j["meta"].items()) {
      if (!value.is_string()) bad(where, fmt::format("meta.{} must be a string", key));
      ex.meta[key] = value.get<std::string>();
    }
  }
  return ex;
}

void write_sft_jsonl(const std::string& path, const std::vector<SftExample>& examples) {
  std::string out;
  for (const SftExample& e : examples) out += to_jsonl_line(e) + "\n";
  write_file_atomic(path, out);
}

std::vector<SftExample> read_sft_jsonl(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<SftExample> out;
  size_t line_no = 0;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    ++line_no;
    const std::string_view line(text.data() + b, e - b);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      const std::string where = fmt::format("{}:{}", path, line_no);
      out.push_back(parse_sft_line(line, where));
      out.back().where = where;
    }
    b = e + 1;
  }
  return out;
}

}  // namespace attn
