// Fused ADL on the CPU (SPEC-attention section 8): the loss and its gradient from core
// attention's saved lse, without a T x T buffer. Each query block recomputes its heads'
// probabilities over the block's visible key range only (a "strip", block_q x W, W <= T) and
// averages them over heads; the document-wide statistics that couple rows (the mean row's
// column sums, the cosine terms' column weights) are O(T) vectors reduced between passes.
//   mean form:     pass 1 the mean row m and the row norms |v_i|; pass 2 the cosines and the
//                  column weights their gradient needs; backward one pass.
//   pairwise form: one forward pass (sum of unit rows), one backward pass.
// Working memory per thread: heads x block_q x T of T plus block_q x T doubles; everything kept
// from forward to backward is O(tokens). Statistics are in double for either element type.
//
// Work is cut into (document, fixed chunk of query blocks) units; chunks depend on the document
// alone and their column sums are added in chunk order, so results are bit-identical for any
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/attention/attention_problem.h"

namespace attn::cpu {

struct AdlKernelOptions {
  double theta = 2;  // > 0
  double eps = 1e-8;
  bool pairwise = false;
};

// What the forward leaves for the backward.
struct AdlSaved {
  std::vector<double> col;     // [tokens_k] mean form: u_j (thresholded mean row); pairwise: s_j
  std::vector<double> col_w;   // [tokens_k] mean form: sum_i v_ij / max(|u||v_i|, eps)
  std::vector<double> norm;    // [tokens_q] |v_i|
  std::vector<double> cosine;  // [tokens_q] mean form: cos(u, v_i)
  std::vector<double> doc_nu;  // [docs] mean form: |u|
  std::vector<double> doc_on;  // [docs] mean form: sum of cos(u, v_i) over rows with |u||v_i| > eps
};

// p: q, k (v unused), documents with cu_q == cu_k, the row intervals of the mask, the sink and
// scale; lse [tokens, heads] the core forward's (sink included, +inf for empty rows). Returns the
// sum of the per-document terms (mean: sum_i cos(u, v_i); pairwise: (|s|^2 - sum_i |vhat_i|^2) /
// (N - 1)); the caller divides by the rows.
template <typename T>
double adl_forward(const AttentionProblem<T>& p, const T* lse, const AdlKernelOptions& o,
                   AdlSaved& saved);

// Accumulates (+=) g * d(sum of terms) into dq [tokens, heads, d], dk [tokens, kv_heads, d] and
// dsink [heads]; any may be null.
template <typename T>
void adl_backward(const AttentionProblem<T>& p, const T* lse, const AdlKernelOptions& o,
                  const AdlSaved& saved, double g, T* dq, T* dk, T* dsink);

}  // namespace attn::cpu
