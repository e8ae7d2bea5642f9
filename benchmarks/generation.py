"""Dataset generation throughput with 1 and 2 MPI ranks, and writing vs solving time.

    python benchmarks/generation.py [--spec kolmogorov/small] [--format zarr] [--ranks 1 2]

Runs ``pdesurr generate`` (under ``mpiexec -n N`` for N > 1) into a temporary store and
prints trajectories per second, the speed-up over 1 rank, and the share of rank time spent
writing relative to solving (target: under 10%).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(spec: str, ranks: int, fmt: str, sets: list[str]) -> dict:
    out = Path(tempfile.mkdtemp()) / f"bench.{fmt}"
    report = out.with_suffix(".json")
    cmd = [
        sys.executable,
        "-m",
        "pdesurr",
        "generate",
        spec,
        "--out",
        str(out),
        "--format",
        fmt,
        "--report",
        str(report),
        "--quiet",
    ]
    for s in sets:
        cmd += ["--set", s]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
        cmd = [mpiexec, "-n", str(ranks), *cmd]
    subprocess.run(cmd, check=True)
    result = json.loads(report.read_text())
    shutil.rmtree(out.parent)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="kolmogorov/small")
    p.add_argument("--format", default="zarr", choices=["zarr", "h5"])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--set", action="append", default=["splits.train=16", "splits.valid=0", "splits.test=0"]
    )
    args = p.parse_args()
    rows = []
    for n in args.ranks:
        r = run(args.spec, n, args.format, args.set)
        rows.append((n, r))
    base = rows[0][1]["trajectories_per_second"]
    print(f"\nspec {args.spec} ({', '.join(args.set)}), format {args.format}\n")
    print("| ranks | trajectories | wall s | traj/s | speed-up | write / solve |")
    print("|---|---|---|---|---|---|")
    for n, r in rows:
        share = r["write_seconds"] / r["solve_seconds"] if r["solve_seconds"] else float("nan")
        print(
            f"| {n} | {r['trajectories']} | {r['wall_seconds']:.2f} | "
            f"{r['trajectories_per_second']:.2f} | {r['trajectories_per_second'] / base:.2f} | "
            f"{100 * share:.1f}% |"
        )


if __name__ == "__main__":
    main()
