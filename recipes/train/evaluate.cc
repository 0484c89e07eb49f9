#include "recipes/train/evaluate.h"

#include <cmath>
#include <numbers>

#include "framework/autograd/tape.h"
#include "recipes/data/loader.h"

namespace attn {

EvalResult evaluate(const Gpt& model, const DataSource& data, int64_t rows, int64_t seq_len,
                    int64_t max_batches, bool pack_documents, AttentionDiagnostics* diagnostics) {
  NoGrad no_grad;
  TokenLoader loader = TokenLoader::eval(data.val, seq_len, rows, 0, 1, pack_documents);
  double nats = 0, bytes = 0;
  EvalResult r;
  while (loader.has_next() && r.batches < max_batches) {
    const Batch b = loader.next();
    ++r.batches;
    if (b.target_tokens == 0) continue;
    GptForward f;
    if (r.batches == 1) f.diagnostics = diagnostics;
    nats += model.loss(gpt_input(b), f).item() * static_cast<double>(b.target_tokens);
    // Bits per byte counts the bytes of the predicted tokens, so byte and BPE models compare.
    const std::vector<int32_t> targets = b.targets.to_vector<int32_t>();
    for (int32_t t : targets)
      if (t >= 0) bytes += data.token_bytes[t];
    r.tokens += b.target_tokens;
  }
  if (r.tokens > 0) {
    r.loss = nats / static_cast<double>(r.tokens);
    r.bpb = nats / std::numbers::ln2 / bytes;
  }
  return r;
}

}  // namespace attn
