#include "parallel/cad/task_buffers.h"

#include <algorithm>
#include <cstring>

namespace attn::cad {

char* put_runs(char* dst, const std::vector<RowRun>& runs, const Tensor& local, int64_t width,
               const LocalDocs& docs, size_t elem) {
  const char* src = static_cast<const char*>(local.raw());
  for (const RowRun& r : runs) {
    const size_t n = static_cast<size_t>(r.rows() * width) * elem;
    std::memcpy(dst, src + static_cast<size_t>(docs.row(r) * width) * elem, n);
    dst += n;
  }
  return dst;
}

const char* take_runs(const char* src, const std::vector<RowRun>& runs, Tensor& local,
                      int64_t width, const LocalDocs& docs, size_t elem) {
  char* dst = static_cast<char*>(local.raw());
  for (const RowRun& r : runs) {
    const size_t n = static_cast<size_t>(r.rows() * width) * elem;
    std::memcpy(dst + static_cast<size_t>(docs.row(r) * width) * elem, src, n);
    src += n;
  }
  return src;
}

ServerPack pack_layout(const Routes& r) {
  ServerPack p;
  for (const Task& t : r.tasks) {
    p.q_at.push_back(p.cu_q.back());
    p.cu_q.push_back(p.cu_q.back() + static_cast<int32_t>(t.rows()));
    p.cu_k.push_back(p.cu_k.back() + static_cast<int32_t>(t.q_end));
  }
  return p;
}

Received index_received(const Payload& payload, const Routes& r, int64_t q_width, int64_t k_width,
                        int64_t v_width) {
  Received x;
  const int n = static_cast<int>(r.q_from.size());
  x.q.resize(n);
  for (int h = 0; h < n; ++h) {
    const char* at = payload.chunk(h);
    x.q[h] = at;
    at += static_cast<size_t>(Routes::rows(r.q_from[h]) * q_width) * payload.elem;
    const char* k = at;
    const char* v = at + static_cast<size_t>(Routes::rows(r.kv_from[h]) * k_width) * payload.elem;
    for (const RowRun& run : r.kv_from[h]) {
      x.kv[run.doc].push_back({run.begin, run.end, k, v});
      k += static_cast<size_t>(run.rows() * k_width) * payload.elem;
      v += static_cast<size_t>(run.rows() * v_width) * payload.elem;
    }
  }
  for (auto& [doc, runs] : x.kv)
    std::sort(runs.begin(), runs.end(),
              [](const Received::Run& a, const Received::Run& b) { return a.begin < b.begin; });
  return x;
}

Tensor gather_rows(const Received& x, const Routes& r, const ServerPack& p, int64_t width,
                   const Shape& row_shape, DType dtype) {
  const size_t elem = dtype_size(dtype);
  std::vector<int64_t> dims{p.q_rows()};
  for (int i = 0; i < row_shape.ndim(); ++i) dims.push_back(row_shape[i]);
  Tensor out = Tensor::empty(Shape(dims), dtype);
  std::vector<int64_t> cursor(r.q_from.size(), 0);
  char* dst = static_cast<char*>(out.raw());
  for (size_t i = 0; i < r.tasks.size(); ++i) {
    const Task& t = r.tasks[i];
    const size_t n = static_cast<size_t>(t.rows() * width) * elem;
    std::memcpy(dst + static_cast<size_t>(p.q_at[i] * width) * elem,
                x.q[t.home] + static_cast<size_t>(cursor[t.home] * width) * elem, n);
    cursor[t.home] += t.rows();
  }
  return out;
}

Tensor gather_prefixes(const Received& x, const Routes& r, const ServerPack& p, bool values,
                       int64_t width, const Shape& row_shape, DType dtype) {
  const size_t elem = dtype_size(dtype);
  Tensor out = Tensor::empty({p.k_rows(), row_shape[0], row_shape[1]}, dtype);
  char* dst = static_cast<char*>(out.raw());
  for (size_t i = 0; i < r.tasks.size(); ++i) {
    const Task& t = r.tasks[i];
    for (const Received::Run& run : x.kv.at(t.doc)) {
      const int64_t e = std::min(run.end, t.q_end);
      if (run.begin >= e) continue;
      std::memcpy(dst + static_cast<size_t>((p.cu_k[i] + run.begin) * width) * elem,
                  values ? run.v : run.k, static_cast<size_t>((e - run.begin) * width) * elem);
    }
  }
  return out;
}

template <typename T>
void add_rows(T* dst, const T* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void add_into(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == DType::kF64)
    add_rows(dst.data<double>(), src.data<double>(), src.numel());
  else
    add_rows(dst.data<float>(), src.data<float>(), src.numel());
}

}  // namespace attn::cad
