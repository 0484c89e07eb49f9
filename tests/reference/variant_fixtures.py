#!/usr/bin/python3
"""PyTorch golden fixtures for whole attention blocks, one per attention variant.

Run from the repository root with Debian's interpreter (python3-torch; no other packages):
    /usr/bin/python3 tests/reference/variant_fixtures.py
(make_fixtures.py calls it too). Every block is written out from SPEC-attention sections 0-6 as
plain float64 tensor math on dense [T, T] maps - an explicit masked softmax per document
and head - without the fused forms the C++ layers use (sink logit as a real extra column, affine
weights alpha * P + beta materialised, differential maps subtracted before multiplying by V), so
the fixtures check the layers' algebra as well as their code.

fixtures/variants/<case>.safetensors: `x` [12, 16] (two packed documents of 5 and 7 tokens),
`cu_seqlens` and `positions` (i32), every parameter under the name the layer declares
(`attn.qkv.weight`, ...), `out` [12, 16], a random upstream gradient `gout`, and
`grad_<name>` = d sum(out * gout) / d <name> for `x` and every parameter. Buffers the layer must
hold after the forward are `after.<name>` (affine: `after.attn.alpha_ma`). MoH adds `aux_loss`,
its weighted load-balance loss, and its gradients are those of sum(out * gout) + aux_loss. The
block's options are string metadata (kind, width, heads, kv_heads, head_dim, bias, rope, qk_norm,
layer, training, then the variant's own: see CASES); the C++ test fails on a key it does not read.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (  # noqa: E402
    generator,
    randn,
    rope_reference,
    uniform,
    with_grads,
    write_safetensors,
)

DOCS = (5, 7)  # packed document lengths
WIDTH = 16
STD = 0.35  # weight std: large enough that every path moves the output
QK_NORM_EPS = 1e-6


# ---------------------------------------------------------------------------------------------
# Building blocks (SPEC section 0)
# ---------------------------------------------------------------------------------------------


def packing():
    cu = [0]
    for n in DOCS:
        cu.append(cu[-1] + n)
    positions = torch.cat([torch.arange(n, dtype=torch.int32) for n in DOCS])
    return torch.tensor(cu, dtype=torch.int32), positions


def visible(cu):
    """[T, T] bool: query i sees key j iff both lie in one document and j <= i."""
    T = int(cu[-1])
    doc = torch.zeros(T, dtype=torch.int64)
    for b, (s, e) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        doc[s:e] = b
    idx = torch.arange(T)
    return (doc[:, None] == doc[None, :]) & (idx[None, :] <= idx[:, None])


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def scores(q, k, mask):
    """q [T, H, d], k [T, Hkv, d] -> masked scaled scores [H, T, T] (-inf where blocked); query
    head h reads kv head h // (H / Hkv)."""
    H, Hkv, d = q.shape[1], k.shape[1], q.shape[2]
    k = k.repeat_interleave(H // Hkv, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(d)
    return s.masked_fill(~mask, float("-inf"))


def softmax_probs(q, k, mask):
    return torch.softmax(scores(q, k, mask), dim=-1)  # [H, T, T], rows sum to 1


def apply_probs(p, v):
    """p [H, T, T], v [T, Hv, dv] with H a multiple of Hv -> [T, H, dv]."""
    v = v.repeat_interleave(p.shape[0] // v.shape[1], dim=1)
    return torch.einsum("hij,jhd->ihd", p, v)


def qkv_heads(x, P, meta, positions):
    """The fused projection: rows of attn.qkv are query heads, then key heads, then value heads;
    QK-RMSNorm per head (gain shared by heads), then RoPE."""
    H, Hkv, d = int(meta["heads"]), int(meta["kv_heads"]), int(meta["head_dim"])
    y = linear(x, P["attn.qkv.weight"], P.get("attn.qkv.bias"))
    T = x.shape[0]
    q = y[:, : H * d].reshape(T, H, d)
    k = y[:, H * d : (H + Hkv) * d].reshape(T, Hkv, d)
    v = y[:, (H + Hkv) * d :].reshape(T, Hkv, d)
    if meta["qk_norm"] == "true":
        q = rms_norm(q, P["attn.q_norm.weight"], float(meta["qk_norm_eps"]))
        k = rms_norm(k, P["attn.k_norm.weight"], float(meta["qk_norm_eps"]))
    if meta["rope"] == "true":
        base, pairing = float(meta["rope_base"]), meta["rope_pairing"]
        q = rope_reference(q, positions, base, pairing)
        k = rope_reference(k, positions, base, pairing)
    return q, k, v


def output(o, P):
    """Per-head outputs [T, H, dv] -> concat_h -> attn.proj."""
    return linear(o.reshape(o.shape[0], -1), P["attn.proj.weight"], P.get("attn.proj.bias"))


def gate(x, o, P, meta):
    """SPEC 3: o * sigmoid(x Wg^T); headwise: one gate per token and head."""
    g = torch.sigmoid(linear(x, P["attn.gate.weight"]))
    if meta["granularity"] == "headwise":
        return o * g[:, :, None]
    return o * g.reshape(o.shape)


# ---------------------------------------------------------------------------------------------
# Variants: forward(x, P, meta, cu, positions) -> out [T, WIDTH]
# ---------------------------------------------------------------------------------------------


def softmax_block(x, P, meta, cu, positions):
    q, k, v = qkv_heads(x, P, meta, positions)
    return output(apply_probs(softmax_probs(q, k, visible(cu)), v), P)


def sink_block(x, P, meta, cu, positions):
    """SPEC 2: the sink logit z_h is one more key column with value 0."""
    q, k, v = qkv_heads(x, P, meta, positions)
    s = scores(q, k, visible(cu))  # [H, T, T]
    H, T = s.shape[0], s.shape[1]
    z = P["attn.sink"] if meta["sink_mode"] == "learnable" else torch.zeros(H, dtype=x.dtype)
    full = torch.cat([s, z[:, None, None].expand(H, T, 1)], dim=-1)
    p = torch.softmax(full, dim=-1)[..., :T]
    return output(apply_probs(p, v), P)


def gated_block(x, P, meta, cu, positions):
    q, k, v = qkv_heads(x, P, meta, positions)
    o = apply_probs(softmax_probs(q, k, visible(cu)), v)
    return output(gate(x, o, P, meta), P)


def affine_alpha(x, P, meta):
    """SPEC 4: alpha [T, H] = clamp(0.1 z + 0.5, 0, 1) (linear) or sigmoid(z), z = x Walpha^T."""
    z = linear(x, P["attn.alpha.weight"])
    if meta["clip"] == "linear":
        return torch.clamp(0.1 * z + 0.5, 0.0, 1.0)
    return torch.sigmoid(z)


def affine_block(x, P, meta, cu, positions):
    """SPEC 4, first training forward: alpha_ma = the batch mean of alpha over the tokens (a
    constant: detached). Weights alpha_i P_ij + beta_i on visible keys, beta_i = (alpha_ma -
    alpha_i) / N_i, materialised as a [H, T, T] map."""
    q, k, v = qkv_heads(x, P, meta, positions)
    mask = visible(cu)
    p = softmax_probs(q, k, mask)
    alpha = affine_alpha(x, P, meta)  # [T, H]
    alpha_ma = alpha.detach().mean(0)  # [H]
    n_visible = mask.sum(-1).to(x.dtype)  # [T]
    beta = (alpha_ma[None, :] - alpha) / n_visible[:, None]  # [T, H]
    w = alpha.T[:, :, None] * p + beta.T[:, :, None] * mask.to(x.dtype)[None]
    o = apply_probs(w, v)
    if meta["affine_gate"] == "true":
        o = gate(x, o, P, meta)
    return output(o, P)


def affine_after(x, P, meta):
    return {"after.attn.alpha_ma": affine_alpha(x, P, meta).mean(0)}


def qk_maps(t, P, which, meta, positions):
    """QK-RMSNorm (one gain for every query map, one for every key map), then RoPE, of maps
    [T, maps, d] (the differential variants' own maps)."""
    if meta["qk_norm"] == "true":
        t = rms_norm(t, P[f"attn.{which}_norm.weight"], float(meta["qk_norm_eps"]))
    if meta["rope"] == "true":
        t = rope_reference(t, positions, float(meta["rope_base"]), meta["rope_pairing"])
    return t


def differential_lambda(P, layer):
    """SPEC 5: lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init(layer)."""
    lambda_init = 0.8 - 0.6 * math.exp(-0.3 * layer)
    e1 = torch.exp((P["attn.lambda_q1"] * P["attn.lambda_k1"]).sum())
    e2 = torch.exp((P["attn.lambda_q2"] * P["attn.lambda_k2"]).sum())
    return e1 - e2 + lambda_init, lambda_init


def differential_output(o, P, meta, lambda_init):
    """(1 - lambda_init) * RMSNorm(O_h) over the head's value width, gain shared by heads."""
    return (1 - lambda_init) * rms_norm(o, P["attn.subln.weight"], float(meta["norm_eps"]))


def differential_block(x, P, meta, cu, positions):
    """SPEC 5, Differential Transformer V1: `heads` query maps form heads/2 heads, each with maps
    (q1, k1) and (q2, k2) of width d and one value of width 2d; kv_heads key maps form kv_heads/2
    key/value groups (GQA). attn.qkv rows: queries [heads/2][2][d], keys [kv/2][2][d], values
    [kv/2][2d]. O_h = (A1_h - lambda A2_h) V_g, the two maps subtracted before the product."""
    H, Hk, d = int(meta["heads"]), int(meta["kv_heads"]), int(meta["head_dim"])
    T = x.shape[0]
    y = linear(x, P["attn.qkv.weight"], P.get("attn.qkv.bias"))
    q = qk_maps(y[:, : H * d].reshape(T, H, d), P, "q", meta, positions)
    k = qk_maps(y[:, H * d : (H + Hk) * d].reshape(T, Hk, d), P, "k", meta, positions)
    v = y[:, (H + Hk) * d :].reshape(T, Hk // 2, 2 * d)
    q = q.reshape(T, H // 2, 2, d)
    k = k.reshape(T, Hk // 2, 2, d)
    mask = visible(cu)
    a1 = softmax_probs(q[:, :, 0], k[:, :, 0], mask)  # [H/2, T, T]
    a2 = softmax_probs(q[:, :, 1], k[:, :, 1], mask)
    lam, lambda_init = differential_lambda(P, int(meta["layer"]))
    o = apply_probs(a1 - lam * a2, v)  # [T, H/2, 2d]
    return output(differential_output(o, P, meta, lambda_init), P)


def grouped_differential_block(x, P, meta, cu, positions):
    """SPEC 5, GDA with ratio r: H2 = heads / (r + 1) noise maps, H1 = r H2 signal heads, all of
    width d. attn.qkv rows: q1 [H1][d], k1 [H1][d], v [H1][d], q2 [H2][d], k2 [H2][d]. Signal head
    h uses noise map h // r: O_h = (A1_h - lambda A2_{h // r}) V_h."""
    H, d, r = int(meta["heads"]), int(meta["head_dim"]), int(meta["group_ratio"])
    h2 = H // (r + 1)
    h1 = r * h2
    T = x.shape[0]
    y = linear(x, P["attn.qkv.weight"], P.get("attn.qkv.bias"))
    q1, k1, v, q2, k2 = torch.split(y, [h1 * d, h1 * d, h1 * d, h2 * d, h2 * d], dim=1)
    q1 = qk_maps(q1.reshape(T, h1, d), P, "q", meta, positions)
    k1 = qk_maps(k1.reshape(T, h1, d), P, "k", meta, positions)
    q2 = qk_maps(q2.reshape(T, h2, d), P, "q", meta, positions)
    k2 = qk_maps(k2.reshape(T, h2, d), P, "k", meta, positions)
    v = v.reshape(T, h1, d)
    mask = visible(cu)
    a1 = softmax_probs(q1, k1, mask)  # [H1, T, T]
    a2 = softmax_probs(q2, k2, mask).repeat_interleave(r, dim=0)  # noise map of each signal head
    lam, lambda_init = differential_lambda(P, int(meta["layer"]))
    o = apply_probs(a1 - lam * a2, v)  # [T, H1, d]
    return output(differential_output(o, P, meta, lambda_init), P)


def moh_block(x, P, meta, cu, positions):
    """SPEC 6 (the official code's form): hs shared heads, E = heads - hs routed heads, top-k.
    p = softmax(x Wr^T) [T, E]; m = top-k mask of p (constant); g = k p m / sum_e(p m);
    s = hs softmax(x Ws^T) [T, hs] (hs = 1: s = 1); [a_s, a_r] = 2 softmax(x W0^T); head h's
    output is scaled by a_s s_h (shared) or a_r g_(h - hs) (routed) before attn.proj.
    Returns (out, aux): aux = balance_weight * E^2 mean_e(mean_t(p_e) f_e) / num_layers, f_e the
    fraction of tokens whose top-k holds e (a constant)."""
    hs, k = int(meta["shared_heads"]), int(meta["top_k"])
    q, kk, v = qkv_heads(x, P, meta, positions)
    o = apply_probs(softmax_probs(q, kk, visible(cu)), v)  # [T, H, d]
    T, H = o.shape[0], o.shape[1]
    E = H - hs
    p = torch.softmax(linear(x, P["attn.router.weight"]), dim=-1)  # [T, E]
    top = torch.topk(p.detach(), k, dim=-1).indices
    m = torch.zeros(T, E, dtype=x.dtype).scatter_(1, top, 1.0)
    g = k * p * m / (p * m).sum(-1, keepdim=True)
    if hs > 0:
        if hs > 1:
            s = hs * torch.softmax(linear(x, P["attn.shared_router.weight"]), dim=-1)
        else:
            s = torch.ones(T, 1, dtype=x.dtype)
        a = 2 * torch.softmax(linear(x, P["attn.mix.weight"]), dim=-1)  # [T, 2]
        w = torch.cat([a[:, :1] * s, a[:, 1:] * g], dim=1)  # [T, H]
    else:
        w = g
    out = output(o * w[:, :, None], P)
    f = m.mean(0)  # [E]
    balance = E * E * (p.mean(0) * f).mean()
    aux = float(meta["balance_weight"]) * balance / int(meta["num_layers"])
    return out, aux


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


def base_meta(kind, heads, kv_heads, head_dim, bias=True, rope=False, qk_norm=False):
    return {
        "kind": kind,
        "width": str(WIDTH),
        "heads": str(heads),
        "kv_heads": str(kv_heads),
        "head_dim": str(head_dim),
        "bias": "true" if bias else "false",
        "rope": "true" if rope else "false",
        "rope_base": "100.0",  # small base: the slow pair of a 4-wide head still turns
        "rope_pairing": "half",
        "qk_norm": "true" if qk_norm else "false",
        "qk_norm_eps": repr(QK_NORM_EPS),
        "layer": "1",
        "num_layers": "2",
        "training": "false",
    }


def projected_params(g, meta):
    """attn.qkv, attn.proj (+ biases), attn.q_norm / k_norm gains away from 1."""
    H, Hkv, d = int(meta["heads"]), int(meta["kv_heads"]), int(meta["head_dim"])
    P = {"attn.qkv.weight": randn(g, (H + 2 * Hkv) * d, WIDTH, std=STD)}
    if meta["bias"] == "true":
        P["attn.qkv.bias"] = randn(g, (H + 2 * Hkv) * d, std=0.2)
    P["attn.proj.weight"] = randn(g, WIDTH, H * d, std=STD)
    if meta["bias"] == "true":
        P["attn.proj.bias"] = randn(g, WIDTH, std=0.2)
    if meta["qk_norm"] == "true":
        P["attn.q_norm.weight"] = uniform(g, 0.5, 1.5, d)
        P["attn.k_norm.weight"] = uniform(g, 0.5, 1.5, d)
    return P


def gate_params(g, meta):
    H, d = int(meta["heads"]), int(meta["head_dim"])
    rows = H if meta["granularity"] == "headwise" else H * d
    return {"attn.gate.weight": randn(g, rows, WIDTH, std=0.5)}


def case_softmax(g):
    meta = base_meta("softmax", 2, 2, 4)
    return meta, projected_params(g, meta), softmax_block


def case_softmax_gqa_rope_qknorm(g):
    meta = base_meta("softmax", 4, 2, 4, bias=False, rope=True, qk_norm=True)
    return meta, projected_params(g, meta), softmax_block


def case_sink(mode):
    def make(g):
        meta = base_meta("sink", 2, 2, 4)
        meta["sink_mode"] = mode
        P = projected_params(g, meta)
        if mode == "learnable":
            P["attn.sink"] = torch.tensor([0.7, -0.9], dtype=torch.float64)
        return meta, P, sink_block

    return make


def case_gated(granularity):
    def make(g):
        meta = base_meta("gated", 2, 2, 4)
        meta["granularity"] = granularity
        P = projected_params(g, meta)
        P.update(gate_params(g, meta))
        return meta, P, gated_block

    return make


def case_affine(clip, with_gate):
    def make(g):
        # The gated case also runs GQA (4 query heads on 2 kv heads): Vbar is per kv head.
        heads, kv_heads, head_dim = (4, 2, 2) if with_gate else (2, 2, 4)
        meta = base_meta("affine_scaled", heads, kv_heads, head_dim)
        meta.update({"training": "true", "clip": clip, "ma_momentum": "0.9",
                     "affine_gate": "true" if with_gate else "false"})
        if with_gate:
            meta["granularity"] = "elementwise"
        P = projected_params(g, meta)
        # linear clip: z std ~5 so that some alphas sit on each clamp and some inside.
        H = int(meta["heads"])
        P["attn.alpha.weight"] = randn(g, H, WIDTH, std=1.3 if clip == "linear" else 0.5)
        if with_gate:
            P.update(gate_params(g, meta))
        return meta, P, affine_block

    return make


def differential_params(g, meta, qkv_rows, proj_in, norm_width):
    """attn.qkv / attn.proj of the given sizes, QK-norm gains, the four lambda vectors (std 0.5:
    lambda well away from lambda_init) and the sub-layer norm gain away from 1."""
    d = int(meta["head_dim"])
    P = {"attn.qkv.weight": randn(g, qkv_rows, WIDTH, std=STD)}
    if meta["bias"] == "true":
        P["attn.qkv.bias"] = randn(g, qkv_rows, std=0.2)
    if meta["qk_norm"] == "true":
        P["attn.q_norm.weight"] = uniform(g, 0.5, 1.5, d)
        P["attn.k_norm.weight"] = uniform(g, 0.5, 1.5, d)
    for name in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
        P["attn." + name] = randn(g, d, std=0.5)
    P["attn.subln.weight"] = uniform(g, 0.5, 1.5, norm_width)
    P["attn.proj.weight"] = randn(g, WIDTH, proj_in, std=STD)
    if meta["bias"] == "true":
        P["attn.proj.bias"] = randn(g, WIDTH, std=0.2)
    return P


def case_differential(heads, kv_heads, head_dim, bias, rope_qknorm):
    def make(g):
        meta = base_meta("differential", heads, kv_heads, head_dim, bias=bias, rope=rope_qknorm,
                         qk_norm=rope_qknorm)
        meta.update({"lambda_init_std": "0.1", "norm_eps": "1e-05"})
        d = head_dim
        P = differential_params(g, meta, (heads + 2 * kv_heads) * d, heads * d, 2 * d)
        return meta, P, differential_block

    return make


def case_grouped_differential(heads, head_dim, ratio, rope_qknorm):
    def make(g):
        meta = base_meta("grouped_differential", heads, heads, head_dim, rope=rope_qknorm,
                         qk_norm=rope_qknorm)
        meta.update({"lambda_init_std": "0.1", "norm_eps": "1e-05", "group_ratio": str(ratio)})
        d, h2 = head_dim, heads // (ratio + 1)
        h1 = ratio * h2
        P = differential_params(g, meta, (3 * h1 + 2 * h2) * d, h1 * d, d)
        return meta, P, grouped_differential_block

    return make


def case_moh(g):
    # 6 heads on 3 kv heads (GQA): 2 shared (so the shared router exists), 4 routed, top-2.
    meta = base_meta("moh", 6, 3, 2)
    meta.update({"shared_heads": "2", "top_k": "2", "balance_weight": "1.0"})
    P = projected_params(g, meta)
    P["attn.router.weight"] = randn(g, 4, WIDTH, std=0.5)
    P["attn.shared_router.weight"] = randn(g, 2, WIDTH, std=0.5)
    P["attn.mix.weight"] = randn(g, 2, WIDTH, std=0.5)
    return meta, P, moh_block


CASES = {
    "softmax": case_softmax,
    "softmax_gqa_rope_qknorm": case_softmax_gqa_rope_qknorm,
    "sink_learnable": case_sink("learnable"),
    "sink_off_by_one": case_sink("off_by_one"),
    "gated_elementwise": case_gated("elementwise"),
    "gated_headwise": case_gated("headwise"),
    "affine_linear": case_affine("linear", False),
    "affine_sigmoid": case_affine("sigmoid", False),
    "affine_gated": case_affine("linear", True),
    "differential": case_differential(4, 4, 2, True, False),
    "differential_gqa": case_differential(4, 2, 4, False, True),
    "grouped_differential_r3": case_grouped_differential(8, 2, 3, True),
    "grouped_differential_r1": case_grouped_differential(4, 2, 1, False),
    "moh": case_moh,
}

AFTER = {"affine_scaled": affine_after}


def with_grads_and_aux(inputs, fn, g):
    """with_grads for a block that also returns an auxiliary loss (MoH's load balance): the
    gradients are those of sum(out * gout) + aux, and `aux_loss` holds the loss's value."""
    leaves = {n: t.clone().requires_grad_(True) if t.is_floating_point() else t
              for n, t in inputs.items()}
    out, aux = fn(**leaves)
    gout = randn(g, *out.shape)
    ((out * gout).sum() + aux).backward()
    result = dict(inputs)
    result["out"] = out.detach()
    result["gout"] = gout
    result["aux_loss"] = aux.detach().reshape(())
    for n, t in leaves.items():
        if t.is_floating_point():
            result["grad_" + n] = t.grad
    return result


def make_case(name):
    g = generator("variants/" + name)
    meta, P, block = CASES[name](g)
    cu, positions = packing()
    x = randn(g, int(cu[-1]), WIDTH)
    inputs = {"x": x, **P}

    def fn(x, **params):
        return block(x, params, meta, cu, positions)

    if meta["kind"] == "moh":
        tensors = with_grads_and_aux(inputs, fn, g)
    else:
        tensors = with_grads(inputs, fn, g)
    tensors["cu_seqlens"] = cu
    tensors["positions"] = positions
    if meta["kind"] in AFTER:
        tensors.update(AFTER[meta["kind"]](x, P, meta))
    return tensors, meta


def main(out_dir=None):
    if out_dir is None:
        out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(os.path.join(out_dir, "variants"), exist_ok=True)
    for name in CASES:
        tensors, meta = make_case(name)
        write_safetensors(os.path.join(out_dir, "variants", name + ".safetensors"), tensors, meta)


if __name__ == "__main__":
    main()
