#include "framework/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"

namespace attn {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swaps here");

namespace {

using Json = nlohmann::ordered_json;  // keeps header order, which breaks ties between empty tensors

constexpr const char* kMetadataKey = "__metadata__";

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "F32";
    case DType::kF64:
      return "F64";
    case DType::kBF16:
      return "BF16";
    case DType::kI32:
      return "I32";
    case DType::kI64:
      return "I64";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::kF32, DType::kF64, DType::kBF16, DType::kI32, DType::kI64}) {
    if (s == st_dtype_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

// A malformed file is bad input (exit 2), like a bad recipe; only the OS failing us is kIo.
[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  throw Error(ErrorKind::kInput, path, what);
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;  // relative to the data buffer
};

// One header entry, checked in isolation; `hdr` is "header (bytes 8..M)" for messages.
Entry parse_entry(const std::string& path, const std::string& hdr, const std::string& name,
                  const Json& v, uint64_t data_size) {
  auto fail = [&](const std::string& what) {
    bad_file(path, fmt::format("{}: tensor '{}': {}", hdr, name, what));
  };
  if (!v.is_object()) fail("entry is not a JSON object");
  Entry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail("missing string field 'dtype'");
  if (!parse_st_dtype(dt->get<std::string>(), &e.dtype))
    fail(fmt::format("unsupported dtype '{}' (expected F32, F64, BF16, I32 or I64)",
                     dt->get<std::string>()));
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail("missing array field 'shape'");
  if (sh->size() > static_cast<size_t>(kMaxDims))
    fail(fmt::format("{} dimensions, at most {} supported", sh->size(), kMaxDims));
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  for (const Json& d : *sh) {
    if (!d.is_number_unsigned())
      fail(fmt::format("shape entry {} is not a non-negative integer", d.dump()));
    const uint64_t n = d.get<uint64_t>();
    if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, n, &numel))
      fail("shape has more elements than fit in 64 bits");
    dims.push_back(static_cast<int64_t>(n));
  }
  e.shape = Shape(dims);
  uint64_t nbytes;
  if (__builtin_mul_overflow(numel, dtype_size(e.dtype), &nbytes))
    fail("shape has more bytes than fit in 64 bits");
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail("'data_offsets' must be [begin, end] with non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin) fail(fmt::format("data_offsets [{}, {}] end before begin", e.begin, e.end));
  if (e.end > data_size)
    fail(fmt::format("data_offsets [{}, {}] run past the data buffer ({} bytes)", e.begin, e.end,
                     data_size));
  if (e.end - e.begin != nbytes)
    fail(fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", e.begin, e.end,
                     e.end - e.begin, st_dtype_name(e.dtype), e.shape.str(), nbytes));
  return e;
}

}  // namespace

std::string encode_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey)
      ATTN_FAIL(kInput, "safetensors: '{}' is reserved and cannot name a tensor", name);
    if (!seen.insert(name).second)
      ATTN_FAIL(kInput, "safetensors: tensor name '{}' given twice", name);
    ATTN_CHECK(t.defined(), "safetensors: tensor '{}' is undefined", name);
    host.push_back(t.device().is_cpu() ? t : t.to(Device::cpu()));
    const uint64_t n = t.nbytes();
    header[name] = {{"dtype", st_dtype_name(t.dtype())},
                    {"shape", t.shape().vec()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    ATTN_FAIL(kInput, "safetensors: a tensor name or metadata string is not UTF-8: {}", e.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-aligned, as the format asks

  std::string out;
  out.reserve(8 + json.size() + offset);
  const uint64_t n = json.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += json;
  for (const Tensor& t : host)
    if (t.nbytes() > 0) out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata));
}

SafetensorsFile decode_safetensors(std::string_view bytes, const std::string& path) {
  const uint64_t size = bytes.size();
  if (size < 8)
    bad_file(path, fmt::format("file is {} bytes, too short for the 8-byte header length", size));
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  if (n > size - 8)
    bad_file(path, fmt::format("byte 0: header length {} runs past the end of the file "
                               "({} bytes)",
                               n, size));
  const std::string hdr = fmt::format("header (bytes 8..{})", 8 + n);
  const std::string_view text = bytes.substr(8, n);

  // nlohmann keeps one value per duplicate key silently, so duplicates are caught while parsing.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  size_t duplicate_depth = 0;
  Json::parser_callback_t on_event = [&](int, nlohmann::json::parse_event_t ev, Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) open_objects.emplace_back();
    if (ev == E::object_end && !open_objects.empty()) open_objects.pop_back();
    if (ev == E::key && !open_objects.empty() && duplicate.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
      duplicate_depth = open_objects.size();
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::parse_error& e) {
    bad_file(path, fmt::format("byte {}: invalid JSON in the {}: {}",
                               8 + (e.byte > 0 ? e.byte - 1 : 0), hdr, e.what()));
  }
  if (!duplicate.empty())
    bad_file(path, fmt::format("{}: duplicate {} '{}'", hdr,
                               duplicate_depth == 1 ? "tensor name" : "key", duplicate));
  if (!header.is_object()) bad_file(path, fmt::format("{}: not a JSON object", hdr));

  SafetensorsFile file;
  file.path = path;
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = size - data_start;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) bad_file(path, fmt::format("{}: '{}' is not an object", hdr, key));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          bad_file(path, fmt::format("{}: metadata '{}' is {}, not a string", hdr, mk, mv.dump()));
        file.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, hdr, key, value, data_size));
  }

  // The format requires the tensors to tile the data buffer exactly: no overlaps, no holes.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < cursor)
      bad_file(path, fmt::format("byte {}: tensor '{}' overlaps tensor '{}'", data_start + e.begin,
                                 e.name, prev->name));
    if (e.begin > cursor)
      bad_file(path, fmt::format("byte {}: {} unused bytes before tensor '{}'", data_start + cursor,
                                 e.begin - cursor, e.name));
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_size)
    bad_file(path, fmt::format("byte {}: {} trailing bytes not owned by any tensor",
                               data_start + cursor, data_size - cursor));

  file.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw(), bytes.data() + data_start + e.begin, e.end - e.begin);
    file.tensors.emplace_back(e.name, std::move(t));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return decode_safetensors(read_file(path), path);
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Error(ErrorKind::kInput, path, fmt::format("no tensor named '{}'", name));
}

bool SafetensorsFile::has(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

}  // namespace attn
