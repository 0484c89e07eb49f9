#include "framework/autograd/tape.h"

#include <limits>
#include <unordered_map>

namespace attn {

namespace {

struct Node {
  const char* op_name;
  std::vector<Tensor> outputs;
  std::function<void()> backward;
};

struct Tape {
  std::vector<Node> nodes;
  bool enabled = true;
  // Leaves requiring grad -> the tape size when an op first declared them as an input.
  std::unordered_map<const TensorImpl*, size_t> first_use;
  BackwardObserver* observer = nullptr;
};

Tape& tape() {
  thread_local Tape t;
  return t;
}

}  // namespace

bool grad_enabled() {
  return tape().enabled;
}

NoGrad::NoGrad() : previous_(tape().enabled) {
  tape().enabled = false;
}
NoGrad::~NoGrad() {
  tape().enabled = previous_;
}

template <typename Range>
bool any_needs_grad(const Range& inputs) {
  Tape& t = tape();
  if (!t.enabled) return false;
  bool any = false;
  for (const Tensor& x : inputs) {
    if (!x.defined() || !x.requires_grad()) continue;
    any = true;
    if (x.is_leaf()) t.first_use.try_emplace(&x.impl(), t.nodes.size());
  }
  return any;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  return any_needs_grad(inputs);
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  return any_needs_grad(inputs);
}

void set_backward_observer(BackwardObserver* observer) {
  tape().observer = observer;
}

BackwardObserverPause::BackwardObserverPause() : paused_(tape().observer) {
  tape().observer = nullptr;
}
BackwardObserverPause::~BackwardObserverPause() {
  tape().observer = paused_;
}

size_t first_use(const Tensor& t) {
  const auto& uses = tape().first_use;
  const auto it = uses.find(&t.impl());
  return it == uses.end() ? std::numeric_limits<size_t>::max() : it->second;
}

void record(const char* op_name, std::vector<Tensor> outputs, std::function<void()> backward) {
  for (Tensor& o : outputs) {
    o.impl().requires_grad = true;
    o.impl().is_leaf = false;
  }
  tape().nodes.push_back({op_name, std::move(outputs), std::move(backward)});
}

void backward(const Tensor& loss) {
  ATTN_CHECK(loss.numel() == 1, "backward() needs a single-element loss, got {}", loss.str());
  ATTN_CHECK(loss.requires_grad(),
             "backward() on a loss that does not depend on any tensor "
             "requiring grad");
  Tape& t = tape();
  NoGrad no_grad;  // backward closures never record
  loss.grad_or_zeros().fill_(1.0);
  BackwardObserver* observer = t.observer;
  if (observer) observer->begin(t.nodes.size());
  for (size_t i = t.nodes.size(); i-- > 0;) {
    Node& node = t.nodes[i];
    bool reached = false;
    for (const Tensor& o : node.outputs) reached = reached || o.has_grad();
    if (reached) node.backward();
    // Intermediate gradients are dead once their producer has consumed them.
    for (Tensor& o : node.outputs)
      if (!o.is_leaf()) o.impl().grad.reset();
    node = Node{};  // release saved activations now rather than at the end
    if (observer) observer->node_done(i);
  }
  if (observer) observer->end();
  t.nodes.clear();
  t.first_use.clear();
}

void clear_tape() {
  tape().nodes.clear();
  tape().first_use.clear();
}
size_t tape_size() {
  return tape().nodes.size();
}

}  // namespace attn
