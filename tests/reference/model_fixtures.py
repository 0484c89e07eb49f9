"""PyTorch golden fixtures for the GPT decoder and AdamW (with schedule and gradient clipping).

Called by make_fixtures.py as main(out_dir, write_safetensors). The model is written out as plain
tensor math rather than torch.nn modules so that every convention the C++ code relies on (fused
QKV row order, RoPE pairing, GQA head mapping, packed documents, tied head) is visible here and
can be checked against layers/ by reading both side by side. Everything runs in float64 with
torch.manual_seed per fixture, so the files are reproducible bit for bit.

gpt_a / gpt_b.safetensors (configs GPT_A / GPT_B below, as string metadata named like GptConfig's
fields): `tokens`, `targets` (next token inside the document; -100 on each document's last token),
`positions` (inside the document), `cu_seqlens`, all i64; `param.<name>` and `grad.<name>` for
every parameter under the names layers/models/gpt.cc declares; `loss` (0-d, mean cross-entropy).

adamw.safetensors (ADAMW below as metadata, plus `steps`): `init.p0` [5,3] (decayed), `init.p1`
[4] (not decayed); per step s: the raw gradients `grad.<s>.p0|p1`, the parameters after the step
`after.<s>.p0|p1`; `grad_norm` [6] before clipping, `lr` [6] (cosine, used for the steps) and
`lr_linear` [6] (the linear schedule, only compared).
"""

import math
import os

import torch
import torch.nn.functional as F

IGNORE = -100


# ---------------------------------------------------------------------------------------------
# GPT decoder
# ---------------------------------------------------------------------------------------------

GPT_A = {
    "vocab_size": 67,
    "width": 32,
    "layers": 2,
    "heads": 4,
    "kv_heads": 4,
    "mlp_hidden": 128,
    "mlp": "gelu",
    "norm": "layernorm",
    "norm_eps": 1e-5,
    "positional": "learned",
    "rope_base": 10000.0,
    "rope_pairing": "half",
    "tied_head": True,
    "bias": True,
    "max_seq_len": 24,
}

GPT_B = {
    "vocab_size": 61,
    "width": 32,
    "layers": 2,
    "heads": 4,
    "kv_heads": 2,
    "mlp_hidden": 80,
    "mlp": "swiglu",
    "norm": "rmsnorm",
    "norm_eps": 1e-6,
    "positional": "rope",
    "rope_base": 10000.0,
    "rope_pairing": "half",
    "tied_head": False,
    "bias": False,
    "max_seq_len": 24,
}


def gpt_param_shapes(c):
    """(name, shape, kind) in the declaration order of layers/models/gpt.cc; kind picks the init."""
    d, hd = c["width"], c["width"] // c["heads"]
    out = [("wte.weight", (c["vocab_size"], d), "matrix")]
    if c["positional"] == "learned":
        out.append(("wpe.weight", (c["max_seq_len"], d), "matrix"))

    def norm(name):
        out.append((name + ".weight", (d,), "norm"))
        if c["norm"] == "layernorm":
            out.append((name + ".bias", (d,), "bias"))

    def linear(name, n_in, n_out):
        out.append((name + ".weight", (n_out, n_in), "matrix"))
        if c["bias"]:
            out.append((name + ".bias", (n_out,), "bias"))

    for i in range(c["layers"]):
        b = "blocks.%d" % i
        norm(b + ".norm1")
        linear(b + ".attn.qkv", d, (c["heads"] + 2 * c["kv_heads"]) * hd)
        linear(b + ".attn.proj", c["heads"] * hd, d)
        norm(b + ".norm2")
        if c["mlp"] == "swiglu":
            linear(b + ".mlp.gate", d, c["mlp_hidden"])
            linear(b + ".mlp.up", d, c["mlp_hidden"])
        else:
            linear(b + ".mlp.fc", d, c["mlp_hidden"])
        linear(b + ".mlp.proj", c["mlp_hidden"], d)
    norm("norm_f")
    if not c["tied_head"]:
        out.append(("head.weight", (c["vocab_size"], d), "matrix"))
    return out


def init_param(shape, kind):
    if kind == "matrix":
        return 0.1 * torch.randn(shape, dtype=torch.float64)
    if kind == "norm":
        return 1.0 + 0.1 * torch.randn(shape, dtype=torch.float64)
    return 0.05 * torch.randn(shape, dtype=torch.float64)


def packed_batch(cu_seqlens, vocab):
    """Random tokens; targets are the next token inside the same document, the last token of every
    document is ignored (so a loss never reads across a document boundary)."""
    n = cu_seqlens[-1]
    tokens = torch.randint(0, vocab, (n,), dtype=torch.int64)
    targets = torch.full((n,), IGNORE, dtype=torch.int64)
    positions = torch.zeros(n, dtype=torch.int64)
    for b, e in zip(cu_seqlens[:-1], cu_seqlens[1:]):
        positions[b:e] = torch.arange(e - b)
        targets[b : e - 1] = tokens[b + 1 : e]
    return tokens, targets, positions, torch.tensor(cu_seqlens, dtype=torch.int64)


def norm(c, p, name, x):
    if c["norm"] == "layernorm":
        return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], c["norm_eps"])
    rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["norm_eps"])
    return x * rstd * p[name + ".weight"]


def linear(c, p, name, x):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias") if c["bias"] else None)


def rope(x, positions, base):
    """x [n, heads, hd]; pairs (i, i + hd/2) rotate by pos * base^(-2i/hd) (Llama/HF "half")."""
    hd = x.shape[-1]
    half = hd // 2
    inv_freq = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / hd)
    angle = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # [n, half]
    cos, sin = angle.cos()[:, None, :], angle.sin()[:, None, :]
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


def attention(c, p, b, x, positions, cu_seqlens):
    n, h, kv = x.shape[0], c["heads"], c["kv_heads"]
    hd = c["width"] // h
    qkv = linear(c, p, b + ".attn.qkv", x)
    q = qkv[:, : h * hd].reshape(n, h, hd)
    k = qkv[:, h * hd : (h + kv) * hd].reshape(n, kv, hd)
    v = qkv[:, (h + kv) * hd :].reshape(n, kv, hd)
    if c["positional"] == "rope":
        q = rope(q, positions, c["rope_base"])
        k = rope(k, positions, c["rope_base"])
    # GQA: query head j reads kv head j // (h / kv).
    k = k.repeat_interleave(h // kv, dim=1)
    v = v.repeat_interleave(h // kv, dim=1)
    outs = []
    for s, e in zip(cu_seqlens[:-1].tolist(), cu_seqlens[1:].tolist()):
        qd, kd, vd = (t[s:e].transpose(0, 1) for t in (q, k, v))  # [h, len, hd]
        scores = qd @ kd.transpose(1, 2) / math.sqrt(hd)
        causal = torch.ones(e - s, e - s, dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        outs.append((scores.softmax(-1) @ vd).transpose(0, 1))  # [len, h, hd]
    y = torch.cat(outs, 0).reshape(n, h * hd)
    return linear(c, p, b + ".attn.proj", y)


def mlp(c, p, b, x):
    if c["mlp"] == "swiglu":
        hidden = F.silu(linear(c, p, b + ".mlp.gate", x)) * linear(c, p, b + ".mlp.up", x)
    else:
        hidden = F.gelu(linear(c, p, b + ".mlp.fc", x))  # exact erf form
    return linear(c, p, b + ".mlp.proj", hidden)


def gpt_loss(c, p, tokens, targets, positions, cu_seqlens):
    x = p["wte.weight"][tokens]
    if c["positional"] == "learned":
        x = x + p["wpe.weight"][positions]
    for i in range(c["layers"]):
        b = "blocks.%d" % i
        x = x + attention(c, p, b, norm(c, p, b + ".norm1", x), positions, cu_seqlens)
        x = x + mlp(c, p, b, norm(c, p, b + ".norm2", x))
    x = norm(c, p, "norm_f", x)
    head = p["wte.weight"] if c["tied_head"] else p["head.weight"]
    logits = x @ head.t()
    return F.cross_entropy(logits, targets, ignore_index=IGNORE)


def config_metadata(c):
    def s(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v)  # floats round-trip exactly through repr / strtod

    meta = {k: (v if isinstance(v, str) else s(v)) for k, v in c.items()}
    meta["generator"] = "tests/reference/model_fixtures.py"
    return meta


def gpt_fixture(c, cu_seqlens, seed):
    torch.manual_seed(seed)
    params = {}
    for name, shape, kind in gpt_param_shapes(c):
        params[name] = init_param(shape, kind).requires_grad_(True)
    tokens, targets, positions, cu = packed_batch(cu_seqlens, c["vocab_size"])
    loss = gpt_loss(c, params, tokens, targets, positions, cu)
    loss.backward()
    out = {"tokens": tokens, "targets": targets, "positions": positions, "cu_seqlens": cu}
    for name, t in params.items():
        out["param." + name] = t.detach().clone()
    for name, t in params.items():
        out["grad." + name] = t.grad.detach().clone()
    out["loss"] = loss.detach().clone().reshape(())
    return out, config_metadata(c)


# ---------------------------------------------------------------------------------------------
# AdamW + schedule + clipping
# ---------------------------------------------------------------------------------------------

ADAMW = {
    "lr": 1e-2,
    "warmup_steps": 2,
    "total_steps": 6,
    "min_lr_ratio": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-8,
    "weight_decay": 0.1,  # p0 only; p1 is in a group without decay
    "max_norm": 0.5,
}


def schedule(o, step, kind):
    """optim/schedule.cc: linear warmup from lr/W, then decay to min_lr_ratio * lr at step S."""
    w, s_total, r = o["warmup_steps"], o["total_steps"], o["min_lr_ratio"]
    if step < w:
        return o["lr"] * (step + 1) / w
    p = min(max((step - w) / max(1, s_total - w), 0.0), 1.0)
    if kind == "cosine":
        return o["lr"] * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p)))
    return o["lr"] * (1 - (1 - r) * p)


def adamw_fixture(seed):
    o = ADAMW
    torch.manual_seed(seed)
    p0 = torch.randn(5, 3, dtype=torch.float64).requires_grad_(True)
    p1 = torch.randn(4, dtype=torch.float64).requires_grad_(True)
    out = {"init.p0": p0.detach().clone(), "init.p1": p1.detach().clone()}
    opt = torch.optim.AdamW(
        [{"params": [p0], "weight_decay": o["weight_decay"]}, {"params": [p1], "weight_decay": 0.0}],
        lr=o["lr"],
        betas=(o["beta1"], o["beta2"]),
        eps=o["eps"],
    )
    steps = o["total_steps"]
    # Per-step scales put the raw norm on both sides of max_norm, so clipping is exercised both ways.
    scales = [1.0, 0.1, 2.0, 0.05, 0.6, 0.2]
    lrs, lrs_linear, norms = [], [], []
    for s in range(steps):
        g0 = scales[s] * torch.randn(5, 3, dtype=torch.float64)
        g1 = scales[s] * torch.randn(4, dtype=torch.float64)
        out["grad.%d.p0" % s] = g0.clone()
        out["grad.%d.p1" % s] = g1.clone()
        p0.grad, p1.grad = g0.clone(), g1.clone()
        norms.append(float(torch.nn.utils.clip_grad_norm_([p0, p1], o["max_norm"])))
        lr = schedule(o, s, "cosine")
        lrs.append(lr)
        lrs_linear.append(schedule(o, s, "linear"))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        out["after.%d.p0" % s] = p0.detach().clone()
        out["after.%d.p1" % s] = p1.detach().clone()
    out["lr"] = torch.tensor(lrs, dtype=torch.float64)
    out["lr_linear"] = torch.tensor(lrs_linear, dtype=torch.float64)
    out["grad_norm"] = torch.tensor(norms, dtype=torch.float64)
    meta = {k: repr(v) for k, v in o.items()}
    meta["steps"] = repr(steps)
    meta["generator"] = "tests/reference/model_fixtures.py"
    return out, meta


def main(out_dir: str, write_safetensors) -> None:
    gpt_a, meta_a = gpt_fixture(GPT_A, [0, 7, 20, 24], seed=1001)
    write_safetensors(os.path.join(out_dir, "gpt_a.safetensors"), gpt_a, meta_a)
    gpt_b, meta_b = gpt_fixture(GPT_B, [0, 10, 11, 24], seed=1002)
    write_safetensors(os.path.join(out_dir, "gpt_b.safetensors"), gpt_b, meta_b)
    adamw, meta_w = adamw_fixture(seed=1003)
    write_safetensors(os.path.join(out_dir, "adamw.safetensors"), adamw, meta_w)
