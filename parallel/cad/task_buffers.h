// How a CAD layer's rows travel (cad_executor.cc): all-to-all-v payloads laid out per peer as
// the routes list them (routes.h), copies between them and a rank's own [tokens, width] tensors,
// and a server's packed call (its tasks' query rows, each task's whole K/V prefix).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "framework/core/tensor.h"
#include "parallel/cad/routes.h"
#include "parallel/comm/communicator.h"

namespace attn::cad {

// Elements per row of every tensor that travels.
struct Widths {
  int64_t q, k, v, o, l;  // heads*d, kv_heads*d, kv_heads*dv, heads*dv, heads
};

// This rank's non-empty documents: global index first_doc + i starts at local row start[i].
struct LocalDocs {
  int32_t first_doc = 0;
  std::vector<int64_t> start;
  int64_t row(const RowRun& r) const { return start[r.doc - first_doc] + r.begin; }
};

// One all-to-all-v payload: chunk p (for or from peer p) of counts[p] elements, packed.
struct Payload {
  Tensor buf;
  Chunks chunks;
  size_t elem = 0;
  Payload(const std::vector<int64_t>& counts, DType dtype)
      : chunks(Chunks::packed(counts)), elem(dtype_size(dtype)) {
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    buf = Tensor::empty({std::max<int64_t>(total, 1)}, dtype);
  }
  char* chunk(int p) const { return static_cast<char*>(buf.raw()) + chunks.offsets[p] * elem; }
};

// Writes the rows of `runs` of a local [tokens, width] tensor at dst; returns the end.
char* put_runs(char* dst, const std::vector<RowRun>& runs, const Tensor& local, int64_t width,
               const LocalDocs& docs, size_t elem);

// The reverse: rows at src into the local tensor's rows of `runs`; returns the end of src.
const char* take_runs(const char* src, const std::vector<RowRun>& runs, Tensor& local,
                      int64_t width, const LocalDocs& docs, size_t elem);

// A server's packed call: its tasks' query rows back to back, and for each task its whole K/V
// prefix [0, q_end) (a document's prefix repeats for each of its tasks on the server).
struct ServerPack {
  std::vector<int32_t> cu_q{0}, cu_k{0};
  std::vector<int64_t> q_at;  // first packed row of each task
  int64_t q_rows() const { return cu_q.back(); }
  int64_t k_rows() const { return cu_k.back(); }
};

// The packed call of the tasks this rank serves, in plan order.
ServerPack pack_layout(const Routes& r);

// Where, in a received payload, the rows of each home's Q-like section and each document's K/V
// runs start: sections are laid out per home as the routes list them.
struct Received {
  std::vector<const char*> q;  // [home] first byte of its Q-like section
  struct Run {
    int64_t begin, end;
    const char *k, *v;
  };
  std::map<int32_t, std::vector<Run>> kv;  // document -> runs, by begin
};

// Indexes a payload laid out per home as [q_width elements per row of q_from][k_width per row of
// kv_from][v_width per row of kv_from]: q points at each home's first section.
Received index_received(const Payload& payload, const Routes& r, int64_t q_width, int64_t k_width,
                        int64_t v_width);

// The server's packed rows of a Q-like section (q, dO, O, lse: one row per query row), from
// each home's section in task order.
Tensor gather_rows(const Received& x, const Routes& r, const ServerPack& p, int64_t width,
                   const Shape& row_shape, DType dtype);

// Each task's K (or V) prefix, packed.
Tensor gather_prefixes(const Received& x, const Routes& r, const ServerPack& p, bool values,
                       int64_t width, const Shape& row_shape, DType dtype);

// dst += src, element-wise (f32 or f64, same number of elements).
void add_into(const Tensor& dst, const Tensor& src);

}  // namespace attn::cad
