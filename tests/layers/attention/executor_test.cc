// The executor seam: an asynchronous executor (work deferred to wait(), as CAD's ping-pong will
// do) gives the same results as the local one, layer keys are distinct per core call, and a
// pending result is waited for once.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "layers/attention/core_attention_executor.h"
#include "tests/layers/attention/variant_test_util.h"
#include "tests/support/random.h"

namespace attn {
namespace {

namespace cfg = attnlab::config;

class DeferredExecutor final : public CoreAttentionExecutor {
 public:
  PendingCoreAttention start(int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                             const Tensor& cq, const Tensor& ck, const Tensor& sink,
                             const CoreAttentionOptions& o) override {
    layers.insert(layer);
    return PendingCoreAttention(std::function<CoreAttentionResult()>(
        [=] { return core_attention(q, k, v, cq, ck, sink, o); }));
  }
  std::multiset<int> layers;
};

TEST(CoreAttentionExecutor, DeferredWorkGivesTheLocalResult) {
  for (auto kind : {cfg::Attention::SOFTMAX, cfg::Attention::DIFFERENTIAL}) {
    SCOPED_TRACE(cfg::Attention::Kind_Name(kind));
    const AttentionSpec spec = test::small_spec(test::default_attention(kind), 4, 4);
    ParamStore store(DType::kF64);
    auto layer = make_attention(store, "attn", spec);
    store.finalize();
    store.initialize(2);
    const PackedSequences seq = test::two_documents();
    const Tensor x = test::random_normal({8, spec.width}, 6);
    AttentionContext local{seq, local_core_attention()};
    DeferredExecutor deferred;
    AttentionContext ctx{seq, deferred};
    const Tensor a = layer->forward(x, local), b = layer->forward(x, ctx);
    EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes()));
    // One key per core call of the layer (differential: signal and noise maps).
    const size_t calls = kind == cfg::Attention::DIFFERENTIAL ? 2 : 1;
    EXPECT_EQ(deferred.layers.size(), calls);
    EXPECT_EQ(std::set<int>(deferred.layers.begin(), deferred.layers.end()).size(), calls);
  }
}

TEST(CoreAttentionExecutor, APendingResultIsWaitedForOnce) {
  PendingCoreAttention p{CoreAttentionResult{}};
  p.wait();
  EXPECT_THROW(p.wait(), Error);
}

}  // namespace
}  // namespace attn
