// Shared set-up of the attention-variant tests: default options of a kind, a small block spec,
// a packed two-document causal batch and the whole-layer float64 gradient check.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "layers/attention/attention_layer.h"

namespace attn::test {

// The recipe defaults' attention block with `kind` set.
attnlab::config::Attention default_attention(attnlab::config::Attention::Kind kind);

// width 8, `heads` heads of width 8 / heads, `kv_heads`, biases, init std 0.5, layer 1 of 2.
AttentionSpec small_spec(const attnlab::config::Attention& options, int64_t heads = 2,
                         int64_t kv_heads = 2, bool rope = false);

// Two documents of 3 and 5 tokens.
PackedSequences two_documents();

// Moves parameters that start at constants (norm gains, sinks) and buffers to generic values.
void perturb_constant_params(ParamStore& store);

// Expects every head's map of a single causal document to be zero above the diagonal and every
// row to sum to `row_sum` (1 for probabilities, less for gated or differential weights).
void expect_causal_rows_sum_to(const AttentionMapRequest& map, double row_sum,
                               const std::string& what);

// Expects make_attention(spec) to fail with a kConfig error whose location is `where`.
void expect_config_error(const AttentionSpec& spec, const std::string& where);

// d(sum(layer(x) * R)) against central differences for x and every trainable parameter, with
// the layer in eval (training = false) mode.
::testing::AssertionResult gradcheck_variant(const AttentionSpec& spec, uint64_t seed = 3);

}  // namespace attn::test
