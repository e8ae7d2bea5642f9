"""Speed of pdesurr's pseudo-spectral solvers, measured against the cost of their own FFTs.

Run ``python benchmarks/solvers.py`` (``--device cpu|cuda``, ``--dtype float64|float32``,
``--repeats``, ``--quick`` for a smoke run, ``--json PATH``, ``--cases`` to pick cases). It
prints the device, dtype, torch version and thread count (``torch.get_num_threads()`` as
set), then a Markdown table with, for each case:

* **ms/step**: the median over ``--repeats`` of the time of one block of steps divided by
  the block length, after warm-up (coefficients built, allocator and FFT plans warm). A
  block is one ``Stepper.step(u, n_steps)`` call, i.e. what users call; it adds one
  forward and one inverse FFT of the state and one finiteness check per block, which the
  block length (>= 20 steps, chosen so a block lasts ``~0.25 s``) makes negligible. On
  CUDA the device is synchronised before and after each block.
* **trajectories/s**: batch members x steps/s over the steps one trajectory of the case's
  dataset spec takes at the case's dt (spin-up and every stored frame: ``kolmogorov``,
  ~45,700 steps at 512²; ``ks_refiner``, 99.8 time units; ``qg_two_layer``, 11 years),
  i.e. what generating that dataset costs per trajectory on this device.
* **FFT pair**: the median time of one ``torch.fft.rfftn`` + ``torch.fft.irfftn`` over the
  spatial axes of a tensor of the state's shape ``(B, C, *S)`` (same batch and channels),
  timed the same way (blocks of pairs, median). Step blocks and FFT blocks alternate, so
  both see the same machine speed.
* **ms/step ÷ FFT pair**: ms/step divided by the FFT-pair time.
* **FFT-bound ratio**: ms/step divided by the time the FFTs the method needs would take
  on their own, ``FFT pair x (FFTs per step / C) / 2``; 1.0 means the step costs only its
  FFTs, and the best codes reach 1.0-1.5.

FFTs per step are counted in single-field real FFTs (one 2D field, or one 1D signal per
batch member):

* NS 2D, ETDRK4: 4 stages x (3 inverse (``u``, ``v``, ``omega``) + 2 forward (``u omega``,
  ``v omega``)) = 20; each group is batched into one call.
* KS, ETDRK4: 4 stages x (1 inverse + 1 forward) = 8.
* QG (2 layers), AB3: 1 evaluation x (6 inverse (``u``, ``v``, ``q`` of both layers) + 4
  forward (``(u + U) q``, ``v q`` of both layers)) = 10 layer-FFTs. The state has ``C = 2``
  layers, so an FFT of the state is 2 layer-FFTs and the FFT-bound uses 10 / 2 = 5
  state-FFTs (2.5 pairs).

GPU-sized cases, run by default on CUDA only (on CPU name them with ``--cases``):
``ns512b32`` (the ``kolmogorov`` dataset's 512² grid, batch 32) and ``ks4096`` (KS batch
4096): ``python benchmarks/solvers.py --device cuda --dtype float32``.

Cases: NS 2D is Kochkov et al.'s Kolmogorov flow (``nu = 1e-3``, drag 0.1, ``k_f = 4``,
``dt = 0.5 dx / 7``, batch 1); KS is ``L = 64``, ``dt = 0.05``; QG is pyqg's default model
(``dt = 7200 s``, AB3 with pyqg's Euler/AB2 start, batch 1).

On a shared machine the timings are only as good as its quietness: on CPU the script
reports the share of CPU time other processes used during the run, and names the cases
whose blocks varied by more than 30% (the speed of these virtual machines also drifts
for reasons invisible from inside; the ratio columns hold up better than ms/step).

Other codes are compared in the same run, on the same cores, by ``benchmarks/peers.py``
(figures from another session or machine mean nothing on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pdesurr.solvers import KuramotoSivashinsky, NavierStokes2D, QuasiGeostrophic, Stepper


@dataclass
class Case:
    key: str
    label: str
    integrator: str
    ffts_per_step: int  # single-field FFTs
    ffts_note: str
    build: Callable[[], tuple[Stepper, torch.Tensor]]  # -> stepper, float64 CPU state
    dataset: str  # the dataset spec whose trajectory length prices "trajectories/s"
    gpu: bool = False  # a batch sized for a GPU: run by default on CUDA only


def _ns(resolution: int, batch: int = 1):
    def build():
        # Kolmogorov flow of Kochkov et al. (2021): nu = 1e-3, drag 0.1, k_f = 4, dt from CFL 0.5
        pde = NavierStokes2D(
            resolution, viscosity=1e-3, drag=0.1, forcing="kolmogorov", forcing_wavenumber=4
        )
        dt = 0.5 * (2 * math.pi / resolution) / 7.0
        u0 = pde.initial_condition("random", batch, torch.Generator().manual_seed(0))
        return Stepper(pde, "etdrk4", dt=dt), u0

    return build


def _ks(batch: int):
    def build():
        pde = KuramotoSivashinsky(256, length=64.0)
        u0 = pde.initial_condition("random_sines", batch, torch.Generator().manual_seed(0))
        return Stepper(pde, "etdrk4", dt=0.05), u0

    return build


def _qg(n: int):
    def build():
        pde = QuasiGeostrophic(nx=n)  # pyqg's defaults
        u0 = pde.initial_condition("pyqg_default", 1, torch.Generator().manual_seed(0))
        return Stepper(pde, "ab3", dt=7200.0, startup="euler"), u0

    return build


QG_FFTS = "10 (layer-FFTs; 5 of the 2-layer state)"

NS, KS, QG = "kolmogorov", "ks_refiner", "qg_two_layer"
CASES = [
    Case("ns128", "NS 2D Kolmogorov 128²", "ETDRK4", 20, "20", _ns(128), NS),
    Case("ns256", "NS 2D Kolmogorov 256²", "ETDRK4", 20, "20", _ns(256), NS),
    Case("ks1", "KS N=256, batch 1", "ETDRK4", 8, "8", _ks(1), KS),
    Case("ks64", "KS N=256, batch 64", "ETDRK4", 8, "8", _ks(64), KS),
    Case("qg64", "QG 2-layer 64² (pyqg defaults)", "AB3", 10, QG_FFTS, _qg(64), QG),
    Case("qg128", "QG 2-layer 128² (pyqg defaults)", "AB3", 10, QG_FFTS, _qg(128), QG),
    # batches where a GPU pays off (the kolmogorov dataset's own grid; a KS ensemble)
    Case("ns512b32", "NS 2D Kolmogorov 512², batch 32", "ETDRK4", 20, "20", _ns(512, 32), NS, True),
    Case("ks4096", "KS N=256, batch 4096", "ETDRK4", 8, "8", _ks(4096), KS, True),
]


def trajectory_time(dataset: str) -> float:
    """Simulated time of one trajectory of a dataset spec: spin-up and every stored frame."""
    from pdesurr.data.spec import DatasetSpec

    return DatasetSpec.load(dataset).times()[-1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _calibrate(run_block: Callable[[int], None], device, target_s: float, min_block: int) -> int:
    """A block length (>= ``min_block``) for which a block lasts about ``target_s``; running
    it doubles as warm-up."""
    n = min_block
    while True:
        _sync(device)
        t0 = time.perf_counter()
        run_block(n)
        _sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= target_s / 4 or n >= 1 << 20:
            break
        n *= 2
    return max(min_block, int(math.ceil(n * target_s / max(elapsed, 1e-9))))


def _time_block(run_block: Callable[[int], None], device, n: int) -> float:
    """Seconds per unit of one block of ``n`` units."""
    _sync(device)
    t0 = time.perf_counter()
    run_block(n)
    _sync(device)
    return (time.perf_counter() - t0) / n


def _shrink(n: int, per_unit_s: float, target_s: float, min_block: int) -> int:
    """A shorter block when the last one took over twice the target."""
    if n * per_unit_s > 2 * target_s:
        return max(min_block, int(target_s / per_unit_s))
    return n


def bench_case(case: Case, device, dtype, repeats: int, target_s: float, warmup: int) -> dict:
    """Time the stepper and the FFT pair of its state, interleaved (step block, FFT block,
    step block, ...) so that both see the same machine load."""
    stepper, u0 = case.build()
    u = u0.to(device=device, dtype=dtype)
    u = stepper.step(u, warmup)  # builds the coefficients, warms plans and allocator

    def steps(n):
        stepper.step(u, n)

    x = torch.randn(tuple(u.shape), device=device, dtype=dtype)
    ndim = stepper.pde.grid.ndim
    dims = tuple(range(-ndim, 0))
    spatial = tuple(u.shape[-ndim:])

    def fft_pairs(n):
        for _ in range(n):
            torch.fft.irfftn(torch.fft.rfftn(x, dim=dims), s=spatial, dim=dims)

    n_steps = _calibrate(steps, device, target_s, min_block=20)
    n_pairs = _calibrate(fft_pairs, device, target_s / 2, min_block=20)
    step_s, pair_s = [], []
    for _ in range(repeats):
        step_s.append(_time_block(steps, device, n_steps))
        pair_s.append(_time_block(fft_pairs, device, n_pairs))
        # keep the run time bounded if the machine gets busy after calibration
        n_steps = _shrink(n_steps, step_s[-1], target_s, 20)
        n_pairs = _shrink(n_pairs, pair_s[-1], target_s / 2, 20)
    channels, batch = u.shape[1], u.shape[0]
    ms = statistics.median(step_s) * 1e3
    # trajectories of the case's dataset per second: batch members x steps/s over the steps
    # one trajectory takes at this case's dt
    steps_per_trajectory = trajectory_time(case.dataset) / stepper.dt
    pair_ms = statistics.median(pair_s) * 1e3
    fft_only_ms = pair_ms * (case.ffts_per_step / channels) / 2
    return {
        "key": case.key,
        "case": case.label,
        "integrator": case.integrator,
        "state_shape": list(u.shape),
        "ffts_per_step": case.ffts_per_step,
        "ffts_note": case.ffts_note,
        "ms_per_step": ms,
        "ms_per_step_all": [t * 1e3 for t in step_s],
        "steps_per_block": n_steps,
        "steps_per_s": 1e3 / ms,
        "batch": batch,
        "dataset": case.dataset,
        "steps_per_trajectory": steps_per_trajectory,
        "trajectories_per_s": batch * 1e3 / ms / steps_per_trajectory,
        "fft_pair_ms": pair_ms,
        "fft_pair_ms_all": [t * 1e3 for t in pair_s],
        "fft_pairs_per_block": n_pairs,
        "ratio_to_fft_pair": ms / pair_ms,
        "fft_only_ms_per_step": fft_only_ms,
        "fft_bound_ratio": ms / fft_only_ms,
    }


def _fmt(x: float) -> str:
    """Three significant digits, trailing zeros kept (``4.00``, ``0.0918``, ``123``)."""
    return f"{x:#.3g}" if x < 100 else f"{x:.0f}"


def markdown(rows: list[dict]) -> str:
    head = (
        "| case | integrator | FFTs per step | ms/step | steps/s | trajectories/s (steps each) "
        "| FFT pair (ms) | ms/step ÷ FFT pair | FFT-bound ratio |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['integrator']} | {r['ffts_note']} | {_fmt(r['ms_per_step'])} "
            f"| {r['steps_per_s']:.0f} | {_fmt(r['trajectories_per_s'])} "
            f"({r['steps_per_trajectory']:.0f}, {r['dataset']}) | {_fmt(r['fft_pair_ms'])} "
            f"| {r['ratio_to_fft_pair']:.1f} | {r['fft_bound_ratio']:.2f} |"
        )
    return "\n".join(lines)


def _cpu_name() -> str:
    from pdesurr.spectral.fft import cpuinfo

    return cpuinfo("model name") or platform.processor() or platform.machine()


def _cpu_busy_s() -> float | None:
    """Seconds of CPU time the whole machine has spent busy (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def environment(device: torch.device, dtype: torch.dtype) -> dict:
    env = {
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
        ),
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if hasattr(os, "getloadavg"):
        env["load_average_1min_before"] = round(os.getloadavg()[0], 2)
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed blocks per case (7; --quick: 3)"
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers are rough)")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    parser.add_argument("--cases", nargs="+", choices=[c.key for c in CASES], help="run only these")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    target_s = 0.02 if args.quick else 0.25
    warmup = 3 if args.quick else 20

    env = environment(device, dtype)
    load = env.get("load_average_1min_before")
    print(
        f"device: {env['device']} ({env['device_name']}), dtype: {env['dtype']}, "
        f"torch {env['torch']}, threads: {env['threads']} (of {env['cpus']} CPUs)"
        + (f", 1-min load average before: {load}" if load is not None else "")
    )
    print(
        f"ms/step: median of {repeats} blocks of steps (Stepper.step(u, n)), after warm-up"
        + ("; --quick: rough" if args.quick else "")
    )
    print()

    rows = []
    t_start = time.perf_counter()
    busy_start, own_start = _cpu_busy_s(), time.process_time()
    for case in CASES:
        if args.cases and case.key not in args.cases:
            continue
        if not args.cases and case.gpu and device.type != "cuda":
            continue  # GPU-sized batches: on CPU only when named with --cases
        print(f"  timing {case.label} ...", file=sys.stderr, flush=True)
        rows.append(bench_case(case, device, dtype, repeats, target_s, warmup))
    print(markdown(rows))
    print()
    print(
        "FFT pair: rfftn + irfftn of a tensor of the state's shape (batch and channels). "
        "FFT-bound ratio = ms/step ÷ (FFT pair × FFTs per step / channels / 2); 1.0 = only FFTs.\n"
        "Other codes, in the same run: python benchmarks/peers.py"
    )
    unsteady = [
        r["key"] for r in rows if max(r["ms_per_step_all"]) > 1.3 * min(r["ms_per_step_all"])
    ]
    if unsteady:
        print(
            f"Unsteady machine speed (slowest block > 1.3 × fastest) in: {', '.join(unsteady)}; "
            "the ratio columns hold up better, as step and FFT blocks are interleaved."
        )
    wall = time.perf_counter() - t_start
    busy_end, own_end = _cpu_busy_s(), time.process_time()
    if busy_start is not None and busy_end is not None and device.type == "cpu":
        other = max(0.0, (busy_end - busy_start) - (own_end - own_start))
        share = other / (wall * (os.cpu_count() or 1))
        env["other_processes_cpu_share"] = round(share, 3)
        warn = " (over 5%: timings are likely inflated; rerun on a quiet machine)"
        print(
            f"Other processes used {100 * share:.0f}% of the machine's CPU time during this "
            f"run{warn if share > 0.05 else ''}."
        )
    env["total_s"] = round(wall, 1)
    print(f"total {env['total_s']} s", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            out = {"environment": env, "repeats": repeats, "quick": args.quick, "results": rows}
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
