// TensorBoard event files: CRC-32C vectors, and a reader written independently of the writer
// (bitwise CRC, own varint/protobuf decoding) that checks framing, both CRCs and decoded values.
#include "framework/io/tensorboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/crc32c.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

uint32_t bitwise_crc32c(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

uint32_t masked(const std::string& s) {
  const uint32_t c = bitwise_crc32c(s);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

template <typename T>
T le(const std::string& s, size_t at) {
  if (at + sizeof(T) > s.size()) throw std::runtime_error("short read");
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

struct Decoded {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;
};

uint64_t varint(const std::string& s, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= s.size()) throw std::runtime_error("truncated varint");
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint too long");
}

// Calls f(field, wire_type, payload-or-value) for every field of a message.
template <typename F>
void fields(const std::string& msg, F&& f) {
  size_t at = 0;
  while (at < msg.size()) {
    const uint64_t key = varint(msg, at);
    const auto field = static_cast<uint32_t>(key >> 3), type = static_cast<uint32_t>(key & 7);
    if (type == 0) {
      f(field, type, std::string(), varint(msg, at));
    } else if (type == 1 || type == 5) {
      const size_t n = type == 1 ? 8 : 4;
      if (at + n > msg.size()) throw std::runtime_error("truncated fixed");
      f(field, type, msg.substr(at, n), 0);
      at += n;
    } else if (type == 2) {
      const uint64_t n = varint(msg, at);
      if (at + n > msg.size()) throw std::runtime_error("truncated bytes");
      f(field, type, msg.substr(at, n), 0);
      at += n;
    } else {
      throw std::runtime_error("unexpected wire type");
    }
  }
}

Decoded decode_event(const std::string& msg) {
  Decoded d;
  fields(msg, [&](uint32_t field, uint32_t type, const std::string& p, uint64_t v) {
    if (field == 1 && type == 1) d.wall_time = le<double>(p, 0);
    if (field == 2 && type == 0) d.step = static_cast<int64_t>(v);
    if (field == 3 && type == 2) d.file_version = p;
    if (field == 5 && type == 2)
      fields(p, [&](uint32_t f2, uint32_t t2, const std::string& value, uint64_t) {
        if (f2 != 1 || t2 != 2) return;
        std::pair<std::string, float> tv{"", NAN};
        fields(value, [&](uint32_t f3, uint32_t t3, const std::string& x, uint64_t) {
          if (f3 == 1 && t3 == 2) tv.first = x;
          if (f3 == 2 && t3 == 5) tv.second = le<float>(x, 0);
        });
        d.values.push_back(tv);
      });
  });
  return d;
}

// Reads every record; throws naming the byte offset on bad framing or a CRC mismatch.
std::vector<Decoded> read_events(const std::string& data) {
  std::vector<Decoded> events;
  size_t at = 0;
  while (at < data.size()) {
    const auto len = le<uint64_t>(data, at);
    if (le<uint32_t>(data, at + 8) != masked(data.substr(at, 8)))
      throw std::runtime_error("length crc mismatch at " + std::to_string(at));
    if (at + 12 + len + 4 > data.size()) throw std::runtime_error("truncated record");
    const std::string payload = data.substr(at + 12, len);
    if (le<uint32_t>(data, at + 12 + len) != masked(payload))
      throw std::runtime_error("data crc mismatch at " + std::to_string(at));
    events.push_back(decode_event(payload));
    at += 12 + len + 4;
  }
  return events;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TensorBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("attnlab_tb_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string text = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32c(text.data(), text.size()), bitwise_crc32c(text));
  // Extending in pieces equals one pass.
  EXPECT_EQ(crc32c(text.data() + 10, text.size() - 10, crc32c(text.data(), 10)),
            crc32c(text.data(), text.size()));
  for (uint32_t c : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) EXPECT_EQ(crc32c_unmask(crc32c_mask(c)), c);
}

TEST_F(TensorBoardTest, WritesReadableScalarEvents) {
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string path;
  {
    EventWriter w(dir_.string(), "rank0");
    path = w.path();
    w.scalar("train/loss", 1, 2.5);
    w.scalar("train/loss", 2, 2.25);
    w.scalar("lr", 300, 1e-3);
    w.scalar("neg_step", -1, -7.0);
    w.flush();
    EXPECT_EQ(read_events(slurp(path)).size(), 5u) << "flush makes events visible";
  }
  const std::string name = fs::path(path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 6), ".rank0");
  EXPECT_EQ(fs::path(path).parent_path(), dir_);

  const auto events = read_events(slurp(path));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].values.empty());
  EXPECT_GE(events[0].wall_time, before - 1);
  EXPECT_LE(events[0].wall_time, before + 60);
  EXPECT_EQ(events[1].step, 1);
  ASSERT_EQ(events[1].values.size(), 1u);
  EXPECT_EQ(events[1].values[0].first, "train/loss");
  EXPECT_EQ(events[1].values[0].second, 2.5f);
  EXPECT_EQ(events[2].values[0].second, 2.25f);
  EXPECT_EQ(events[3].step, 300);
  EXPECT_EQ(events[3].values[0].first, "lr");
  EXPECT_EQ(events[3].values[0].second, 1e-3f);
  EXPECT_EQ(events[4].step, -1);
  EXPECT_EQ(events[4].values[0].second, -7.0f);
  EXPECT_GE(events[4].wall_time, events[0].wall_time);
}

TEST_F(TensorBoardTest, SecondWriterInSameSecondGetsItsOwnFile) {
  EventWriter a(dir_.string(), "x");
  EventWriter b(dir_.string(), "x");
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(read_events(slurp(b.path())).size(), 1u);
}

TEST_F(TensorBoardTest, CorruptedByteIsDetected) {
  std::string path;
  {
    EventWriter w(dir_.string());
    path = w.path();
    w.scalar("loss", 5, 1.0);
  }
  const std::string good = slurp(path);
  ASSERT_NO_THROW(read_events(good));
  // Flip one byte in every position of the second record: header, payload and trailer are covered.
  const size_t second = 12 + le<uint64_t>(good, 0) + 4;
  for (size_t i = second; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    EXPECT_ANY_THROW(read_events(bad)) << "undetected flip at byte " << i;
  }
}

TEST_F(TensorBoardTest, UncreatableDirectoryIsAnIoError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  try {
    EventWriter w((dir_ / "file" / "sub").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("file/sub"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attn
