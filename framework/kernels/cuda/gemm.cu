#include <cublasLt.h>

#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "framework/kernels/cuda/check.h"
#include "framework/kernels/cuda/gemm.h"
#include "framework/kernels/cuda/pointwise.cuh"
#include "framework/kernels/cuda/stream.h"

// CUBLAS_CHECK(expr): throws attn::Error naming the failed cuBLASLt call and its status.
#define CUBLAS_CHECK(expr)                                            \
  do {                                                                \
    cublasStatus_t st_ = (expr);                                      \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                 \
      ATTN_FAIL(kInternal, "cuBLASLt call {} failed: {} ({})", #expr, \
                cublasLtGetStatusString(st_), static_cast<int>(st_)); \
  } while (0)

namespace attn::cuda {

namespace {

constexpr int kMaxDevices = 16;
// Enough for the split-K and stream-K algorithms the heuristic picks on large products.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

// One cuBLASLt handle and one workspace per device. Never destroyed, like the streams: work may
// still be queued at static destruction time. The workspace is only used on the device's
// compute stream, so products never share it concurrently.
struct DeviceContext {
  std::once_flag once;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

DeviceContext& context_of(int device) {
  static std::array<DeviceContext, kMaxDevices> all;
  if (device < 0 || device >= kMaxDevices)
    ATTN_FAIL(kInput, "CUDA device {} >= {} unsupported", device, kMaxDevices);
  DeviceContext& ctx = all[device];
  std::call_once(ctx.once, [&] {
    CUBLAS_CHECK(cublasLtCreate(&ctx.handle));
    CUDA_CHECK(cudaMalloc(&ctx.workspace, kWorkspaceBytes));
  });
  return ctx;
}

// Everything the chosen algorithm depends on. Alignment classes (bytes) are part of the key so
// a misaligned view never reuses an algorithm that assumed aligned pointers.
using PlanKey = std::tuple<int, int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, uint32_t, uint32_t, uint32_t>;

// cuBLASLt descriptors and the algorithm of one product, in cuBLASLt's column-major terms:
// its A is our B, its B is our A, its C (= D) is our C^T (see plan_for).
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t lt_a = nullptr, lt_b = nullptr, lt_c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct PlanCache {
  std::mutex mutex;
  std::map<PlanKey, Plan> plans;  // node-based: references stay valid; entries never removed
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache;  // leaked on purpose, like the device contexts
  return *cache;
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                                   int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t layout = nullptr;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows),
                                          static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                  &count, sizeof(count)));
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return layout;
}

void destroy(Plan& p) {
  // Best effort on an error path: the original error is the one worth reporting.
  if (p.lt_a) cublasLtMatrixLayoutDestroy(p.lt_a);
  if (p.lt_b) cublasLtMatrixLayoutDestroy(p.lt_b);
  if (p.lt_c) cublasLtMatrixLayoutDestroy(p.lt_c);
  if (p.desc) cublasLtMatmulDescDestroy(p.desc);
}

struct Problem {
  int64_t batch;
  bool ta, tb;
  int64_t m, n, k, sa, sb, sc;
  MatmulPrecision precision;
  uint32_t align_a, align_b, align_c;  // set from the pointers just before the call
};

Problem problem(int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t sa,
                int64_t sb, int64_t sc, MatmulPrecision precision) {
  return Problem{batch, ta, tb, m, n, k, sa, sb, sc, precision, 0, 0, 0};
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: a row-major [r, c] array
// with row stride ld is the column-major [c, r] array with the same ld. So cuBLASLt multiplies
// (M, N, K) = (n, m, k) with its A = our B and its B = our A, each transposed when ours is.
Plan build_plan(cublasLtHandle_t handle, const Problem& p) {
  const bool bf16 = p.precision == MatmulPrecision::kBf16;
  const cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute =
      p.precision == MatmulPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  Plan plan;
  cublasLtMatmulPreference_t pref = nullptr;
  try {
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F));
    const cublasOperation_t op_a = p.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = p.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a,
                                                sizeof(op_a)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b,
                                                sizeof(op_b)));
    // Our B: [k, n] row-major = column-major [n, k] (ld n); transposed: [n, k] -> [k, n] (ld k).
    plan.lt_a = p.tb ? make_layout(in_type, p.k, p.n, p.k, p.batch, p.sb)
                     : make_layout(in_type, p.n, p.k, p.n, p.batch, p.sb);
    // Our A: [m, k] row-major = column-major [k, m] (ld k); transposed: [k, m] -> [m, k] (ld m).
    plan.lt_b = p.ta ? make_layout(in_type, p.m, p.k, p.m, p.batch, p.sa)
                     : make_layout(in_type, p.k, p.m, p.k, p.batch, p.sa);
    // Our C: [m, n] row-major = column-major [n, m] (ld n).
    plan.lt_c = make_layout(CUDA_R_32F, p.n, p.m, p.n, p.batch, p.sc);

    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t workspace = kWorkspaceBytes;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
    // cuBLASLt assumes 256-byte aligned buffers unless told otherwise; tensor views and batch
    // strides are often less aligned. Its A is our B and its B is our A.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, p.align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, p.align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, p.align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, p.align_c}};
    for (const auto& [attr, bytes] : aligns)
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &bytes, sizeof(bytes)));
    // Split-K partial sums only through the workspace and a separate reduction pass: the
    // in-place scheme accumulates into D concurrently, which could break run-to-run bits.
    const uint32_t schemes =
        CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE | CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes, sizeof(schemes)));

    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, plan.desc, plan.lt_a, plan.lt_b, plan.lt_c,
                                                plan.lt_c, pref, 1, &result, &found));
    if (found == 0 || result.state != CUBLAS_STATUS_SUCCESS)
      ATTN_FAIL(kInternal,
                "cuBLASLt has no algorithm for batch {} m {} n {} k {} trans_a {} trans_b {} "
                "precision {} (alignments {}/{}/{} bytes)",
                p.batch, p.m, p.n, p.k, p.ta, p.tb, matmul_precision_name(p.precision), p.align_a,
                p.align_b, p.align_c);
    plan.algo = result.algo;
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  } catch (...) {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    destroy(plan);
    throw;
  }
  return plan;
}

// 16 bytes (what vectorised and TMA loads need) when the pointer and every batch entry are
// 16-byte aligned, else the element size. Two classes only, so the algorithm (and with it the
// bits of the result) does not change with incidental pointer alignment above 16 bytes.
uint32_t alignment(const void* p, int64_t stride, int64_t batch, uint32_t elem) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  const bool aligned = addr % 16 == 0 && (batch <= 1 || (stride * elem) % 16 == 0);
  return aligned ? 16 : elem;
}

void run_product(const Problem& p, float alpha, const void* a, const void* b, float beta,
                 float* c) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  DeviceContext& ctx = context_of(device);
  const PlanKey key =
      std::make_tuple(device, static_cast<int>(p.precision), p.ta, p.tb, p.batch, p.m, p.n, p.k,
                      p.sa, p.sb, p.sc, p.align_a, p.align_b, p.align_c);
  const Plan* plan = nullptr;
  {
    PlanCache& cache = plan_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.plans.find(key);
    if (it == cache.plans.end()) it = cache.plans.emplace(key, build_plan(ctx.handle, p)).first;
    plan = &it->second;
  }
  // C is read (beta != 0) and written in place: same pointer and layout for C and D.
  CUBLAS_CHECK(cublasLtMatmul(ctx.handle, plan->desc, &alpha, b, plan->lt_a, a, plan->lt_b, &beta,
                              c, plan->lt_c, c, plan->lt_c, &plan->algo, ctx.workspace,
                              kWorkspaceBytes, compute_stream()));
}

// k = 0: the product is empty, so C = beta * C (and exactly 0 for beta = 0, even over NaN),
// as on the CPU.
void scale_c(int64_t batch, int64_t mn, float beta, float* c, int64_t stride_c) {
  launch_pointwise(batch * mn, [=] __device__(int64_t i) {
    float& v = c[(i / mn) * stride_c + i % mn];
    v = beta == 0.0f ? 0.0f : beta * v;
  });
}

}  // namespace

void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const void* a, int64_t stride_a, const void* b, int64_t stride_b,
                  float beta, float* c, int64_t stride_c, MatmulPrecision precision) {
  ATTN_CHECK(batch >= 0 && m >= 0 && n >= 0 && k >= 0,
             "gemm: negative size (batch {} m {} n {} k {})", batch, m, n, k);
  if (batch == 0 || m == 0 || n == 0) return;
  ATTN_CHECK(batch == 1 || stride_c != 0, "gemm: batch {} products into one C (stride_c 0)", batch);
  if (k == 0) return scale_c(batch, m * n, beta, c, stride_c);
  ATTN_CHECK(batch <= INT_MAX && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             "gemm: sizes beyond cuBLASLt's 32-bit range (batch {} m {} n {} k {})", batch, m, n,
             k);
  const uint32_t elem = precision == MatmulPrecision::kBf16 ? 2 : 4;
  const bool shared = batch > 1 && (stride_a == 0 || stride_b == 0);
  const auto byte_offset = [](const void* p, int64_t elems, uint32_t size) {
    return static_cast<const char*>(p) + elems * static_cast<int64_t>(size);
  };

  // Strides of a single product do not matter: zero them so such calls share one plan.
  Problem p = batch == 1 ? problem(1, trans_a, trans_b, m, n, k, 0, 0, 0, precision)
                         : problem(batch, trans_a, trans_b, m, n, k, stride_a, stride_b, stride_c,
                                   precision);
  if (shared && stride_b == 0 && stride_a != 0 && !trans_a && stride_a == m * k &&
      stride_c == m * n && batch * m <= INT_MAX) {
    // One B for dense untransposed A and C: the batch is just more rows of one product.
    p = problem(1, false, trans_b, batch * m, n, k, 0, 0, 0, precision);
  } else if (shared) {
    // cuBLASLt documents no zero batch stride, so a shared matrix otherwise becomes one
    // product per batch entry (never on the op paths: matmul flattens, bmm has no sharing).
    p = problem(1, trans_a, trans_b, m, n, k, 0, 0, 0, precision);
    for (int64_t i = 0; i < batch; ++i) {
      const void* ai = byte_offset(a, i * stride_a, elem);
      const void* bi = byte_offset(b, i * stride_b, elem);
      float* ci = c + i * stride_c;
      p.align_a = alignment(ai, 0, 1, elem);
      p.align_b = alignment(bi, 0, 1, elem);
      p.align_c = alignment(ci, 0, 1, 4);
      run_product(p, alpha, ai, bi, beta, ci);
    }
    return;
  }
  p.align_a = alignment(a, p.sa, p.batch, elem);
  p.align_b = alignment(b, p.sb, p.batch, elem);
  p.align_c = alignment(c, p.sc, p.batch, 4);
  run_product(p, alpha, a, b, beta, c);
}

}  // namespace attn::cuda
