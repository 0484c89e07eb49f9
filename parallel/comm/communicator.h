// Collective communication over a group of ranks, on flat host or device buffers. Layers never
// see it; data parallel and CAD use it. LocalComm is the world of one (no mpirun needed).
#pragma once

#include <cstdint>
#include <memory>

#include "framework/core/tensor.h"

namespace attn {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place: every rank ends with the element-wise sum over ranks.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Every rank ends with root's values.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
};

// The world of one: collectives are identities.
class LocalComm final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(Tensor&) override {}
  void broadcast(Tensor&, int root) override;
  void barrier() override {}
};

}  // namespace attn
