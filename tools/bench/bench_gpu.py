"""B3: attnlab's GPU rows (attnlab_bench_gpu) beside ../shared/bench/torch_gpu_anchors.py on
the same machine, one table with ratios; `bench.py gpu` calls run()."""
import json
import statistics
import subprocess
import sys

from bench_util import BenchError, binary, field, peer_script, print_table

class NoDevice(Exception):
    """No usable GPU for one of the two sides: nothing was measured (exit code 2)."""


def run_rows(cmd, timeout, what, ok_codes=(0,)):
    """Runs cmd; returns (exit code, JSON rows of stdout, problem or None). Rows printed before a
    failure or a timeout are kept: the GPU runs are long and one bad row should not hide the
    others."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except FileNotFoundError:
        raise BenchError(f"{what}: not found: {cmd[0]}")
    except subprocess.TimeoutExpired as e:
        dec = lambda b: b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        rc, out, err = None, dec(e.stdout), dec(e.stderr)
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a torch warning glued to a line; the row is reported missing instead
    tail = " | ".join((err or "").strip().splitlines()[-5:]) or "no stderr (see rows' errors)"
    if rc is None:
        return rc, rows, f"{what}: timed out after {timeout} s ({' '.join(cmd)}); {tail}"
    if rc not in ok_codes:
        return rc, rows, f"{what}: exit {rc} ({' '.join(cmd)}): {tail}"
    return rc, rows, None


def gpu_preflight(args, exe):
    """Reasons why either side cannot use a GPU here (empty: both can)."""
    why = []
    p = subprocess.run([exe, "--check"], capture_output=True, text=True, timeout=300)
    if p.returncode == 2:
        why.append("attnlab: " + (p.stderr.strip().splitlines() or ["no CUDA device"])[-1])
    elif p.returncode != 0:
        raise BenchError(f"{exe} --check: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    if not args.no_peer:
        probe = ("import torch, sys; ok = torch.cuda.is_available(); "
                 "print('torch', torch.__version__, 'cuda available:', ok); "
                 "sys.exit(0 if ok else 2)")
        try:
            q = subprocess.run([args.peer_python, "-c", probe], capture_output=True, text=True,
                               timeout=300)
            if q.returncode != 0:
                last = (q.stdout.strip() or q.stderr.strip() or "?").splitlines()[-1]
                why.append(f"peer ({args.peer_python}): {last}")
        except FileNotFoundError:
            why.append(f"peer: interpreter not found: {args.peer_python}")
    return why


def gpu_commands(args):
    ours = [binary(args, "attnlab_bench_gpu"), "--what"] + [w for w in args.what]
    ours += ["--D"] + [str(d) for d in args.D] + ["--T"] + [str(t) for t in args.T]
    ours += ["--matmul-precision", args.matmul_precision]
    peer = None
    if not args.no_peer:
        what = [w for w in args.what if w != "gpt"]
        if "gpt" in args.what:
            what += ["gpt"] + ([] if args.no_compile else ["gptc"])
        peer = peer_script(args, "torch_gpu_anchors.py") + what
    return ours, peer


def gpu_key(row, side):
    """Row identity shared by both sides, or None for rows without a counterpart."""
    k = row.get("kind")
    if k == "gemm":
        return ("gemm", row.get("dtype"))
    if k == "attn":
        want = "attnlab-core-attention" if side == "attnlab" else "torch-sdpa-flash"
        if row.get("backend") != want:
            return None  # the peer's explicit-fp32 row has no attnlab twin
        return ("attn", int(row["D"]), int(row["T"]))
    if k == "gpt":
        return ("gpt", "compile" if row.get("compile") else "eager")
    return None


def gpu_collect(rows_by_run, side):
    """{key: [row of each run]}; rows with an error are kept (they carry the reason)."""
    out = {}
    for rows in rows_by_run:
        for r in rows:
            key = gpu_key(r, side)
            if key is not None:
                out.setdefault(key, []).append(r)
    return out


def gpu_metric(rows, name):
    """Median over runs of a numeric field; None when absent (error rows, missing runs)."""
    vals = [r[name] for r in rows or [] if isinstance(r.get(name), (int, float))]
    return statistics.median(vals) if vals else None


def gpu_error(rows):
    errs = [r["error"] for r in rows or [] if r.get("error")]
    return errs[0] if errs else None


def gpu(args):
    exe = binary(args, "attnlab_bench_gpu")
    ours_cmd, peer_cmd = gpu_commands(args)
    if args.dry_run:
        print("would run (one after the other, on this machine):")
        print("  " + " ".join(ours_cmd))
        print("  " + (" ".join(peer_cmd) if peer_cmd else "(no peer)"))
    why = gpu_preflight(args, exe)
    if why:
        raise NoDevice("; ".join(why))
    if args.dry_run:
        print("GPU found for both sides; --dry-run: nothing measured")
        return 0

    problems, ours_runs, peer_runs, infos = [], [], [], []
    for r in range(args.runs):
        # Exit 1 = some row failed; its line says why and the other rows are kept.
        rc, rows, prob = run_rows(ours_cmd, args.timeout, f"attnlab_bench_gpu run {r + 1}")
        if rc == 2:
            raise NoDevice("attnlab: " + prob)
        if prob:
            problems.append(prob)
        ours_runs.append(rows)
        infos += [dict(x, source="attnlab") for x in rows if x.get("kind") == "info"]
        if peer_cmd:
            rc, rows, prob = run_rows(peer_cmd, args.timeout, f"peer run {r + 1}")
            if prob:
                problems.append(prob)
            peer_runs.append(rows)
            infos += [dict(x, source="peer") for x in rows if x.get("kind") == "info"]
    ours, peer = gpu_collect(ours_runs, "attnlab"), gpu_collect(peer_runs, "peer")

    table = []

    def add(name, unit, key, field, pkey=None, pfield=None, higher=True, target=None,
            final=None):
        """One comparison; target / final: minimum (higher=True) or maximum ratio, or None."""
        a, p = gpu_metric(ours.get(key), field), gpu_metric(peer.get(pkey or key), pfield or field)
        err = gpu_error(ours.get(key))
        ratio = a / p if a is not None and p else None

        def verdict(t):
            if t is None:
                return None
            if err or (key not in ours):
                return "ERROR" if err else "MISSING"
            if ratio is None:
                return "NO PEER"
            return "PASS" if (ratio >= t if higher else ratio <= t) else "MISS"

        cmp = ">=" if higher else "<="
        table.append({"measurement": name, "unit": unit, "attnlab": a, "peer": p,
                      "ratio_attnlab_over_peer": ratio,
                      "target": None if target is None else f"{cmp}{target}x",
                      "status": verdict(target),
                      "b3_final_target": None if final is None else f"{cmp}{final}x",
                      "b3_final_status": verdict(final), "error": err})

    if "gemm" in args.what:
        for dt in ("bf16", "tf32", "fp32"):
            add(f"gemm {dt} n=8192", "TFLOP/s", ("gemm", dt), "tflops_med")
    if "attn" in args.what:
        for D in args.D:
            for T in args.T:
                add(f"attn fwd D={D} T={T}", "TFLOP/s", ("attn", D, T), "fwd_tflops")
                big = T >= 4096
                add(f"attn fwd+bwd D={D} T={T}", "TFLOP/s", ("attn", D, T), "fwdbwd_tflops",
                    target=args.attn_target if big else None, final=0.8 if big else None)
    if "gpt" in args.what:
        add("gpt2-124M step vs eager", "tok/s", ("gpt", "eager"), "tokens_per_s",
            target=args.gpt_target)
        if not args.no_compile:
            add("gpt2-124M step vs torch.compile", "tok/s", ("gpt", "eager"), "tokens_per_s",
                pkey=("gpt", "compile"), final=1.0)
        # BENCH.md quotes the peer's torch.compile peak; eager is compared when compile is off.
        add("gpt2-124M peak memory", "MiB", ("gpt", "eager"), "peak_mem_mib",
            pkey=("gpt", "eager" if args.no_compile else "compile"), higher=False, final=1.0)

    if args.json:
        for i in infos:
            print(json.dumps(i))
        for row in table:
            print(json.dumps(row))
    else:
        ai = next((i for i in infos if i["source"] == "attnlab"), {})
        pi = next((i for i in infos if i["source"] == "peer"), {})
        g = next(iter(ours.get(("gpt", "eager"), [])), {})
        print(f"B3 GPU, {args.runs} run(s) each side, medians over runs. attnlab on "
              f"{ai.get('device', '?')}: attention f32, GPT matmuls "
              f"{g.get('matmul_precision', args.matmul_precision)} (attention and params f32), "
              f"vocab {g.get('vocab', '?')}; peer: torch {pi.get('torch', '-')} on "
              f"{pi.get('gpu', '-')}, bf16 (attention, autocast), vocab 50304")

        def num(v):
            return "-" if v is None else (f"{v:.1f}" if abs(v) < 1000 else f"{v:,.0f}")

        print_table(
            ["measurement", "unit", "attnlab", "peer", "attnlab/peer", "target", "status",
             "B3 final", "status"],
            [[r["measurement"], r["unit"], "ERROR" if r["error"] else num(r["attnlab"]),
              num(r["peer"]),
              "-" if r["ratio_attnlab_over_peer"] is None
              else f"{r['ratio_attnlab_over_peer']:.2f}x",
              r["target"] or "-", r["status"] or "-", r["b3_final_target"] or "-",
              r["b3_final_status"] or "-"] for r in table])
        print(f"target: this stage's (attention fwd+bwd >= {args.attn_target}x SDPA flash at "
              f"T >= 4K, GPT-2 >= {args.gpt_target}x eager); B3 final: BENCH.md (0.8x, 1.0x "
              "torch.compile, memory <= peer). attnlab/peer = throughput ratio (memory: "
              "attnlab MiB / peer MiB).")
        for r in table:
            if r["error"]:
                print(f"error in '{r['measurement']}': {r['error']}")
    for p in problems:
        print(f"bench.py: {p}", file=sys.stderr)
    return 1 if problems else 0
