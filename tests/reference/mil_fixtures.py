#!/usr/bin/python3
"""PyTorch golden fixture for ABMIL with AEM's MIL term (SPEC-attention section 7).

Run from the repository root with Debian's interpreter (python3-torch; no other packages):
    /usr/bin/python3 tests/reference/mil_fixtures.py
Written from the spec with torch.nn layers, float64, gradients from torch.autograd; the generator
is seeded by a CRC of the fixture's name (make_fixtures.generator).

fixtures/mil/abmil.safetensors holds
  x [N, in] (one bag), param.<name> and grad.<name> for every parameter (nn.Linear layout:
  abmil.reduce.weight [L, in] (no bias), abmil.attention_v.{weight [D, L], bias [D]},
  abmil.attention_u.{weight, bias}, abmil.attention_w.{weight [1, D], bias [1]},
  abmil.classifier.{weight [C, L], bias [C]}), grad_x, logits [1, C], scores [1, N] (a),
  weights [1, N] (p), neg_entropy [] and loss [].
Metadata: label (the bag's class), lambda, and the sizes input_dim, hidden, attention_dim, classes.

  h = relu(reduce(x)); a = attention_w(tanh(attention_v(h)) * sigmoid(attention_u(h)));
  p = softmax(a over the N instances); z = p h; logits = classifier(z);
  loss = cross_entropy(logits, label) + lambda * sum_n p_n log p_n.
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import generator, randn, write_safetensors  # noqa: E402

N, IN, L, D, C = 7, 6, 5, 4, 3
LABEL, LAMBDA = 2, 0.1


def main(out_dir=None):
    if out_dir is None:
        out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    g = generator("mil/abmil")
    shapes = {"abmil.reduce.weight": (L, IN),
              "abmil.attention_v.weight": (D, L), "abmil.attention_v.bias": (D,),
              "abmil.attention_u.weight": (D, L), "abmil.attention_u.bias": (D,),
              "abmil.attention_w.weight": (1, D), "abmil.attention_w.bias": (1,),
              "abmil.classifier.weight": (C, L), "abmil.classifier.bias": (C,)}
    # Weights large enough that the pooling is far from uniform and ReLU cuts some units.
    params = {n: (randn(g, *s, std=0.8)).requires_grad_() for n, s in shapes.items()}
    x = randn(g, N, IN, std=1.5).requires_grad_()

    def lin(name, t, bias=True):
        return F.linear(t, params[name + ".weight"], params[name + ".bias"] if bias else None)

    h = torch.relu(lin("abmil.reduce", x, bias=False))
    a = lin("abmil.attention_w",
            torch.tanh(lin("abmil.attention_v", h)) * torch.sigmoid(lin("abmil.attention_u", h)))
    scores = a.reshape(1, N)
    p = torch.softmax(scores, dim=1)
    logits = lin("abmil.classifier", p @ h)
    neg_entropy = (p * torch.log_softmax(scores, dim=1)).sum()
    loss = F.cross_entropy(logits, torch.tensor([LABEL])) + LAMBDA * neg_entropy
    loss.backward()
    assert 0 < float((h == 0).double().mean()) < 1, "ReLU should cut some but not all units"
    tensors = {"x": x.detach()}
    for n, t in params.items():
        tensors["param." + n] = t.detach()
    for n, t in params.items():
        tensors["grad." + n] = t.grad
    tensors.update({"grad_x": x.grad, "logits": logits.detach(), "scores": scores.detach(),
                    "weights": p.detach(), "neg_entropy": neg_entropy.detach(),
                    "loss": loss.detach()})
    meta = {"label": str(LABEL), "lambda": repr(LAMBDA), "input_dim": str(IN), "hidden": str(L),
            "attention_dim": str(D), "classes": str(C)}
    os.makedirs(os.path.join(out_dir, "mil"), exist_ok=True)
    path = os.path.join(out_dir, "mil", "abmil.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"mil/abmil: loss={float(loss):.12g} neg_entropy={float(neg_entropy):.6g} "
          f"p_max={float(p.max()):.3f} bytes={os.path.getsize(path)}")


if __name__ == "__main__":
    main()
