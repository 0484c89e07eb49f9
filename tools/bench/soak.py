#!/usr/bin/env python3
"""Soak benchmark: trains a recipe for a fixed wall time, sampling the trainer's resident memory
and reading its step times, and reports whether both stay flat after warm-up (issue 25).

  tools/bench/soak.py                                   # brown_tiny for 2 hours (the full form)
  tools/bench/soak.py --minutes 5 --sample-s 5          # a quick look

The run trains with train.steps raised so it never ends by itself; at the deadline it gets
SIGINT, which finishes the step, writes a checkpoint and exits 0 (that is checked too). Output:
a table of RSS and tokens/s over time, the RSS slope after warm-up (least squares, MiB/hour),
and RUN_DIR/soak.json + soak_samples.csv. Standard library only; Linux (/proc).
"""
import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        return None
    return None


def slope_per_hour(ts, ys):
    """Least-squares slope of ys over ts (seconds), per hour."""
    if len(ts) < 2:
        return 0.0
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else 3600.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--recipe", default="recipes/pretrain/brown_tiny.textproto")
    ap.add_argument("--minutes", type=float, default=120.0, help="wall time to train (default 120)")
    ap.add_argument("--sample-s", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--warmup-frac", type=float, default=0.1,
                    help="share of the run left out of the slope (allocator warm-up)")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--run-dir", default="/tmp/attnlab_soak")
    ap.add_argument("--threads", type=int, default=0, help="trainer threads (0: all cores)")
    a = ap.parse_args()
    if a.minutes <= 0 or a.sample_s <= 0 or not 0 <= a.warmup_frac < 1:
        ap.error("--minutes and --sample-s must be positive, --warmup-frac in [0, 1)")
    binary = os.path.join(a.build_dir, "tools", "attnlab")
    if not os.access(binary, os.X_OK):
        sys.exit(f"soak: {binary} not found: build first (cmake --build {a.build_dir})")
    if os.path.exists(a.run_dir):
        sys.exit(f"soak: {a.run_dir} exists; remove it or pass another --run-dir")
    cmd = [binary, "train", a.recipe, "--quiet", "--run-dir", a.run_dir,
           "--set", "train.steps=100000000"]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    samples = []  # (seconds since start, RSS MiB)
    deadline = start + 60.0 * a.minutes
    while proc.poll() is None and time.monotonic() < deadline:
        r = rss_mib(proc.pid)
        if r is not None:
            samples.append((time.monotonic() - start, r))
        time.sleep(min(a.sample_s, max(0.0, deadline - time.monotonic())))
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # finish the step, checkpoint, exit 0
    code = proc.wait()
    if code != 0:
        sys.exit(f"soak: attnlab train exited {code} (see above)")

    rows = []
    with open(os.path.join(a.run_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if "tokens_per_s" in row and row.get("step", 0) > 1:
                rows.append(row)
    cut = a.warmup_frac * (samples[-1][0] if samples else 0)
    steady = [(t, r) for t, r in samples if t >= cut]
    slope = slope_per_hour([t for t, _ in steady], [r for _, r in steady])
    tok = [r["tokens_per_s"] for r in rows]
    tenth = max(1, len(tok) // 10)
    first, last = statistics.fmean(tok[tenth:2 * tenth] or tok), statistics.fmean(tok[-tenth:])
    summary = {
        "recipe": a.recipe, "minutes": (samples[-1][0] / 60.0 if samples else 0.0),
        "steps": rows[-1]["step"] if rows else 0, "samples": len(samples),
        "rss_mib_after_warmup": steady[0][1] if steady else None,
        "rss_mib_final": samples[-1][1] if samples else None,
        "rss_mib_max": max(r for _, r in samples) if samples else None,
        "rss_slope_mib_per_hour": slope,
        "tokens_per_s_early": first, "tokens_per_s_late": last,
        "tokens_per_s_ratio_late_early": last / first if first else None,
    }
    with open(os.path.join(a.run_dir, "soak_samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "rss_mib"])
        w.writerows((f"{t:.1f}", f"{r:.1f}") for t, r in samples)
    with open(os.path.join(a.run_dir, "soak.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"{'minute':>7} {'RSS MiB':>9}")
    every = max(1, len(samples) // 12)
    for t, r in samples[::every]:
        print(f"{t / 60:7.1f} {r:9.1f}")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
