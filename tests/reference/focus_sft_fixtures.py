"""PyTorch golden fixture for one FocuSFT step (SPEC-attention section 9), written from the spec.

Called by make_fixtures.py as main(out_dir, write_safetensors). The model is model_fixtures.py's
GPT_A (float64, plain tensor math) with LoRA fast weights y += (alpha / rank) (x A^T) B^T on the
MLP linears (fc, proj) of layers first_layer and up. One step:
  1. fast weights A (uniform +-1/sqrt(in)), B = 0;
  2. inner_steps of: response cross-entropy, gradients w.r.t. the fast weights only, each tensor's
     gradient clipped to norm inner_clip (coefficient clip / (norm + 1e-6), as
     torch.nn.utils.clip_grad_norm_), plain SGD with inner_lr;
  3. outer: the same loss with the adapted (detached) fast weights, backward into the base
     weights, global gradient-norm clip grad_clip, one AdamW step (weight decay on the linears'
     weights only, as attnlab's layers declare it).

focus_sft.safetensors (FOCUS below as metadata, plus GPT_A's fields): `tokens`, `targets`
(-100 on context positions and each document's last token), `positions`, `cu_seqlens` (i64);
`param.<name>` the base weights before the step, `after.<name>` after it; `fast.<name>` the
initial A (B is zero), `fast.<s>.<name>` A and B after inner step s; `inner_loss` [inner_steps]
(the loss at the start of each inner step; [0] is the base model's), `outer_loss`,
`grad_norm` (the outer gradient's norm before clipping).
"""

import math
import os

import torch
import torch.nn.functional as F

import model_fixtures as mf

FOCUS = {
    "first_layer": 1,
    "lora_rank": 4,
    "lora_alpha": 8.0,
    "inner_steps": 2,
    "inner_lr": 1.0,
    "inner_clip": 0.05,  # between the tensors' gradient norms, so clipping acts on some only
    "lr": 1e-2,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
}


def adapted(c, p, fast, name, x):
    """A linear with its adapter when `fast` has one."""
    y = mf.linear(c, p, name, x)
    if name + ".lora_a" in fast:
        scale = FOCUS["lora_alpha"] / FOCUS["lora_rank"]
        y = y + (scale * (x @ fast[name + ".lora_a"].t())) @ fast[name + ".lora_b"].t()
    return y


def loss_fn(c, p, fast, tokens, targets, positions, cu_seqlens):
    x = p["wte.weight"][tokens] + p["wpe.weight"][positions]
    for i in range(c["layers"]):
        b = "blocks.%d" % i
        x = x + mf.attention(c, p, b, mf.norm(c, p, b + ".norm1", x), positions, cu_seqlens)
        h = F.gelu(adapted(c, p, fast, b + ".mlp.fc", mf.norm(c, p, b + ".norm2", x)))
        x = x + adapted(c, p, fast, b + ".mlp.proj", h)
    x = mf.norm(c, p, "norm_f", x)
    return F.cross_entropy(x @ p["wte.weight"].t(), targets, ignore_index=mf.IGNORE)


def decays(name):
    # Norms, biases and embeddings opt out of weight decay in layers/.
    return name.endswith(".weight") and "norm" not in name and name not in ("wte.weight",
                                                                           "wpe.weight")


def focus_sft_fixture(seed):
    c, o = mf.GPT_A, FOCUS
    torch.manual_seed(seed)
    params = {n: mf.init_param(s, k).requires_grad_(True) for n, s, k in mf.gpt_param_shapes(c)}
    tokens, targets, positions, cu = mf.packed_batch([0, 9, 24], c["vocab_size"])
    targets[0:4] = mf.IGNORE  # each document's context: no loss there
    targets[9:15] = mf.IGNORE
    out = {"tokens": tokens, "targets": targets, "positions": positions, "cu_seqlens": cu}
    for n, t in params.items():
        out["param." + n] = t.detach().clone()

    fast = {}
    d, hidden, r = c["width"], c["mlp_hidden"], o["lora_rank"]
    for i in range(o["first_layer"], c["layers"]):
        for lin, n_in, n_out in (("fc", d, hidden), ("proj", hidden, d)):
            name = "blocks.%d.mlp.%s" % (i, lin)
            bound = 1.0 / math.sqrt(n_in)
            fast[name + ".lora_a"] = (torch.rand(r, n_in, dtype=torch.float64) * 2 - 1) * bound
            fast[name + ".lora_b"] = torch.zeros(n_out, r, dtype=torch.float64)
            out["fast." + name + ".lora_a"] = fast[name + ".lora_a"].clone()

    base = {n: t.detach() for n, t in params.items()}
    inner_losses = []
    for s in range(o["inner_steps"]):
        leaves = {n: t.detach().clone().requires_grad_(True) for n, t in fast.items()}
        loss = loss_fn(c, base, leaves, tokens, targets, positions, cu)
        inner_losses.append(float(loss))
        grads = torch.autograd.grad(loss, list(leaves.values()))
        fast = {}
        for (n, t), g in zip(leaves.items(), grads):
            coef = o["inner_clip"] / (float(g.norm()) + 1e-6)
            if coef < 1.0:
                g = g * coef
            fast[n] = (t - o["inner_lr"] * g).detach()
            out["fast.%d.%s" % (s, n)] = fast[n].clone()

    loss = loss_fn(c, params, fast, tokens, targets, positions, cu)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), o["grad_clip"])
    groups = [
        {"params": [t for n, t in params.items() if decays(n)], "weight_decay": o["weight_decay"]},
        {"params": [t for n, t in params.items() if not decays(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    opt.step()
    for n, t in params.items():
        out["after." + n] = t.detach().clone()
    out["inner_loss"] = torch.tensor(inner_losses, dtype=torch.float64)
    out["outer_loss"] = loss.detach().clone().reshape(())
    out["grad_norm"] = torch.tensor(float(norm), dtype=torch.float64).reshape(())
    meta = mf.config_metadata(c)
    meta.update({k: repr(v) for k, v in o.items()})
    meta["generator"] = "tests/reference/focus_sft_fixtures.py"
    return out, meta


def main(out_dir: str, write_safetensors) -> None:
    tensors, meta = focus_sft_fixture(seed=1004)
    write_safetensors(os.path.join(out_dir, "focus_sft.safetensors"), tensors, meta)
