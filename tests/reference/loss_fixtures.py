#!/usr/bin/python3
"""PyTorch golden fixtures for the attention losses AEM and ADL (SPEC-attention sections 7, 8).

Run from the repository root with Debian's interpreter (python3-torch; no other packages):
    /usr/bin/python3 tests/reference/loss_fixtures.py
Everything is float64 on explicit [N, N] attention probabilities per document and head, written
from the spec's definitions (not from the C++ layers' fused forms), with gradients from
torch.autograd. Each fixture draws from its own generator seeded by a CRC of its name
(make_fixtures.generator), so reruns rewrite identical bytes for a given torch version.

fixtures/losses/<case>.safetensors holds
  q [T, H, d], k [T, Hkv, d] (f64), cu_seqlens i32 [docs + 1], sink [H] (only when has_sink),
  loss [] (the weighted loss of one layer), grad_q, grad_k, grad_sink (when has_sink) = dloss/d
  input, and for AEM also entropy [T, H].
Metadata (strings): loss (aem | adl), heads, kv_heads, scale (repr of 1/sqrt(d)), window (0 = none),
has_sink (1 | 0), weight; ADL adds theta, eps and form (mean | pairwise).

Attention: S_ij = scale * q_i . k_j within a document, query head h reads kv head h // (H / Hkv);
row i sees keys j with j <= i and (window W > 0) j >= i - W + 1. With a sink the softmax of row i
of head h runs over its visible keys plus one extra column of logit sink[h] (no value):
lse_i = log(exp(sink[h]) + sum_j exp S_ij), P_ij = exp(S_ij - lse_i), p_sink = exp(sink[h] - lse_i).

AEM: H_ih = -sum_j P_ij log P_ij - p_sink log p_sink (sink term only with a sink);
     loss = weight * mean over all rows i of the batch and heads h of (-H_ih).
ADL, per document of N rows (Abar = mean_h P_h over real keys only, 0 where not visible):
     N_i = number of keys row i sees, tau_i = theta / N_i, v_i = Abar_i * [Abar_i > tau_i],
     m = mean_i Abar_i, u = m * [m > theta / N] (indicators constant),
     c_i = (u . v_i) / max(|u| |v_i|, eps);
  form mean:     loss = weight * mean over ALL rows of the batch of c_i;
  form pairwise: vhat_i = v_i / max(|v_i|, eps),
                 P_doc = (|sum_i vhat_i|^2 - sum_i |vhat_i|^2) / (N (N - 1))  (0 when N = 1),
                 loss = weight * sum_docs N * P_doc / T  (T = total rows of the batch).
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import generator, randn, write_safetensors  # noqa: E402

HEADS, KV_HEADS, DIM = 4, 2, 8
STD = 1.5  # q, k ~ N(0, 1.5^2): probabilities neither uniform nor one-hot
EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# Explicit attention probabilities
# ---------------------------------------------------------------------------------------------


def doc_mask(n, window):
    """[n, n] bool: row i sees keys j <= i, and j >= i - window + 1 when window > 0."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    mask = j <= i
    if window > 0:
        mask = mask & (j >= i - window + 1)
    return mask


def doc_probs(q, k, sink, s, e, h, scale, window):
    """Head h of the document [s, e): P [n, n] over real keys (0 where not visible), log P at
    visible entries (0 elsewhere), the sink probability [n] (None without a sink) and its log."""
    n = e - s
    kv = h // (q.shape[1] // k.shape[1])
    mask = doc_mask(n, window)
    scores = scale * (q[s:e, h] @ k[s:e, kv].T)  # finite everywhere
    logits = scores.masked_fill(~mask, float("-inf"))
    if sink is not None:
        logits = torch.cat([logits, sink[h].expand(n, 1)], dim=1)
    lse = torch.logsumexp(logits, dim=1, keepdim=True)
    # Never form 0 * (-inf): log P is taken from the finite scores and zeroed off the mask.
    log_p = (scores - lse).masked_fill(~mask, 0.0)
    p = torch.exp(log_p).masked_fill(~mask, 0.0)
    if sink is None:
        return p, log_p, None, None, mask
    log_ps = sink[h] - lse[:, 0]
    return p, log_p, torch.exp(log_ps), log_ps, mask


def documents(cu_seqlens):
    cu = cu_seqlens.tolist()
    return list(zip(cu[:-1], cu[1:]))


# ---------------------------------------------------------------------------------------------
# AEM
# ---------------------------------------------------------------------------------------------


def aem_entropy(q, k, sink, cu_seqlens, scale, window):
    """[T, H] row entropies, the sink column included when there is a sink."""
    rows = []
    for s, e in documents(cu_seqlens):
        per_head = []
        for h in range(q.shape[1]):
            p, log_p, ps, log_ps, _ = doc_probs(q, k, sink, s, e, h, scale, window)
            ent = -(p * log_p).sum(dim=1)
            if ps is not None:
                ent = ent - ps * log_ps
            per_head.append(ent)
        rows.append(torch.stack(per_head, dim=1))
    return torch.cat(rows)


def aem_loss(q, k, sink, cu_seqlens, scale, window, weight):
    ent = aem_entropy(q, k, sink, cu_seqlens, scale, window)
    return weight * (-ent).mean(), ent


def check_aem_fused_entropy(q, k, sink, cu_seqlens, scale, window, ent):
    """SPEC 7's fused form H_i = lse_i - sum_j P_ij S_ij (- p_sink z_h), computed separately."""
    group = q.shape[1] // k.shape[1]
    for s, e in documents(cu_seqlens):
        mask = doc_mask(e - s, window)
        for h in range(q.shape[1]):
            sc = scale * (q[s:e, h] @ k[s:e, h // group].T)
            lg = sc.masked_fill(~mask, float("-inf"))
            if sink is not None:
                lg = torch.cat([lg, sink[h].expand(e - s, 1)], dim=1)
            p = torch.softmax(lg, dim=1)
            lse = torch.logsumexp(lg, dim=1)
            fused = lse - (p[:, : e - s] * sc.masked_fill(~mask, 0.0)).sum(dim=1)
            if sink is not None:
                fused = fused - p[:, -1] * sink[h]
                ones = torch.ones(e - s, dtype=torch.float64)
                assert torch.allclose(p[:, : e - s].sum(1) + p[:, -1], ones)
            assert torch.allclose(fused, ent[s:e, h], rtol=0, atol=1e-12), "AEM fused form"


# ---------------------------------------------------------------------------------------------
# ADL
# ---------------------------------------------------------------------------------------------


def head_mean_probs(q, k, sink, s, e, scale, window):
    """Abar [n, n] = mean over heads of P (real keys only) and the visibility mask."""
    ps = []
    mask = None
    for h in range(q.shape[1]):
        p, _, _, _, mask = doc_probs(q, k, sink, s, e, h, scale, window)
        ps.append(p)
    return torch.stack(ps).mean(dim=0), mask


def adl_vectors(abar, mask, theta):
    """v [n, n] (thresholded rows) and u [n] (thresholded mean vector); indicators constant."""
    n = abar.shape[0]
    n_i = mask.sum(dim=1).to(torch.float64)  # keys row i sees
    tau = (theta / n_i)[:, None]
    v = abar * (abar.detach() > tau).to(torch.float64)
    m = abar.mean(dim=0)
    u = m * (m.detach() > theta / n).to(torch.float64)
    return v, u


def adl_loss(q, k, sink, cu_seqlens, scale, window, weight, theta, form):
    total_rows = int(cu_seqlens[-1])
    acc = q.new_zeros(())
    for s, e in documents(cu_seqlens):
        n = e - s
        abar, mask = head_mean_probs(q, k, sink, s, e, scale, window)
        v, u = adl_vectors(abar, mask, theta)
        if form == "mean":
            nu = torch.linalg.vector_norm(u)
            nv = torch.linalg.vector_norm(v, dim=1)
            c = (v @ u) / torch.clamp_min(nu * nv, EPS)
            acc = acc + c.sum()
        elif form == "pairwise":
            if n < 2:
                continue
            vhat = v / torch.clamp_min(torch.linalg.vector_norm(v, dim=1, keepdim=True), EPS)
            tot = vhat.sum(dim=0)
            p_doc = ((tot * tot).sum() - (vhat * vhat).sum()) / (n * (n - 1))
            acc = acc + n * p_doc
        else:
            raise ValueError(form)
    return weight * acc / total_rows


def check_adl_explicit(q, k, sink, cu_seqlens, scale, window, weight, theta, form, loss):
    """The same loss by slower, more literal loops (cosines per row, pairs i != j)."""
    total = 0.0
    for s, e in documents(cu_seqlens):
        n = e - s
        abar, mask = head_mean_probs(q, k, sink, s, e, scale, window)
        v, u = adl_vectors(abar, mask, theta)

        def cos(a, b):
            na, nb = float(a.norm()), float(b.norm())
            return 0.0 if na == 0.0 or nb == 0.0 else float(a @ b) / (na * nb)

        if form == "mean":
            total += sum(cos(u, v[i]) for i in range(n))
        elif n >= 2:
            pairs = [cos(v[i], v[j]) for i in range(n) for j in range(n) if i != j]
            total += n * sum(pairs) / len(pairs)
    ref = weight * total / int(cu_seqlens[-1])
    assert abs(ref - float(loss)) <= 1e-12 * max(1.0, abs(ref)), f"ADL explicit {ref} {loss}"


def adl_diagnostics(q, k, sink, cu_seqlens, scale, window, theta):
    """Rows with v_i = 0, rows with 0 < c_i < 1 (whose c moves with v's direction), and the
    smallest distance of a visible Abar entry or m entry from its threshold."""
    zero_rows, rich_rows, margin = 0, 0, float("inf")
    with torch.no_grad():
        for s, e in documents(cu_seqlens):
            abar, mask = head_mean_probs(q, k, sink, s, e, scale, window)
            v, u = adl_vectors(abar, mask, theta)
            c = (v @ u) / torch.clamp_min(torch.linalg.vector_norm(u) *
                                          torch.linalg.vector_norm(v, dim=1), EPS)
            zero_rows += int((v.abs().sum(dim=1) == 0).sum())
            rich_rows += int(((c > 1e-9) & (c < 1 - 1e-9)).sum())
            n_i = mask.sum(dim=1).to(torch.float64)
            margin = min(margin, float((abar - theta / n_i[:, None])[mask].abs().min()),
                         float((abar.mean(dim=0) - theta / (e - s)).abs().min()))
    return zero_rows, rich_rows, margin


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

# name -> options. lengths: the packed documents (always one of length 1). theta 2 is the
# default; with it short documents rarely pass the thresholds (row 1 never can: tau_1 = 1), so
# adl_sink, adl_window and adl_pairwise use theta 1.25 to give most rows nonzero v_i.
CASES = {
    "aem_causal": dict(loss="aem", lengths=(1, 5, 9, 17), window=0, sink=False, weight=0.1),
    "aem_sink_window": dict(loss="aem", lengths=(5, 1, 9), window=3, sink=True, weight=0.1),
    "adl_causal": dict(loss="adl", lengths=(1, 5, 9, 17), window=0, sink=False, weight=1.0,
                       theta=2.0, form="mean"),
    "adl_sink": dict(loss="adl", lengths=(9, 1, 5), window=0, sink=True, weight=1.0,
                     theta=1.25, form="mean"),
    "adl_window": dict(loss="adl", lengths=(1, 9, 5), window=3, sink=False, weight=1.0,
                       theta=1.25, form="mean"),
    "adl_pairwise": dict(loss="adl", lengths=(5, 9, 1), window=0, sink=False, weight=1.0,
                         theta=1.25, form="pairwise"),
    # q = 0 over the whole 5-token document: its rows are uniform (Abar_ij = 1/N_i, not above
    # tau_i = theta/N_i), so v_i = 0 and c_i = 0 there although its u is not 0; the length-1
    # document has u = 0 and v = 0; the 11-token document gives the loss its value.
    "adl_threshold_edge": dict(loss="adl", lengths=(1, 5, 11), window=0, sink=False,
                               weight=1.0, theta=2.0, form="mean", zero_q_doc=1),
}
GRADCHECK = ("aem_sink_window", "adl_sink", "adl_pairwise", "adl_threshold_edge")


def make_case(name, opt):
    g = generator(name)
    lengths = opt["lengths"]
    cu = torch.tensor([0] + [sum(lengths[: i + 1]) for i in range(len(lengths))],
                      dtype=torch.int32)
    T = int(cu[-1])
    q = randn(g, T, HEADS, DIM, std=STD)
    k = randn(g, T, KV_HEADS, DIM, std=STD)
    sink = randn(g, HEADS, std=1.0) if opt["sink"] else None
    if "zero_q_doc" in opt:
        d = opt["zero_q_doc"]
        q[int(cu[d]):int(cu[d + 1])] = 0.0
    scale = 1.0 / math.sqrt(DIM)
    window = opt["window"]
    weight = opt["weight"]

    if opt["loss"] == "aem":
        def fn(q_, k_, sink_=None):
            return aem_loss(q_, k_, sink_, cu, scale, window, weight)[0]
    else:
        def fn(q_, k_, sink_=None):
            return adl_loss(q_, k_, sink_, cu, scale, window, weight, opt["theta"], opt["form"])

    leaves = [q.clone().requires_grad_(True), k.clone().requires_grad_(True)]
    if sink is not None:
        leaves.append(sink.clone().requires_grad_(True))
    loss = fn(*leaves)
    loss.backward()
    grads = [t.grad for t in leaves]
    assert torch.isfinite(loss) and all(torch.isfinite(gr).all() for gr in grads), name

    tensors = {"q": q, "k": k, "cu_seqlens": cu}
    if sink is not None:
        tensors["sink"] = sink
    tensors["loss"] = loss.detach().reshape(())
    meta = {"loss": opt["loss"], "heads": str(HEADS), "kv_heads": str(KV_HEADS),
            "scale": repr(scale), "window": str(window),
            "has_sink": "1" if sink is not None else "0", "weight": repr(weight)}
    if opt["loss"] == "aem":
        with torch.no_grad():
            ent = aem_entropy(q, k, sink, cu, scale, window)
        check_aem_fused_entropy(q, k, sink, cu, scale, window, ent)
        tensors["entropy"] = ent
    else:
        meta.update(theta=repr(opt["theta"]), eps=repr(EPS), form=opt["form"])
        with torch.no_grad():
            check_adl_explicit(q, k, sink, cu, scale, window, weight, opt["theta"], opt["form"],
                               loss)
    if "zero_q_doc" in opt:
        d = opt["zero_q_doc"]
        s, e = int(cu[d]), int(cu[d + 1])
        abar, mask = head_mean_probs(q, k, sink, s, e, scale, window)
        v, u = adl_vectors(abar, mask, opt["theta"])
        assert float(v.abs().max()) == 0.0 and float(u.abs().max()) > 0.0, name
    tensors["grad_q"] = grads[0]
    tensors["grad_k"] = grads[1]
    if sink is not None:
        tensors["grad_sink"] = grads[2]

    if name in GRADCHECK:
        ok = torch.autograd.gradcheck(fn, tuple(t.detach().clone().requires_grad_(True)
                                                for t in leaves), eps=1e-6, atol=1e-8, rtol=1e-6)
        assert ok, f"{name}: gradcheck"

    extra = ""
    if opt["loss"] == "adl":
        zero_rows, rich_rows, margin = adl_diagnostics(q, k, sink, cu, scale, window, opt["theta"])
        # Every Abar entry and m entry must sit clearly off its threshold (f32 implementations
        # must make the same indicator decisions), and the loss must move with its inputs.
        assert margin > 1e-4, f"{name}: an entry sits {margin:.2e} from its threshold"
        assert float(loss) != 0.0 and max(float(gr.abs().max()) for gr in grads) > 0, name
        extra = f" zero_v_rows={zero_rows}/{T} rows_0<c<1={rich_rows} margin={margin:.1e}"
    return tensors, meta, extra, name in GRADCHECK


def main(out_dir=None):
    if out_dir is None:
        out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    loss_dir = os.path.join(out_dir, "losses")
    os.makedirs(loss_dir, exist_ok=True)
    for name, opt in CASES.items():
        tensors, meta, extra, checked = make_case(name, opt)
        path = os.path.join(loss_dir, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        gmax = max(float(tensors[n].abs().max()) for n in tensors if n.startswith("grad_"))
        T = int(tensors["cu_seqlens"][-1])
        print(f"losses/{name}: loss={float(tensors['loss']):.12g} T={T}"
              f" window={meta['window']} sink={meta['has_sink']}"
              f"{' form=' + meta['form'] if 'form' in meta else ''} max|grad|={gmax:.3g}{extra}"
              f"{' gradcheck=ok' if checked else ''} bytes={os.path.getsize(path)}")


if __name__ == "__main__":
    main()
