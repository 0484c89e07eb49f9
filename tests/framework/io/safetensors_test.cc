// safetensors writer/reader: round trips of every dtype, the on-disk layout, rejection of each
// kind of corrupt file (bytes written by hand), atomic whole-file writes, and PyTorch interop.
#include "framework/io/safetensors.h"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "framework/core/bf16.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, so parallel ctest processes never share files.
fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir =
      fs::path(::testing::TempDir()) /
      fmt::format("attnlab_st_{}_{}_{}", info->test_suite_name(), info->name(), getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A file with the given header JSON (not padded, so the reader's tolerance of any N is tested)
// and data buffer.
std::string raw_file(const std::string& json, const std::string& data, int64_t length = -1) {
  const uint64_t n = length < 0 ? json.size() : static_cast<uint64_t>(length);
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + json + data;
}

// Expects decoding to throw kInput (a malformed file is bad input, exit 2) naming the path, with
// `fragment` in the message.
void expect_rejected(const std::string& bytes, const std::string& fragment) {
  SCOPED_TRACE(fragment);
  try {
    decode_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "accepted a corrupt file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_EQ(e.where(), "bad.safetensors");
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
  }
}

Tensor bf16_tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t = Tensor::empty(shape, DType::kBF16);
  for (size_t i = 0; i < values.size(); ++i) t.data<uint16_t>()[i] = float_to_bf16(values[i]);
  return t;
}

std::vector<std::pair<std::string, Tensor>> every_dtype() {
  return {
      {"f32", Tensor::from_vector<float>({2, 3}, {1.5f, -2, 3, 4e-30f, 5, -6})},
      {"f64", Tensor::from_vector<double>({3}, {0.1, -1e300, 3.25})},
      {"i32", Tensor::from_vector<int32_t>({2, 2}, {1, -2, 2147483647, -7})},
      {"i64", Tensor::from_vector<int64_t>({1, 2}, {-(int64_t{1} << 40), 9})},
      {"bf16", bf16_tensor({2}, {1.0f, -0.375f})},
      {"scalar", Tensor::from_vector<double>({}, {2.5})},
      {"empty", Tensor::zeros({0, 3}, DType::kF32)},
      {"empty_i64", Tensor::zeros({4, 0}, DType::kI64)},
  };
}

TEST(Safetensors, RoundTripEveryDtypeScalarAndEmpty) {
  const std::string path = (test_dir() / "t.safetensors").string();
  const auto tensors = every_dtype();
  write_safetensors(path, tensors, {{"step", "12"}, {"format", "pt"}});
  const SafetensorsFile f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, want] = tensors[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(f.tensors[i].first, name);  // writer order is offset order
    const Tensor& got = f.get(name);
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    ASSERT_EQ(got.nbytes(), want.nbytes());
    if (want.nbytes() > 0) {
      EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0);
    }
  }
  EXPECT_EQ(f.get("scalar").ndim(), 0);
  EXPECT_EQ(f.get("scalar").item(), 2.5);
  EXPECT_EQ(f.get("bf16").to_vector<double>(), (std::vector<double>{1.0, -0.375}));
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"step", "12"}, {"format", "pt"}}));
}

TEST(Safetensors, LayoutFollowsTheFormat) {
  const std::string bytes = encode_safetensors({{"b", Tensor::from_vector<float>({2}, {1, 2})},
                                                {"a", Tensor::from_vector<int64_t>({1}, {7})}},
                                               {{"k", "v"}});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 8 + 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["b"]["dtype"], "F32");
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json::array({0, 8}));
  EXPECT_EQ(header["a"]["dtype"], "I64");
  EXPECT_EQ(header["a"]["shape"], nlohmann::json::array({1}));
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json::array({8, 16}));
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, 1.0f);
  // No metadata: no "__metadata__" key at all.
  const std::string plain = encode_safetensors({{"x", Tensor::zeros({1})}});
  EXPECT_EQ(plain.find("__metadata__"), std::string::npos);
  EXPECT_TRUE(decode_safetensors(plain, "p").metadata.empty());
}

TEST(Safetensors, HandWrittenFileIsRead) {
  // Offsets listed out of order in the header: tensors come back in offset order.
  const std::string json =
      R"({"y":{"dtype":"I32","shape":[],"data_offsets":[8,12]},)"
      R"("x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"a":"b"}})";
  std::string data(12, '\0');
  const double x = -4.5;
  const int32_t y = 77;
  std::memcpy(data.data(), &x, 8);
  std::memcpy(data.data() + 8, &y, 4);
  const SafetensorsFile f = decode_safetensors(raw_file(json, data), "hand");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "x");
  EXPECT_EQ(f.tensors[1].first, "y");
  EXPECT_EQ(f.get("x").to_vector<double>(), std::vector<double>{-4.5});
  EXPECT_EQ(f.get("y").item(), 77);
  EXPECT_EQ(f.metadata.at("a"), "b");
}

TEST(Safetensors, MissingTensorNamesTheFile) {
  const SafetensorsFile f =
      decode_safetensors(encode_safetensors({{"x", Tensor::zeros({1})}}), "ckpt/model.safetensors");
  EXPECT_TRUE(f.has("x"));
  EXPECT_FALSE(f.has("y"));
  try {
    f.get("y");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_EQ(e.where(), "ckpt/model.safetensors");
    EXPECT_NE(e.message().find("'y'"), std::string::npos);
  }
}

TEST(Safetensors, WriterRejectsDuplicateAndReservedNames) {
  const Tensor t = Tensor::zeros({1});
  EXPECT_THROW(encode_safetensors({{"a", t}, {"a", t}}), Error);
  EXPECT_THROW(encode_safetensors({{"__metadata__", t}}), Error);
}

TEST(Safetensors, RejectsShortFileAndHeaderPastEnd) {
  expect_rejected(std::string(5, '\0'), "too short");
  expect_rejected(raw_file("{}", "", 1000), "byte 0: header length 1000 runs past");
}

TEST(Safetensors, RejectsInvalidJson) {
  expect_rejected(raw_file(R"({"x": {"dtype": )", ""), "invalid JSON");
  expect_rejected(raw_file(R"({"x": {"dtype": )", ""), "byte ");
  expect_rejected(raw_file("[1, 2]", ""), "not a JSON object");
}

TEST(Safetensors, RejectsUnknownDtypeAndBadShape) {
  expect_rejected(
      raw_file(R"({"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", std::string(2, '\0')),
      "unsupported dtype 'F16'");
  expect_rejected(
      raw_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0')),
      "not a non-negative integer");
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1],"data_offsets":[0,4]}})",
                           std::string(4, '\0')),
                  "7 dimensions");
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')),
                  "data_offsets");
  expect_rejected(raw_file(R"({"x":{"dtype":"F64","shape":[4294967296,4294967296],)"
                           R"("data_offsets":[0,8]}})",
                           std::string(8, '\0')),
                  "64 bits");
}

TEST(Safetensors, RejectsOffsetsOutOfRangeOverlappingOrWrongSize) {
  const std::string data(8, '\0');
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data),
                  "run past the data buffer (8 bytes)");
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", data),
                  "end before begin");
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
                  "hold 8 bytes but F32 [3] needs 12");
  // 'y' starts 2 bytes into the data buffer, which follows the 8-byte length and the header.
  const std::string overlap = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})";
  expect_rejected(raw_file(overlap, std::string(6, '\0')),
                  fmt::format("byte {}: tensor 'y' overlaps tensor 'x'", 8 + overlap.size() + 2));
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data),
                  "4 unused bytes before tensor 'x'");
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data),
                  "4 trailing bytes");
}

TEST(Safetensors, RejectsDuplicateNamesAndNonStringMetadata) {
  expect_rejected(raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           std::string(8, '\0')),
                  "duplicate tensor name 'x'");
  expect_rejected(raw_file(R"({"__metadata__":{"step":3}})", ""), "metadata 'step' is 3");
  expect_rejected(raw_file(R"({"__metadata__":["a"]})", ""), "is not an object");
}

TEST(FileUtil, AtomicWriteReplacesAndLeavesNoTemp) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "state.pb").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, std::string("sec\0nd", 6));
  EXPECT_EQ(read_file(path), std::string("sec\0nd", 6));
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  write_file_atomic(path, "");
  EXPECT_EQ(read_file(path), "");
}

TEST(FileUtil, ErrorsNameThePath) {
  const fs::path dir = test_dir();
  const std::string missing = (dir / "no_such_dir" / "f").string();
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0)
        write_file_atomic(missing, "x");
      else
        read_file(missing);
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      // Writing into a missing directory is the environment failing (exit 1); reading a path
      // that names nothing is the caller's input (exit 2).
      EXPECT_EQ(e.kind(), which == 0 ? ErrorKind::kIo : ErrorKind::kInput);
      EXPECT_EQ(e.where(), missing);
    }
  }
  EXPECT_THROW(read_file(dir.string()), Error);  // a directory is not a file
  const std::string fifo = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    read_file(fifo);  // must not block waiting for a writer
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_safetensors(missing), Error);
}

// Runs a command and returns its exit status and standard output.
std::pair<int, std::string> run(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A reader written from the format description alone, so it checks our files, not our reader.
constexpr const char* kTorchReader = R"PY(
import json, struct, sys, torch
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
dtypes = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64,
          "BF16": torch.bfloat16}
out = {"__metadata__": header.pop("__metadata__", {})}
for name, e in header.items():
    b, end = e["data_offsets"]
    buf = bytearray(data[8 + n + b:8 + n + end])
    t = torch.frombuffer(buf, dtype=dtypes[e["dtype"]]) if buf else torch.empty(0, dtype=dtypes[e["dtype"]])
    t = t.reshape(e["shape"])
    v = t.double() if t.is_floating_point() else t
    out[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": v.flatten().tolist()}
print(json.dumps(out))
)PY";

TEST(Safetensors, FileLoadsInPyTorch) {
  if (run("/usr/bin/python3 -c 'import torch' 2>/dev/null").first != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch not found (Debian package python3-torch)";
  const fs::path dir = test_dir();
  const std::string path = (dir / "t.safetensors").string();
  const std::string script = (dir / "reader.py").string();
  write_file_atomic(script, kTorchReader);
  const auto tensors = every_dtype();
  write_safetensors(path, tensors, {{"note", "hello"}});
  const auto [rc, out] = run("/usr/bin/python3 " + script + " " + path);
  ASSERT_EQ(rc, 0) << out;
  const auto got = nlohmann::json::parse(out);
  EXPECT_EQ(got["__metadata__"]["note"], "hello");
  const std::map<DType, std::string> torch_name = {{DType::kF32, "torch.float32"},
                                                   {DType::kF64, "torch.float64"},
                                                   {DType::kI32, "torch.int32"},
                                                   {DType::kI64, "torch.int64"},
                                                   {DType::kBF16, "torch.bfloat16"}};
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.contains(name));
    EXPECT_EQ(got[name]["dtype"], torch_name.at(t.dtype()));
    EXPECT_EQ(got[name]["shape"].get<std::vector<int64_t>>(), t.shape().vec());
    if (is_floating(t.dtype()))
      EXPECT_EQ(got[name]["values"].get<std::vector<double>>(), t.to_vector<double>());
    else
      EXPECT_EQ(got[name]["values"].get<std::vector<int64_t>>(), t.to_vector<int64_t>());
  }
}

}  // namespace
}  // namespace attn
