// CadPlan decoding never trusts the bytes: round trip; every truncation, every single-bit flip, a
// wrong version, a hash that does not match, and a plan for another batch are each a named
// attn::Error (kInput), never a crash or a silently different plan.
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "parallel/cad/cad_plan.pb.h"
#include "parallel/cad/plan_codec.h"

namespace attn::cad {
namespace {

struct Fixture {
  WorkerLayout layout{{1000, 100, 100, 100, 100, 300}, 3};
  Plan plan = plan_attention(layout);
  std::string bytes = encode_plan(plan);
};

TEST(CadPlanCodec, RoundTrip) {
  const Fixture f;
  ASSERT_GT(f.plan.moves, 0);
  const Plan back = decode_plan(f.bytes, f.layout);
  EXPECT_EQ(back.tasks, f.plan.tasks);
  EXPECT_EQ(back.servers, f.plan.servers);
  EXPECT_EQ(back.load, f.plan.load);
  EXPECT_EQ(back.traffic.send, f.plan.traffic.send);
  EXPECT_EQ(back.hash(), f.plan.hash());
}

void expect_rejected(const std::string& bytes, const WorkerLayout& layout, const std::string& why) {
  try {
    decode_plan(bytes, layout);
    ADD_FAILURE() << why << ": accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput) << why;
    EXPECT_EQ(e.where(), "CAD plan") << why;
  }
}

TEST(CadPlanCodec, EveryTruncationAndBitFlipIsRejected) {
  const Fixture f;
  for (size_t n = 0; n < f.bytes.size(); ++n)
    expect_rejected(f.bytes.substr(0, n), f.layout, fmt::format("truncated to {}", n));
  for (size_t i = 0; i < f.bytes.size() * 8; ++i) {
    std::string b = f.bytes;
    b[i / 8] = static_cast<char>(b[i / 8] ^ (1 << (i % 8)));
    expect_rejected(b, f.layout, fmt::format("bit {} flipped", i));
  }
}

TEST(CadPlanCodec, WrongVersionHashOrBatchIsRejectedByName) {
  const Fixture f;
  attnlab::cad::CadPlan p;
  ASSERT_TRUE(p.ParseFromString(f.bytes));
  auto message = [&](const attnlab::cad::CadPlan& q, const WorkerLayout& l) {
    try {
      decode_plan(q.SerializeAsString(), l);
    } catch (const Error& e) {
      return e.message();
    }
    return std::string("accepted");
  };
  attnlab::cad::CadPlan v = p;
  v.set_version(2);
  EXPECT_NE(message(v, f.layout).find("version 2"), std::string::npos);
  attnlab::cad::CadPlan h = p;
  h.set_hash(p.hash() ^ 1);
  EXPECT_NE(message(h, f.layout).find("does not match"), std::string::npos);
  // Consistent and hashed, but for another batch: the plan's own checks catch it.
  attnlab::cad::CadPlan t = p;
  t.mutable_tasks(0)->set_q_end(t.tasks(0).q_end() + 1);
  Plan edited;
  edited.servers = t.servers();
  for (const auto& k : t.tasks())
    edited.tasks.push_back({k.doc(), k.q_begin(), k.q_end(), k.server(), k.home()});
  t.set_hash(edited.hash());
  EXPECT_NE(message(t, f.layout).find("task 0: rows [0, "), std::string::npos)
      << message(t, f.layout);
  EXPECT_NE(message(p, WorkerLayout({1000, 100}, 3)).find("task"), std::string::npos)
      << message(p, WorkerLayout({1000, 100}, 3));
  EXPECT_NE(message(p, WorkerLayout({1000, 100, 100, 100, 100, 300}, 2)).find("servers"),
            std::string::npos);
}

}  // namespace
}  // namespace attn::cad
