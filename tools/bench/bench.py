#!/usr/bin/env python3
"""attnlab benchmark driver: runs attnlab's benchmark binaries beside the PyTorch peers in
../shared/bench and prints one comparison table (or JSON lines). Standard library only.

  bench.py attention [--T 512 1024 ...] [--runs 3] [--quick] [--json] [--no-peer]
  bench.py gpt [--config tiny small gpt2s] [--runs 3] [--json] [--no-peer]
  bench.py dp [--recipe R] [--steps 40] [--ranks 2] [--json]
  bench.py cad [--recipe R] [--steps 20] [--ranks 4] [--set PATH=VALUE] [--json]
  bench.py gpu [--what gemm attn gpt] [--D 64 128] [--T 1024 ...] [--no-compile] [--dry-run]

Every measurement is its own process (peak RSS is per process); --runs repeats each one and the
table shows the median over runs with the range of the per-run medians. See README.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from bench_util import REPO, BenchError, binary, field, peer_script, print_table, run_json, spread
from bench_gpu import NoDevice, gpu

def attention(args):
    Ts = [256] if args.quick else args.T
    alone = [] if args.quick else args.alone_T
    runs = 1 if args.quick else args.runs
    use_peer = not (args.quick or args.no_peer)
    modes = ["fwd", "fwdbwd"]
    exe = binary(args, "attnlab_bench_attention")
    extra = ["--warmup", "1", "--iters", "2"] if args.quick else []

    ours = {}  # (T, mode) -> list of per-run result rows
    for r in range(runs):
        for T in Ts + alone:
            for mode in modes:
                what = f"attnlab attention T={T} {mode} run {r + 1}"
                cmd = [exe, "--T", str(T), "--mode", mode, "--threads", str(args.threads),
                       "--json"] + extra
                row = run_json(cmd, args.timeout, what)[-1]
                field(row, f"{mode}_s_median", what)
                ours.setdefault((T, mode), []).append(row)

    peer = {}
    if use_peer:
        script = peer_script(args, "torch_attn_bench.py")
        for r in range(runs):
            # The peer runs every T (and its SGEMM) in fresh child processes of one invocation.
            cmd = script + ["--threads", str(args.threads), "--gemm-threads", str(args.threads),
                            "--seqs"] + [str(T) for T in Ts]
            for row in run_json(cmd, args.timeout * len(Ts), f"peer attention run {r + 1}"):
                if row.get("bench") == "torch_causal_attn":
                    peer.setdefault(int(row["T"]), []).append(row)

    out = []
    for T in Ts + alone:
        for mode in modes:
            rs = ours[(T, mode)]
            what = f"attnlab T={T} {mode}"
            med, lo, hi = spread([field(x, f"{mode}_s_median", what) for x in rs])
            gflop = field(rs[0], f"nominal_{mode}_gflop", what)
            rss = statistics.median(field(x, f"peak_rss_growth_{mode}_mib", what) for x in rs)
            row = {"T": T, "mode": mode, "runs": len(rs), "attnlab_ms_median": med * 1e3,
                   "attnlab_ms_min": lo * 1e3, "attnlab_ms_max": hi * 1e3,
                   "attnlab_gflops": gflop / med, "attnlab_rss_growth_mib": rss,
                   "peer_ms_median": None, "ratio_peer_over_attnlab": None,
                   "peer_rss_growth_mib": None}
            ps = peer.get(T, [])
            if ps:
                pw = f"peer T={T} {mode}"
                pmed = statistics.median(field(x, f"{mode}_s_median", pw) for x in ps)
                row["peer_ms_median"] = pmed * 1e3
                row["ratio_peer_over_attnlab"] = pmed / med
                row["peer_rss_growth_mib"] = statistics.median(
                    field(x, f"peak_rss_growth_{mode}_mib", pw) for x in ps)
            elif use_peer and T in Ts:
                raise BenchError(f"peer printed no result for T={T}")
            out.append(row)

    if args.json:
        for row in out:
            print(json.dumps(row))
        return
    dash = "-"
    print(f"causal attention, B=1 H=8 D=64 fp32, {args.threads} threads, {runs} run(s); "
          "ms = median over runs (min-max of per-run medians)")
    print_table(
        ["T", "mode", "attnlab ms", "GFLOP/s", "peer ms", "peer/attnlab", "attnlab RSS MiB",
         "peer RSS MiB"],
        [[r["T"], r["mode"],
          f"{r['attnlab_ms_median']:.1f} ({r['attnlab_ms_min']:.1f}-{r['attnlab_ms_max']:.1f})",
          f"{r['attnlab_gflops']:.1f}",
          dash if r["peer_ms_median"] is None else f"{r['peer_ms_median']:.1f}",
          dash if r["ratio_peer_over_attnlab"] is None else f"{r['ratio_peer_over_attnlab']:.2f}x",
          f"{r['attnlab_rss_growth_mib']:.1f}",
          dash if r["peer_rss_growth_mib"] is None else f"{r['peer_rss_growth_mib']:.1f}"]
         for r in out])


# ----------------------------------------------------------------------------------------------
# gpt: B1 training step


def attnlab_sgemm_gflops(args):
    """2-thread SGEMM rate (n=2048) from attnlab_bench_ops' SgemmPeak benchmark."""
    exe = binary(args, "attnlab_bench_ops")
    cmd = [exe, "--threads", str(args.threads), "--benchmark_filter=SgemmPeak",
           "--benchmark_format=json", "--benchmark_min_time=0.5"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"attnlab SGEMM: timed out: {' '.join(cmd)}")
    if p.returncode != 0:
        raise BenchError(f"attnlab SGEMM: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    # Google Benchmark's JSON document follows our one-line banner.
    start = p.stdout.find("\n{")
    try:
        doc = json.loads(p.stdout[start + 1:] if start >= 0 else p.stdout)
        return float(doc["benchmarks"][0]["GFLOP/s"])
    except (ValueError, KeyError, IndexError) as e:
        raise BenchError(f"attnlab SGEMM: cannot read GFLOP/s ({e!r}) from: {p.stdout[:300]}")


def peer_sgemm_gflops(args):
    cmd = peer_script(args, "torch_attn_bench.py") + [
        "--no-attn", "--gemm-threads", str(args.threads)]
    for row in run_json(cmd, args.timeout, "peer SGEMM"):
        if row.get("bench") == "torch_sgemm":
            return field(row, "gflops_median", "peer SGEMM")
    raise BenchError("peer SGEMM: no torch_sgemm line")


def gpt(args):
    exe = binary(args, "attnlab_bench_gpt")
    use_peer = not (args.quick or args.no_peer)
    configs = ["tiny"] if args.quick else args.config
    runs = 1 if args.quick else args.runs
    extra = ["--steps", "2", "--warmup", "1"] if args.quick else []
    ours, peer = {}, {}
    for r in range(runs):
        for c in configs:
            what = f"attnlab gpt {c} run {r + 1}"
            cmd = [exe, "--config", c, "--threads", str(args.threads), "--json"] + extra
            ours.setdefault(c, []).append(run_json(cmd, args.timeout, what)[-1])
            if use_peer:
                cmd = peer_script(args, "torch_gpt_bench.py") + [
                    "--threads", str(args.threads), "--config", c] + extra
                peer.setdefault(c, []).append(run_json(cmd, args.timeout, f"peer gpt {c}")[-1])
    sgemm = attnlab_sgemm_gflops(args)
    peer_sgemm = peer_sgemm_gflops(args) if use_peer else None

    out = []
    for c in configs:
        rs, what = ours[c], f"attnlab gpt {c}"
        med, lo, hi = spread([field(x, "tokens_per_s", what) for x in rs])
        mm = statistics.median(field(x, "matmul_gflops_achieved", what) for x in rs)
        row = {"config": c, "runs": len(rs), "attnlab_tok_s_median": med, "attnlab_tok_s_min": lo,
               "attnlab_tok_s_max": hi,
               "attnlab_peak_rss_mib": statistics.median(
                   field(x, "peak_rss_mib", what) for x in rs),
               "attnlab_matmul_gflops": mm, "attnlab_sgemm_gflops": sgemm,
               "attnlab_matmul_share_of_sgemm": mm / sgemm,
               "loss_first": field(rs[0], "loss_first", what),
               "loss_last": field(rs[0], "loss_last", what)}
        if use_peer:
            ps, pw = peer[c], f"peer gpt {c}"
            pmed, plo, phi = spread([field(x, "tokens_per_s", pw) for x in ps])
            pmm = statistics.median(field(x, "matmul_gflops_achieved", pw) for x in ps)
            row.update({"peer_tok_s_median": pmed, "peer_tok_s_min": plo, "peer_tok_s_max": phi,
                        "ratio_attnlab_over_peer": med / pmed,
                        "peer_peak_rss_mib": statistics.median(
                            field(x, "peak_rss_mib", pw) for x in ps),
                        "peer_matmul_gflops": pmm, "peer_sgemm_gflops": peer_sgemm,
                        "peer_matmul_share_of_sgemm": pmm / peer_sgemm})
        out.append(row)

    if args.json:
        for row in out:
            print(json.dumps(row))
        return
    print(f"GPT training step, fp32, {args.threads} threads, {runs} run(s); tok/s = median "
          f"(min-max of runs); SGEMM n=2048: attnlab {sgemm:.1f} GFLOP/s"
          + (f", peer {peer_sgemm:.1f} GFLOP/s" if peer_sgemm else ""))

    def g(r, k, f):
        return "-" if r.get(k) is None else f.format(r[k])

    print_table(
        ["config", "attnlab tok/s", "peer tok/s", "attnlab/peer", "attnlab RSS MiB",
         "peer RSS MiB", "attnlab matmul GFLOP/s (% SGEMM)", "peer matmul GFLOP/s (% SGEMM)"],
        [[r["config"],
          f"{r['attnlab_tok_s_median']:.0f} ({r['attnlab_tok_s_min']:.0f}-"
          f"{r['attnlab_tok_s_max']:.0f})",
          g(r, "peer_tok_s_median", "{:.0f}"), g(r, "ratio_attnlab_over_peer", "{:.2f}x"),
          f"{r['attnlab_peak_rss_mib']:.0f}", g(r, "peer_peak_rss_mib", "{:.0f}"),
          f"{r['attnlab_matmul_gflops']:.1f} ({100 * r['attnlab_matmul_share_of_sgemm']:.0f}%)",
          "-" if r.get("peer_matmul_gflops") is None else
          f"{r['peer_matmul_gflops']:.1f} ({100 * r['peer_matmul_share_of_sgemm']:.0f}%)"]
         for r in out])

# ----------------------------------------------------------------------------------------------
# gpu: B3 gemm / attention / GPT-2 124M on one GPU, attnlab_bench_gpu beside torch_gpu_anchors.py


def run_train(args, ranks, run_dir, overrides, threads=1):
    """`attnlab train` of args.recipe on `ranks` ranks (0: no mpirun), `threads` threads each;
    returns the loss rows of its metrics.jsonl."""
    exe = os.path.join(args.build_dir, "tools", "attnlab")
    if not os.path.exists(exe):
        raise BenchError(f"{exe} not found: build first (cmake --build {args.build_dir})")
    cmd = [exe, "train", args.recipe, "--quiet", "--threads", str(threads), "--run-dir", run_dir]
    for o in ["train.eval_every=0", "train.eval_steps=1", "train.checkpoint_every=0",
              "log.every=1", "log.tensorboard=false", f"train.steps={args.steps}",
              f"optim.warmup_steps={args.steps // 4}"] + overrides:
        cmd += ["--set", o]
    if ranks:
        cmd = ["mpirun", "-np", str(ranks), "--allow-run-as-root", "--oversubscribe",
               "--bind-to", "none"] + cmd
    what = f"train on {ranks or 1} rank(s) {' '.join(overrides)}"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                           cwd=REPO)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: timed out after {args.timeout} s")
    if p.returncode != 0:
        raise BenchError(f"{what}: exit {p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if "loss" in r]


def dp(args):
    """B4: data-parallel scaling, 1 rank x 1 thread vs N ranks x 1 thread on the same global
    batch, with the time ranks spend blocked on gradient reductions after backward."""
    import tempfile
    skip = min(args.warmup, args.steps - 1)
    arms = [("1 rank", 0, []),
            # Overlap: 1 MiB buckets start reducing while backward runs; one bucket cannot.
            (f"{args.ranks} ranks, DP, 1 MiB buckets", args.ranks,
             ["parallel.mode=DATA_PARALLEL", "parallel.bucket_mb=1"]),
            (f"{args.ranks} ranks, DP, one bucket", args.ranks,
             ["parallel.mode=DATA_PARALLEL", "parallel.bucket_mb=4096"]),
            (f"{args.ranks} ranks, ZeRO-1", args.ranks,
             ["parallel.mode=DATA_PARALLEL", "parallel.zero1=true"]),
            ("1 rank, deterministic", 0,
             ["parallel.mode=DATA_PARALLEL", "parallel.deterministic_reduce=true"]),
            (f"{args.ranks} ranks, deterministic", args.ranks,
             ["parallel.mode=DATA_PARALLEL", "parallel.deterministic_reduce=true"])]
    out, curves = [], {}
    with tempfile.TemporaryDirectory(prefix="attnlab_bench_dp_") as tmp:
        for i, (name, ranks, overrides) in enumerate(arms):
            rows = run_train(args, ranks, os.path.join(tmp, f"arm{i}"), overrides)
            if len(rows) != args.steps:
                raise BenchError(f"{name}: {len(rows)} loss rows, expected {args.steps}")
            timed = rows[skip:]
            tok_s = statistics.median(r["tokens_per_s"] for r in timed)
            wait = None
            if "allreduce_wait_s" in rows[-1]:
                wait = (rows[-1]["allreduce_wait_s"] - rows[skip - 1]["allreduce_wait_s"]
                        if skip > 0 else rows[-1]["allreduce_wait_s"]) / len(timed)
            curves[name] = [r["loss"] for r in rows]
            out.append({"arm": name, "ranks": ranks or 1, "steps": args.steps,
                        "timed_steps": len(timed), "tokens_per_s": tok_s,
                        "allreduce_wait_ms_per_step": None if wait is None else wait * 1e3,
                        "loss_last": rows[-1]["loss"]})
    base = out[0]["tokens_per_s"]
    for row in out:
        row["speedup_over_1_rank"] = row["tokens_per_s"] / base
    det1, detn = curves[arms[4][0]], curves[arms[5][0]]
    identical = det1 == detn
    if args.json:
        for row in out:
            print(json.dumps(row))
        print(json.dumps({"deterministic_curves_identical": identical}))
        return
    print(f"B4 data parallel: {os.path.relpath(args.recipe, REPO)}, {args.steps} steps "
          f"(first {skip} untimed), 1 thread per rank, same global batch")
    print_table(["arm", "tok/s", "speed-up", "all-reduce wait ms/step", "last loss"],
                [[r["arm"], f"{r['tokens_per_s']:.0f}", f"{r['speedup_over_1_rank']:.2f}x",
                  "-" if r["allreduce_wait_ms_per_step"] is None else
                  f"{r['allreduce_wait_ms_per_step']:.1f}", f"{r['loss_last']:.6f}"]
                 for r in out])
    print(f"deterministic loss curves, 1 vs {args.ranks} ranks: "
          + ("identical" if identical else "DIFFERENT"))
    if not identical:
        raise BenchError("deterministic mode gave different loss curves")


def cad(args):
    """B4 CAD: plain packing (DATA_PARALLEL) against CAD, stateful and resend, on N ranks x 1
    thread of the long-tailed recipe: tokens/s, step time, attention imbalance planned (packed ->
    CAD) and measured (the servers' core-attention seconds), bytes per rank per layer, exchange
    time."""
    import re
    import tempfile
    for shard in ("train.bin", "val.bin"):
        if not os.path.exists(os.path.join(REPO, "data", "brown_longdoc", shard)):
            raise BenchError("data/brown_longdoc/ missing: run `build/tools/attnlab data brown` "
                             "and `build/tools/attnlab data longdoc` first")
    exe = os.path.join(args.build_dir, "tools", "attnlab")
    text = subprocess.run([exe, "recipe", args.recipe], capture_output=True, text=True,
                          cwd=REPO).stdout
    layers = int(re.search(r"^  layers: (\d+)$", text, re.M).group(1))
    skip = min(args.warmup, args.steps - 1)
    arms = [("packing (DATA_PARALLEL)", ["parallel.mode=DATA_PARALLEL"]),
            ("CAD", ["parallel.mode=CAD"]),
            ("CAD, resend", ["parallel.mode=CAD", "parallel.cad.backward=RESEND"])]
    results = {name: [] for name, _ in arms}
    with tempfile.TemporaryDirectory(prefix="attnlab_bench_cad_") as tmp:
        for run in range(args.runs):
            for i, (name, overrides) in enumerate(arms):
                rows = run_train(args, args.ranks, os.path.join(tmp, f"r{run}a{i}"),
                                 args.set + overrides)
                timed = rows[skip:]
                tokens = (rows[-1]["tokens"] - rows[skip - 1]["tokens"]) / len(timed)
                tok_s = statistics.median(r["tokens_per_s"] for r in timed)
                r = {"arm": name, "ranks": args.ranks, "tokens_per_s": tok_s,
                     "step_ms": 1e3 * tokens / tok_s, "loss_last": rows[-1]["loss"]}
                if "cad/moves" in rows[-1]:
                    mean = lambda k: statistics.mean(x[k] for x in timed)
                    r.update({"imbalance_packed": mean("cad/imbalance_packed"),
                              "imbalance_planned": mean("cad/imbalance"),
                              "imbalance_measured": mean("cad/imbalance_measured"),
                              "exchange_ms": 1e3 * mean("cad/exchange_s"),
                              "bytes_per_rank_layer":
                                  (rows[-1]["cad/sent_bytes"] - rows[skip - 1]["cad/sent_bytes"])
                                  / len(timed) / layers})
                results[name].append(r)
    out = []
    for name, runs in results.items():
        row = dict(runs[0])
        for k in row:
            if isinstance(row[k], float):
                row[k] = statistics.median(x[k] for x in runs)
        row["runs"] = len(runs)
        out.append(row)
    base = out[0]["step_ms"]
    for row in out:
        row["step_ratio"] = row["step_ms"] / base
    if args.json:
        for row in out:
            print(json.dumps(row))
        return
    print(f"B4 CAD: {os.path.relpath(args.recipe, REPO)} {' '.join(args.set)}, {args.ranks} ranks "
          f"x 1 thread, {args.steps} steps (first {skip} untimed), median of {args.runs} run(s)")
    f = lambda r, k, fmt: "-" if k not in r else fmt.format(r[k])
    print_table(["arm", "tok/s", "step ms", "x packing", "imbalance packed -> planned",
                 "measured", "exchange ms/step", "MB/rank/layer", "last loss"],
                [[r["arm"], f"{r['tokens_per_s']:.0f}", f"{r['step_ms']:.1f}",
                  f"{r['step_ratio']:.2f}",
                  "-" if "imbalance_packed" not in r else
                  f"{r['imbalance_packed']:.2f} -> {r['imbalance_planned']:.2f}",
                  f(r, "imbalance_measured", "{:.2f}"), f(r, "exchange_ms", "{:.1f}"),
                  "-" if "bytes_per_rank_layer" not in r else
                  f"{r['bytes_per_rank_layer'] / 1e6:.2f}", f"{r['loss_last']:.6f}"]
                 for r in out])


def losses(args):
    """Attention-loss overhead: the same brown_tiny training step without a loss, with AEM, with
    ADL fused and (up to T = 4096) ADL materialised, at each T (4096 tokens per step), in
    tokens/s; one process per arm and run, the median of the timed steps. Then the fused ADL's
    memory: one document of T tokens through core attention fwd+bwd with and without ADL on the
    same q, k (attnlab_bench_attention --adl), peak RSS growth and time, to --memory-T."""
    import tempfile
    skip = min(args.warmup, args.steps - 1)
    arms = [("baseline", []), ("AEM 0.1, all layers", ["losses.aem.weight=0.1"]),
            ("ADL 1, fused, all layers", ["losses.adl.weight=1"]),
            ("ADL 1, materialised, all layers",
             ["losses.adl.weight=1", "losses.adl.materialise=true"])]
    out = []
    with tempfile.TemporaryDirectory(prefix="attnlab_bench_losses_") as tmp:
        for T in args.T:
            shape = [f"model.seq_len={T}", f"data.batch_size={max(1, 4096 // T)}",
                     "log.attn_every=0"]
            base = None
            for i, (name, overrides) in enumerate(arms):
                if "losses.adl.materialise=true" in overrides and T > 4096:
                    continue  # refused by the recipe rule: the reference stores T x T
                runs = []
                for r in range(args.runs):
                    rows = run_train(args, 0, os.path.join(tmp, f"T{T}_arm{i}_run{r}"),
                                     shape + overrides, threads=args.threads)
                    runs.append(statistics.median(x["tokens_per_s"] for x in rows[skip:]))
                tok_s = statistics.median(runs)
                base = tok_s if base is None else base
                out.append({"T": T, "arm": name, "tokens_per_s": tok_s,
                            "tokens_per_s_runs": runs, "overhead": 1 - tok_s / base})
    memory = []
    exe = binary(args, "attnlab_bench_attention")
    for T in args.memory_T:
        row = {"T": T}
        for adl in ["none", "fused"]:
            what = f"attention fwd+bwd T={T} adl={adl}"
            cmd = [exe, "--T", str(T), "--mode", "fwdbwd", "--adl", adl, "--heads",
                   str(args.memory_heads), "--threads", str(args.threads), "--warmup", "1",
                   "--iters", "1", "--json"]
            r = run_json(cmd, args.timeout, what)[-1]
            row[f"{adl}_mib"] = field(r, "peak_rss_growth_fwdbwd_mib", what)
            row[f"{adl}_s"] = field(r, "fwdbwd_s_median", what)
        row["adl_mib"] = row["fused_mib"] - row["none_mib"]
        # What the materialising path would hold: one T x T double map (it keeps two).
        row["txt_f64_mib"] = T * T * 8 / 2**20
        memory.append(row)
    if args.json:
        for row in out:
            print(json.dumps(row))
        for row in memory:
            print(json.dumps({"memory": row}))
        return
    print(f"attention-loss overhead: {os.path.relpath(args.recipe, REPO)}, {args.steps} steps "
          f"(first {skip} untimed), {args.threads} threads, 4096 tokens per step, "
          f"{args.runs} run(s)")
    print_table(["T", "arm", "tok/s (runs)", "overhead vs baseline"],
                [[str(r["T"]), r["arm"],
                  f"{r['tokens_per_s']:.0f} ("
                  + ", ".join(f"{x:.0f}" for x in r["tokens_per_s_runs"]) + ")",
                  "-" if r["arm"] == "baseline" else f"{100 * r['overhead']:.1f}%"]
                 for r in out])
    if memory:
        print(f"\nfused ADL memory: one document, {args.memory_heads} heads x 64, core attention "
              f"fwd+bwd with and without ADL (weight 1, mean form), {args.threads} threads")
        print_table(["T", "peak RSS growth MiB: attention", "+ ADL fused", "ADL's own",
                     "ADL's own / T (KiB)", "a T x T f64 map", "time s: attention", "+ ADL"],
                    [[str(r["T"]), f"{r['none_mib']:.1f}", f"{r['fused_mib']:.1f}",
                      f"{r['adl_mib']:.1f}", f"{1024 * r['adl_mib'] / r['T']:.2f}",
                      f"{r['txt_f64_mib']:.0f}", f"{r['none_s']:.2f}", f"{r['fused_s']:.2f}"]
                     for r in memory])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="bench", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                        help="CMake build directory holding tools/bench/ (default: build)")
    common.add_argument("--peer-dir", default=os.path.join(REPO, "..", "shared", "bench"),
                        help="directory of the PyTorch peer scripts (default: ../shared/bench)")
    # Defaults that differ for `gpu` are resolved after parsing: subparsers built from one parent
    # share its actions, so a subparser's set_defaults() would change them for every bench.
    common.add_argument("--peer-python", default=None,
                        help="interpreter with torch for the peer (default: /usr/bin/python3; "
                             "gpu: python3 on PATH)")
    common.add_argument("--threads", type=int, default=2)
    common.add_argument("--runs", type=int, default=None,
                        help="repetitions of every measurement (default 3; gpu: 1)")
    common.add_argument("--timeout", type=int, default=None,
                        help="seconds per process (default 1800; gpu: 3600)")
    common.add_argument("--json", action="store_true", help="one JSON line per table row")
    common.add_argument("--no-peer", action="store_true", help="attnlab only")
    common.add_argument("--quick", action="store_true",
                        help="smoke run: smallest size, 1 run, no peer (attention), tiny (gpt)")
    a = sub.add_parser("attention", parents=[common], help="B2 causal attention core")
    a.add_argument("--T", type=int, nargs="+", default=[512, 1024, 2048, 4096],
                   help="sequence lengths compared with the peer")
    a.add_argument("--alone-T", type=int, nargs="*", default=[8192, 16384],
                   help="sequence lengths run by attnlab alone (the peer's T x T would not fit)")
    g = sub.add_parser("gpt", parents=[common], help="B1 GPT training step")
    g.add_argument("--config", nargs="+", default=["tiny", "small", "gpt2s"],
                   choices=["tiny", "small", "gpt2s"])
    d = sub.add_parser("dp", parents=[common], help="B4 data-parallel scaling over mpirun")
    d.add_argument("--recipe", default=os.path.join(REPO, "recipes", "pretrain",
                                                     "brown_small.textproto"),
                   help="recipe trained by every arm (default: the small Brown config)")
    d.add_argument("--steps", type=int, default=40)
    d.add_argument("--warmup", type=int, default=5, help="first steps left out of the timing")
    d.add_argument("--ranks", type=int, default=2)
    c = sub.add_parser("cad", parents=[common],
                       help="B4 CAD: packing vs CAD (stateful, resend) over mpirun")
    c.add_argument("--recipe", default=os.path.join(REPO, "recipes", "pretrain",
                                                     "brown_longdoc_cad.textproto"))
    c.add_argument("--steps", type=int, default=20)
    c.add_argument("--warmup", type=int, default=3, help="first steps left out of the timing")
    c.add_argument("--ranks", type=int, default=4)
    c.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="recipe override for every arm (repeatable), e.g. data.batch_size=2")
    lo = sub.add_parser("losses", parents=[common],
                        help="attention-loss overhead (AEM, ADL) in tokens/s vs no loss")
    lo.add_argument("--recipe", default=os.path.join(REPO, "recipes", "pretrain",
                                                      "brown_tiny.textproto"))
    lo.add_argument("--T", type=int, nargs="+", default=[1024, 4096])
    lo.add_argument("--steps", type=int, default=6)
    lo.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    lo.add_argument("--memory-T", type=int, nargs="*", default=[4096, 8192, 16384],
                    help="document lengths of the fused ADL memory table (none: skip it)")
    lo.add_argument("--memory-heads", type=int, default=4)
    u = sub.add_parser("gpu", parents=[common],
                       help="B3 gemm / attention / GPT-2 124M on one GPU vs torch_gpu_anchors.py")
    u.add_argument("--what", nargs="+", default=["gemm", "attn", "gpt"],
                   choices=["gemm", "attn", "gpt"])
    u.add_argument("--D", type=int, nargs="+", default=[64, 128], help="attention head dims")
    u.add_argument("--T", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384],
                   help="attention document lengths (16K tokens per batch)")
    u.add_argument("--matmul-precision", default="bf16", choices=["bf16", "tf32", "f32"],
                   help="attnlab GPT matmul precision (the peer: bf16 autocast)")
    u.add_argument("--no-compile", action="store_true",
                   help="skip the peer's torch.compile GPT row (it compiles for minutes)")
    u.add_argument("--attn-target", type=float, default=0.5,
                   help="attention fwd+bwd target at T >= 4K, x the peer (default 0.5)")
    u.add_argument("--gpt-target", type=float, default=1.0,
                   help="GPT-2 tokens/s target, x the peer's eager step (default 1.0)")
    u.add_argument("--dry-run", action="store_true",
                   help="print the commands and check for a GPU; exit 2 without one")
    args = ap.parse_args()
    # gpu: one run of each side by default (the peer's torch.compile takes minutes); on the device
    # machine the interpreter with torch is the plain python3 on PATH.
    gpu_bench = args.bench == "gpu"
    if args.peer_python is None:
        args.peer_python = "python3" if gpu_bench else "/usr/bin/python3"
    if args.runs is None:
        args.runs = 1 if gpu_bench else 3
    if args.timeout is None:
        args.timeout = 3600 if gpu_bench else 1800
    if args.runs < 1 or args.threads < 1:
        ap.error("--runs and --threads must be positive")
    try:
        rc = {"attention": attention, "gpt": gpt, "dp": dp, "cad": cad, "gpu": gpu,
              "losses": losses}[args.bench](args)
    except NoDevice as e:
        print(f"bench.py: no usable GPU, nothing measured: {e}", file=sys.stderr)
        return 2
    except BenchError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
