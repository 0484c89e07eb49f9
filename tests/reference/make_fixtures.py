#!/usr/bin/python3
"""PyTorch golden fixtures for attnlab's ops and core attention, written as safetensors files.

Run from the repository root with Debian's interpreter (python3-torch; no other packages):
    /usr/bin/python3 tests/reference/make_fixtures.py
Every fixture is computed in float64 from its own generator seeded by the fixture's name, so
adding one never changes the others and reruns are bit-identical for a given torch version.
Each op fixture holds the inputs, `out`, a fixed random upstream gradient `gout`, and
`grad_<input>` = d(sum(out * gout)) / d(input) for every differentiable input.
"""

import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.bfloat16: "BF16",
}


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (dict name -> torch.Tensor, in insertion order) and optional string
    `metadata` in the safetensors format, via a temporary file renamed into place."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"{path}: metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError(f"{path}: '__metadata__' cannot name a tensor")
        if t.dtype not in _DTYPES:
            raise TypeError(f"{path}: tensor {name} has unsupported dtype {t.dtype}")
        t = t.detach().contiguous().cpu()
        # numpy has no bfloat16: its bytes are those of the int16 view.
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def generator(name):
    g = torch.Generator()
    g.manual_seed(zlib.crc32(name.encode()))
    return g


def randn(g, *shape, std=1.0):
    return torch.randn(shape, generator=g, dtype=torch.float64) * std


def uniform(g, low, high, *shape):
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)


def with_grads(inputs, fn, g):
    """Runs fn on leaf copies of the float inputs; returns out, gout and grad_<name> entries."""
    leaves = {}
    for name, t in inputs.items():
        leaves[name] = t.clone().requires_grad_(True) if t.is_floating_point() else t
    out = fn(**leaves)
    gout = randn(g, *out.shape)
    (out * gout).sum().backward()
    result = dict(inputs)
    result["out"] = out.detach()
    result["gout"] = gout
    for name, t in leaves.items():
        if t.is_floating_point():
            result["grad_" + name] = t.grad
    return result


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------


def rope_reference(x, positions, base, pairing):
    """x [tokens, heads, dim]; angle pos * base^(-2i/dim) for pair i; HALF pairs (i, i + dim/2),
    INTERLEAVED pairs (2i, 2i + 1); each pair (a, b) -> (a cos - b sin, a sin + b cos)."""
    dim = x.shape[-1]
    half = dim // 2
    inv_freq = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / dim)
    angle = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # [tokens, half]
    cos = torch.cos(angle)[:, None, :]
    sin = torch.sin(angle)[:, None, :]
    if pairing == "half":
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(x.shape)


def weighted_cross_entropy(logits, targets, weights, ignore_index):
    """framework/ops/cross_entropy.h kMean: sum_i w_i l_i / sum_i w_i over rows whose target is
    not ignore_index, l_i = -log_softmax(logits_i)[target_i]; 0 when the weight sum is 0.
    (torch's own `weight=` is per class, not per token, so the mean is spelled out here.)"""
    keep = targets != ignore_index
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    nll = -F.log_softmax(logits, dim=-1).gather(-1, safe[:, None])[:, 0]
    w = torch.where(keep, weights, torch.zeros_like(weights))
    return (w * nll).sum() / w.sum()


def op_fixtures():
    """name -> (tensors, metadata)."""
    fx = {}

    def add(name, inputs, fn, meta=None):
        g = generator(name)
        fx[name] = (with_grads(inputs(g), fn, g), meta or {})

    add("matmul", lambda g: {"a": randn(g, 2, 3, 5), "b": randn(g, 5, 4)}, lambda a, b: a @ b)
    add("bmm", lambda g: {"a": randn(g, 2, 3, 4, 5), "b": randn(g, 2, 3, 5, 6)}, lambda a, b: a @ b)
    add("softmax", lambda g: {"x": randn(g, 4, 7, std=3)}, lambda x: torch.softmax(x, -1))
    add("log_softmax", lambda g: {"x": randn(g, 4, 7, std=3)}, lambda x: torch.log_softmax(x, -1))
    add(
        "layer_norm",
        lambda g: {"x": randn(g, 3, 5, 16, std=2) + 0.5, "weight": 1 + randn(g, 16, std=0.3),
                   "bias": randn(g, 16, std=0.3)},
        lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, eps=1e-5),
        {"eps": "1e-5"},
    )

    def rms_norm(x, weight):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * weight

    add("rms_norm", lambda g: {"x": randn(g, 3, 5, 16, std=2) + 0.5,
                               "weight": 1 + randn(g, 16, std=0.3)}, rms_norm, {"eps": "1e-6"})
    pointwise = {
        "gelu_erf": lambda x: F.gelu(x),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": lambda x: F.silu(x),
        "sigmoid": lambda x: torch.sigmoid(x),
        "tanh": lambda x: torch.tanh(x),
        "relu": lambda x: torch.relu(x),
    }
    for name, fn in pointwise.items():
        add(name, lambda g: {"x": randn(g, 6, 11, std=3)}, fn)
    add("exp", lambda g: {"x": uniform(g, -4, 4, 6, 11)}, lambda x: torch.exp(x))
    add("log", lambda g: {"x": uniform(g, 0.05, 5, 6, 11)}, lambda x: torch.log(x))

    def ce_inputs(g):
        targets = torch.randint(0, 9, (12,), generator=g, dtype=torch.int64)
        targets[[2, 7, 8]] = -100
        weights = uniform(g, 0.1, 2, 12)
        weights[5] = 0.0  # a kept row with zero weight contributes nothing
        return {"logits": randn(g, 12, 9, std=2), "targets": targets, "weights": weights}

    def ce(logits, targets, weights):
        return weighted_cross_entropy(logits, targets, weights, -100)

    # weights are constants in the C++ op: their gradient is not compared (written anyway).
    add("cross_entropy", ce_inputs, ce, {"ignore_index": "-100", "reduction": "mean"})

    for pairing, base in (("half", 10000.0), ("interleaved", 500.0)):
        add(
            "rope_" + pairing,
            lambda g: {"x": randn(g, 7, 3, 8),
                       "positions": torch.tensor([0, 1, 2, 3, 0, 1, 9], dtype=torch.int32)},
            lambda x, positions, base=base, pairing=pairing: rope_reference(x, positions, base,
                                                                            pairing),
            {"base": repr(base), "pairing": pairing},
        )

    add(
        "embedding",
        lambda g: {"table": randn(g, 10, 6),
                   "ids": torch.tensor([[3, 0, 9, 3], [7, 3, 1, 0]], dtype=torch.int64)},
        lambda table, ids: table[ids],
    )
    return fx


# ---------------------------------------------------------------------------------------------
# Core attention
# ---------------------------------------------------------------------------------------------


def attention_reference(q, k, v, cu_seqlens, causal=True):
    """Explicit masked softmax per document and head: q [T, H, D], k/v [T, Hkv, D]; query head h
    reads kv head h // (H / Hkv). Returns out [T, H, D] and lse [T, H] = logsumexp of the scaled
    (1/sqrt(D)) visible scores, natural log."""
    T, H, D = q.shape
    group = H // k.shape[1]
    scale = 1.0 / math.sqrt(D)
    outs, lses = [], []
    for s, e in zip(cu_seqlens[:-1].tolist(), cu_seqlens[1:].tolist()):
        n = e - s
        mask = torch.ones(n, n, dtype=torch.bool)
        if causal:
            mask = torch.tril(mask)
        o_doc, l_doc = [], []
        for h in range(H):
            kv = h // group
            scores = scale * (q[s:e, h] @ k[s:e, kv].T)
            scores = scores.masked_fill(~mask, float("-inf"))
            p = torch.softmax(scores, dim=-1)
            o_doc.append(p @ v[s:e, kv])
            l_doc.append(torch.logsumexp(scores, dim=-1))
        outs.append(torch.stack(o_doc, dim=1))
        lses.append(torch.stack(l_doc, dim=1))
    return torch.cat(outs), torch.cat(lses)


def attention_fixture(name, cu_seqlens, heads, kv_heads, dim):
    g = generator(name)
    T = cu_seqlens[-1]
    cu = torch.tensor(cu_seqlens, dtype=torch.int32)
    q = randn(g, T, heads, dim).requires_grad_(True)
    k = randn(g, T, kv_heads, dim).requires_grad_(True)
    v = randn(g, T, kv_heads, dim).requires_grad_(True)
    out, lse = attention_reference(q, k, v, cu)
    gout = randn(g, T, heads, dim)
    (out * gout).sum().backward()
    tensors = {"q": q.detach(), "k": k.detach(), "v": v.detach(), "cu_seqlens": cu,
               "out": out.detach(), "lse": lse.detach(), "gout": gout,
               "dq": q.grad, "dk": k.grad, "dv": v.grad}
    meta = {"mask": "causal", "scale": repr(1.0 / math.sqrt(dim)), "heads": str(heads),
            "kv_heads": str(kv_heads)}
    return tensors, meta


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(os.path.join(out_dir, "ops"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "attention"), exist_ok=True)
    for name, (tensors, meta) in op_fixtures().items():
        write_safetensors(os.path.join(out_dir, "ops", name + ".safetensors"), tensors, meta)
    attention = {
        "causal_t37": ([0, 37], 4, 4, 16),
        "varlen_gqa": ([0, 5, 22, 40], 4, 2, 16),
    }
    for name, args in attention.items():
        tensors, meta = attention_fixture(name, *args)
        write_safetensors(os.path.join(out_dir, "attention", name + ".safetensors"), tensors, meta)

    import variant_fixtures  # whole attention blocks of every variant: fixtures/variants/

    variant_fixtures.main(out_dir)

    import mil_fixtures  # ABMIL with AEM's MIL term: fixtures/mil/

    mil_fixtures.main(out_dir)

    try:
        import model_fixtures
    except ImportError as e:
        if getattr(e, "name", None) != "model_fixtures":
            raise
        print("note: tests/reference/model_fixtures.py not found; model fixtures not written",
              file=sys.stderr)
        return
    model_fixtures.main(out_dir, write_safetensors)

    import focus_sft_fixtures  # one FocuSFT step on model_fixtures' GPT

    focus_sft_fixtures.main(out_dir, write_safetensors)


if __name__ == "__main__":
    main()
