#include "framework/autograd/tape.h"

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

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
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
  for (size_t i = t.nodes.size(); i-- > 0;) {
    Node& node = t.nodes[i];
    bool reached = false;
    for (const Tensor& o : node.outputs) reached = reached || o.has_grad();
    if (reached) node.backward();
    // Intermediate gradients are dead once their producer has consumed them.
    for (Tensor& o : node.outputs)
      if (!o.is_leaf()) o.impl().grad.reset();
    node = Node{};  // release saved activations now rather than at the end
  }
  t.nodes.clear();
}

void clear_tape() {
  tape().nodes.clear();
}
size_t tape_size() {
  return tape().nodes.size();
}

}  // namespace attn
