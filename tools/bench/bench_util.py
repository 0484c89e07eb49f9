"""Helpers shared by the benchmark drivers (bench.py, bench_gpu.py): running a measurement
process and reading its JSON lines, locating binaries and peer scripts, formatting tables."""
import json
import os
import statistics
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class BenchError(Exception):
    pass


def run_json(cmd, timeout, what):
    """Runs cmd and returns the JSON objects among its stdout lines."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BenchError(f"{what}: not found: {cmd[0]}")
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: timed out after {timeout} s: {' '.join(cmd)}")
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        raise BenchError(f"{what}: exit {p.returncode}: {' '.join(cmd)}\n  " + "\n  ".join(tail))
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BenchError(f"{what}: bad JSON line ({e}): {line[:200]}")
    if not rows:
        raise BenchError(f"{what}: no JSON output from {' '.join(cmd)}")
    return rows


def field(row, key, what):
    v = row.get(key)
    if not isinstance(v, (int, float)) or v != v:
        raise BenchError(f"{what}: missing or non-numeric field '{key}' in {json.dumps(row)[:300]}")
    return float(v)


def binary(args, name):
    path = os.path.join(args.build_dir, "tools", "bench", name)
    if not os.access(path, os.X_OK):
        raise BenchError(f"{path}: not built (ninja -C {args.build_dir} {name})")
    return path


def peer_script(args, name):
    path = os.path.join(args.peer_dir, name)
    if not os.path.isfile(path):
        raise BenchError(f"{path}: peer script not found (--peer-dir, or --no-peer)")
    return [args.peer_python, path]


def spread(values):
    """(median, min, max) of per-run figures."""
    return statistics.median(values), min(values), max(values)


def print_table(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


# ----------------------------------------------------------------------------------------------
# attention: B2 causal attention core, H=8, D=64, fp32
