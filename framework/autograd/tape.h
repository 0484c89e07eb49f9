// Define-by-run reverse-mode autograd: ops record a backward closure on the thread's tape;
// backward(loss) runs them in reverse, accumulating (+=) into input gradients, then clears the
// tape.
#pragma once

#include <functional>
#include <initializer_list>
#include <vector>

#include "framework/core/tensor.h"

namespace attn {

// True when recording is on (no NoGrad scope is active on this thread).
bool grad_enabled();

// Disables recording for its lifetime (evaluation, optimizer updates, inner bookkeeping).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

// True when recording is on and any input requires a gradient: the op must record a node.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records the backward of an op that produced `outputs`. Marks the outputs as requiring grad.
// The closure reads the outputs' gradients and accumulates into the inputs' grad_or_zeros();
// it runs only if at least one output received a gradient.
void record(const char* op_name, std::vector<Tensor> outputs, std::function<void()> backward);

// Seeds d(loss) = 1 (loss must have one element), runs every recorded node in reverse order,
// frees the gradients of intermediate tensors as soon as they are consumed, and clears the tape
// (releasing all saved activations). Leaf gradients (parameters, inputs) remain.
// The whole tape is consumed: nodes that do not lead to `loss` are dropped, so several losses
// of one forward are added into one before calling backward (one backward per step).
void backward(const Tensor& loss);

// Watches a backward pass node by node, so work that needs finished gradients (the all-reduce of
// data parallelism) can start while backward still runs. Indices are recording positions.
class BackwardObserver {
 public:
  virtual ~BackwardObserver() = default;
  virtual void begin(size_t nodes) = 0;      // before the first node runs
  virtual void node_done(size_t index) = 0;  // node `index` ran (or was skipped); descending
  virtual void end() = 0;                    // after the last node
};

// Installs the observer of this thread's backward passes; null removes it. Not owned.
void set_backward_observer(BackwardObserver* observer);

// Backward passes run without the installed observer for its lifetime: a backward whose
// gradients are not the step's (an inner loop on other weights) must not start the step's
// gradient reduction.
class BackwardObserverPause {
 public:
  BackwardObserverPause();
  ~BackwardObserverPause();
  BackwardObserverPause(const BackwardObserverPause&) = delete;
  BackwardObserverPause& operator=(const BackwardObserverPause&) = delete;

 private:
  BackwardObserver* paused_;
};

// The position of the first node that may read leaf `t` in the current forward: the tape size
// when an op first passed it to needs_grad(). Once backward has run that node, nothing will
// accumulate into t's gradient any more. SIZE_MAX when no op has used it.
size_t first_use(const Tensor& t);

// Drops all recorded nodes without running them (e.g. after an evaluation forward with grads on).
void clear_tape();
size_t tape_size();

// The gradient of `t` if some later op gave it one, else an undefined tensor. Used by backward
// closures to skip work for outputs that did not reach the loss.
inline Tensor grad_if_any(const Tensor& t) {
  return t.grad();
}

// Accumulation target for input `t` inside a backward closure, or undefined when `t` needs none.
inline Tensor grad_target(const Tensor& t) {
  return t.requires_grad() ? t.grad_or_zeros() : Tensor();
}

}  // namespace attn
