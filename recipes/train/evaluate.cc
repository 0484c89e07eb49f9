#include "recipes/train/evaluate.h"

#include <cmath>
#include <numbers>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"

namespace attn {

namespace {

void check_rows(int64_t rows, int world) {
  if (rows % world != 0)
    throw Error(ErrorKind::kConfig, "eval.batch_size",
                fmt::format("{} rows do not split over {} ranks", rows, world));
}

}  // namespace

EvalResult evaluate(const Gpt& model, const DataSource& data, int64_t rows, int64_t max_batches,
                    AttentionDiagnostics* diagnostics, int rank, int world) {
  NoGrad no_grad;
  check_rows(rows, world);
  const std::unique_ptr<BatchStream> stream =
      open_eval_stream(data, EvalSplit::kVal, rows / world, rank, world);
  EvalResult r;
  while (stream->has_next() && r.batches < max_batches) {
    const Batch b = stream->next();
    ++r.batches;
    if (b.target_tokens == 0) continue;
    GptForward f;
    if (r.batches == 1 && diagnostics) {
      f.diagnostics = diagnostics;
      if (b.diagnostics_domain.defined()) diagnostics->set_query_domain(b.diagnostics_domain);
    }
    r.nats +=
        model.loss(gpt_input(b, model.device()), f).item() * static_cast<double>(b.target_tokens);
    // Bits per byte counts the bytes of the predicted tokens, so byte and BPE models compare.
    const std::vector<int32_t> targets = b.targets.to_vector<int32_t>();
    for (int32_t t : targets)
      if (t >= 0) r.bytes += data.token_bytes[t];
    r.tokens += b.target_tokens;
    r.optimal_nats += b.optimal_nats;  // NaN, and so the result, unless the data knows it
  }
  finish_eval(r);
  return r;
}

ExactMatch exact_match(const Gpt& model, const DataSource& data, int64_t rows,
                       AttentionDiagnostics* focus, int rank, int world) {
  ExactMatch m;
  if (!data.examples || data.test_examples.empty()) return m;
  NoGrad no_grad;
  check_rows(rows, world);
  const std::unique_ptr<BatchStream> stream =
      open_eval_stream(data, EvalSplit::kTest, rows / world, rank, world);
  const int64_t vocab = model.config().vocab_size;
  while (stream->has_next()) {
    const Batch b = stream->next();
    if (b.target_tokens == 0) continue;  // the padding rows that fill up the last batch
    GptForward f;
    f.diagnostics = focus;
    const std::vector<float> logits =
        model.logits(gpt_input(b, model.device()), f).to(Device::cpu()).to_vector<float>();
    const std::vector<int32_t> targets = b.targets.to_vector<int32_t>();
    for (int64_t row = 0; row < b.rows; ++row) {
      bool any = false, all = true;
      for (int64_t t = row * b.seq_len; t < (row + 1) * b.seq_len && all; ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        any = true;
        const float* z = &logits[static_cast<size_t>(t * vocab)];
        int64_t best = 0;
        for (int64_t c = 1; c < vocab; ++c)
          if (z[c] > z[best]) best = c;
        all = best == targets[t];
      }
      if (!any) continue;
      ++m.examples;
      m.correct += all;
    }
  }
  return m;
}

void finish_eval(EvalResult& r) {
  if (r.tokens > 0) {
    r.loss = r.nats / static_cast<double>(r.tokens);
    r.bpb = r.nats / std::numbers::ln2 / r.bytes;
    r.optimal_loss = r.optimal_nats / static_cast<double>(r.tokens);
  }
}

}  // namespace attn
