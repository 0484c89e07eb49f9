#include "recipes/train/evaluate.h"

#include <cmath>
#include <numbers>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "recipes/data/loader.h"

namespace attn {

EvalResult evaluate(const Gpt& model, const DataSource& data, int64_t rows, int64_t seq_len,
                    int64_t max_batches, bool pack_documents, AttentionDiagnostics* diagnostics,
                    int rank, int world) {
  NoGrad no_grad;
  if (rows % world != 0)
    throw Error(ErrorKind::kConfig, "eval.batch_size",
                fmt::format("{} rows do not split over {} ranks", rows, world));
  TokenLoader loader =
      TokenLoader::eval(data.val, seq_len, rows / world, rank, world, pack_documents);
  EvalResult r;
  while (loader.has_next() && r.batches < max_batches) {
    const Batch b = loader.next();
    ++r.batches;
    if (b.target_tokens == 0) continue;
    GptForward f;
    if (r.batches == 1) f.diagnostics = diagnostics;
    r.nats +=
        model.loss(gpt_input(b, model.device()), f).item() * static_cast<double>(b.target_tokens);
    // Bits per byte counts the bytes of the predicted tokens, so byte and BPE models compare.
    const std::vector<int32_t> targets = b.targets.to_vector<int32_t>();
    for (int32_t t : targets)
      if (t >= 0) r.bytes += data.token_bytes[t];
    r.tokens += b.target_tokens;
  }
  finish_eval(r);
  return r;
}

void finish_eval(EvalResult& r) {
  if (r.tokens > 0) {
    r.loss = r.nats / static_cast<double>(r.tokens);
    r.bpb = r.nats / std::numbers::ln2 / r.bytes;
  }
}

}  // namespace attn
