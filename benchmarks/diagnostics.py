"""Micro-measurements behind the README's explanations of the speed targets that are missed.

    python benchmarks/diagnostics.py [--parts fft ns-profile memcpy ks-numpy recv-cache engines
                                      fft-backends fused]

Each part prints medians of interleaved repeats, in one process, on the cores it is given
(run under ``taskset -c 0`` with ``OMP_NUM_THREADS=1`` for the one-core figures):

* ``fft``: torch's 2D real transforms of three 256² fields (NS's u, v, ω) and two (its
  fluxes): the inverse against the forward, one call against one call per field
  (``out=``), on the layout the NS solver writes (``fft.inverse_workspace``), and ducc0's
  inverse when it is installed. Why NS 256² float64 stayed near 1 before that layout.
* ``ns-profile``: torch.profiler's shares of an NS 256² float64 ETDRK4 torch step (with
  torch FFTs the copies ``torch.fft.irfftn`` makes of its input show as ``aten::copy_``;
  with ducc0's, under the ``"auto"`` backend on AMD, the transforms are not torch
  operations), and the time its torch operations take per step: the element-wise work
  the fused NS engine removes.
* ``memcpy``: a 1 MiB copy (a bundle of 15 samples of 128²) with 1, 6 and 64 buffers in
  rotation, i.e. hot and cold data. Why the 128² stream cannot reach half the bare loop.
* ``ks-numpy``: the KS ETDRK4 step for N = 256, batch 1, written in NumPy with the same
  coefficients as pdesurr's (Kassam & Trefethen contour means). Why no non-compiled
  array library meets exponax's 23 µs step.
* ``recv-cache``: the trainer's per-bundle Python for a 63-sample bundle of 128² (header
  read, event split, views and samples: ``read_bundle``, ``split_events``,
  ``lend_samples``) on a warm cache, and right after 4 MiB of fresh data were copied into
  the receive buffer, as MPI's copy of each bundle does. Why the 128² stream's receive
  work costs more per sample than the same calls in isolation.
* ``engines``: the KS ETDRK4 step (N = 256, L = 64, dt = 0.05) of the eager torch step
  against the compiled loop (``Stepper(..., engine="torch" | "numba")``,
  :mod:`pdesurr.solvers.integrators.compiled`) for batches 1 to 128, float64 and float32.
* ``fft-backends``: solver steps with the grid's FFT backend ``"torch"`` against
  ``"ducc0"`` (NS 2D 128² and 256² in float64 and float32, QG 64² and 128², KS N = 256
  batch 64 through the torch step), and what ``"auto"`` picks on this CPU
  (:func:`pdesurr.spectral.fft.resolve`).
* ``fused``: the torch step against the fused 2D engines (NS 2D ETDRK4,
  :mod:`~pdesurr.solvers.integrators.compiled_vorticity`; QG AB3,
  :mod:`~pdesurr.solvers.integrators.compiled_layers`), 128²/256² and 64²/128², float64
  and float32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from pdesurr.allocator import prime_allocator


def median_us(cases: dict, calls: int, rounds: int = 7) -> dict:
    """Median µs per call of each case, the cases interleaved round by round."""
    times: dict = {name: [] for name in cases}
    for r in range(rounds):
        order = list(cases.items()) if r % 2 == 0 else list(cases.items())[::-1]
        for name, fn in order:
            fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t0) / calls * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def fft_part() -> None:
    for dtype in (torch.complex128, torch.complex64):
        res = median_us(fft_cases(dtype), 50)
        line = ", ".join(f"{k} {v:.0f} µs" for k, v in res.items())
        print(f"fft, three 256² fields, {dtype}: {line}")


def fft_cases(dtype: torch.dtype) -> dict:
    n, s = 256, (256, 256)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    x = torch.randn(1, 3, n, n // 2 + 1, dtype=dtype)
    r = torch.randn(1, 3, n, n, dtype=real)
    out = torch.empty(1, 3, n, n, dtype=real)

    def per_field():
        for i in range(3):
            torch.fft.irfftn(x[:, i], s=s, dim=(-2, -1), out=out[:, i])

    from pdesurr.spectral import fft

    work = fft.inverse_workspace(x.shape, dtype, "cpu")  # what the NS solver transforms
    work.copy_(x)
    cases = {
        "inverse, one call": lambda: torch.fft.irfftn(x, s=s, dim=(-2, -1)),
        "inverse, a call per field": per_field,
        "inverse, one call on the ky-contiguous workspace": lambda: fft.irfftn(work, s),
        "forward, one call": lambda: torch.fft.rfftn(r, dim=(-2, -1)),
    }

    try:
        fft.check_backend("ducc0")
        cases["inverse, ducc0"] = lambda: fft.irfftn(x, s, "ducc0")
    except ValueError:  # ducc0 not installed
        pass
    return cases


def ns_profile_part() -> None:
    from torch.profiler import ProfilerActivity, profile

    from pdesurr.solvers import NavierStokes2D, Stepper

    pde = NavierStokes2D(256, viscosity=1e-3, drag=0.1)
    stepper = Stepper(pde, "etdrk4", dt=0.5 * (2 * np.pi / 256) / 7.0, engine="torch")
    u = stepper.step(torch.randn(1, 1, 256, 256, dtype=torch.float64), 20)
    t0 = time.perf_counter()
    stepper.step(u, 50)
    step_ms = (time.perf_counter() - t0) / 50 * 1e3
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        stepper.step(u, 50)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:5]
    line = ", ".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f} %" for e in top)
    print(f"NS 256² float64 ETDRK4 torch step, 50 steps, shares of its torch operations: {line}")
    # the FFTs (ducc0 under the "auto" backend) are not torch operations: the rest of a step
    print(f"torch operations {total / 50 / 1e3:.2f} ms of a {step_ms:.2f} ms step (unprofiled)")


def memcpy_part() -> None:
    nbytes = 1 << 20
    cases = {}
    for buffers in (1, 6, 64):
        src = [np.ones(nbytes, np.uint8) for _ in range(buffers)]
        dst = [np.empty(nbytes, np.uint8) for _ in range(buffers)]
        state = {"i": 0}

        def copy(src=src, dst=dst, state=state, buffers=buffers):
            i = state["i"] = (state["i"] + 1) % buffers
            np.copyto(dst[i], src[i])

        cases[f"{buffers} buffer(s)"] = copy
    res = median_us(cases, 500)
    line = ", ".join(f"{k} {v:.0f} µs ({nbytes / v / 1e3:.1f} GB/s)" for k, v in res.items())
    print(f"memcpy of 1 MiB: {line}")


def ks_numpy_part() -> None:
    n, length, dt, contour = 256, 64.0, 0.05, 32
    k = 2 * np.pi * np.fft.rfftfreq(n, d=length / n)
    lin = k**2 - k**4
    e, e2 = np.exp(dt * lin), np.exp(dt * lin / 2)
    roots = np.exp(1j * np.pi * (np.arange(1, contour + 1) - 0.5) / contour)
    z = dt * lin[:, None] + roots[None, :]

    def mean(f):
        return dt * np.real(np.mean(f(z), axis=1))

    q = mean(lambda w: (np.exp(w / 2) - 1) / w)
    f1 = mean(lambda w: (-4 - w + np.exp(w) * (4 - 3 * w + w**2)) / w**3)
    f2 = mean(lambda w: (2 + w + np.exp(w) * (-2 + w)) / w**3)
    f3 = mean(lambda w: (-4 - 3 * w - w**2 + np.exp(w) * (4 - w)) / w**3)
    g = -0.5j * k  # u u_x = (u^2 / 2)_x
    qg, f1g, f2g, f3g = q * g, f1 * g, 2 * f2 * g, f3 * g
    irfft, rfft = np.fft.irfft, np.fft.rfft

    def step(v):
        nv = rfft(irfft(v, n) ** 2)
        a = e2 * v + qg * nv
        na = rfft(irfft(a, n) ** 2)
        b = e2 * v + qg * na
        nb = rfft(irfft(b, n) ** 2)
        c = e2 * a + qg * (2 * nb - nv)
        nc = rfft(irfft(c, n) ** 2)
        return e * v + nv * f1g + (na + nb) * f2g + nc * f3g

    x = np.linspace(0, length, n, endpoint=False)
    state = {"v": rfft(np.cos(2 * np.pi * x / length) * (1 + np.sin(2 * np.pi * x / length)))}

    def advance():
        state["v"] = step(state["v"])

    res = median_us({"step": advance}, 2000)
    print(f"KS N = 256 batch 1, ETDRK4 in NumPy (numpy.fft): {res['step']:.1f} µs per step")


def recv_cache_part() -> None:
    from pdesurr.stream.bundle import DONE, BundleWriter, max_bytes, read_bundle, split_events
    from pdesurr.stream.bundled import lend_samples
    from pdesurr.stream.recvpool import ReceivePool

    n, floats, shape = 63, 2 + 128 * 128, (1, 128, 128)
    writer = BundleWriter(n, floats, 2)
    for i in range(n):  # a batch-4 producer's stream: a "done" per 17 samples
        writer.sample(i // 17, i, torch.tensor([0.5, 32.0]), torch.randn(shape))
        if i % 17 == 16:
            writer.event(DONE, i // 17)
    msg = writer.finish().copy()
    pool = ReceivePool(max_bytes(n, floats), 4)
    buf = pool.take()
    fresh = [np.random.default_rng(k).integers(0, 255, len(msg), np.uint8) for k in range(4)]
    state = {"k": 0}

    def handle():
        frames, _, events = read_bundle(buf, len(msg), floats, 2)
        sampled, _ = split_events(events, len(frames))
        return lend_samples(pool, buf, sampled, floats, 2, shape)

    def warm():
        handle()

    def after_copy():
        state["k"] = (state["k"] + 1) % len(fresh)
        np.copyto(buf[: len(msg)], fresh[state["k"]])  # MPI's copy of the next bundle
        buf[: len(msg)] = msg  # (the same bytes again, so the bundle parses)
        t0 = time.perf_counter()
        handle()
        state["t"].append(time.perf_counter() - t0)

    buf[: len(msg)] = msg
    for _ in range(3):
        state["t"] = []
        res = median_us({"warm": warm}, 500)
        for _ in range(200):
            after_copy()
        cold = statistics.median(state["t"]) * 1e6
        print(
            f"receive handling of a 63-sample 128² bundle: warm {res['warm']:.0f} µs, "
            f"after 2 x 4 MiB copied through the cache {cold:.0f} µs"
        )


def engines_part() -> None:
    from pdesurr.solvers import KuramotoSivashinsky, Stepper

    pde = KuramotoSivashinsky(256, length=64.0)
    print("KS N = 256 ETDRK4 µs/step, torch step vs compiled loop")
    print("| dtype | batch | torch | compiled | compiled / torch |\n|---|---|---|---|---|")
    for dtype in (torch.float64, torch.float32):
        for batch in (1, 4, 8, 16, 32, 64, 128):
            u = pde.initial_condition("random_sines", batch, torch.Generator().manual_seed(0))
            u = u.to(dtype)
            steppers = {e: Stepper(pde, "etdrk4", 0.05, engine=e) for e in ("torch", "numba")}
            steps = max(10, 2000 // batch)
            for s in steppers.values():
                s.step(u, 5)  # coefficients, compilation (or its disk cache)
            cases = {e: (lambda s=s, u=u, n=steps: s.step(u, n)) for e, s in steppers.items()}
            res = median_us(cases, 1, rounds=7)
            t, c = res["torch"] / steps, res["numba"] / steps
            print(f"| {str(dtype)[6:]} | {batch} | {t:.1f} | {c:.1f} | {c / t:.2f} |", flush=True)


def _case_stepper(case: str, engine: str = "torch"):
    """The solver of a benchmark case (``ns128``, ``qg64``, ``ks64``...), its stepper under
    ``engine`` and an initial state."""
    from pdesurr.solvers import KuramotoSivashinsky, NavierStokes2D, QuasiGeostrophic, Stepper

    gen = torch.Generator().manual_seed(0)
    if case.startswith("ns"):
        n = int(case[2:])
        pde = NavierStokes2D(n, viscosity=1e-3, drag=0.1)
        stepper = Stepper(pde, "etdrk4", 0.5 * (2 * np.pi / n) / 7, engine=engine)
        u = pde.initial_condition("random", 1, gen)
    elif case.startswith("qg"):
        pde = QuasiGeostrophic(nx=int(case[2:]))
        stepper = Stepper(pde, "ab3", dt=7200.0, startup="euler", engine=engine)
        u = pde.initial_condition("pyqg_default", 1, gen)
    else:
        pde = KuramotoSivashinsky(256, length=64.0)
        stepper = Stepper(pde, "etdrk4", dt=0.05, engine="torch")
        u = pde.initial_condition("random_sines", 64, gen)
    return pde, stepper, u


def _backend_steppers(case: str, dtype):
    """The torch step of ``case`` with the grid's FFT backend ``"torch"`` and ``"ducc0"``."""
    import dataclasses

    from pdesurr.solvers import Stepper

    pde, stepper, u = _case_stepper(case)
    out = {}
    for backend in ("torch", "ducc0"):
        pde.grid = dataclasses.replace(pde.grid, fft_backend=backend)
        s = Stepper(
            pde,
            stepper.integrator_cls,
            stepper.dt,
            engine=stepper.engine,
            **stepper.integrator_options,
        )
        out[backend] = (s, s.step(u.to(dtype), 5))
    return out, pde.grid.ndim


def fft_backends_part() -> None:
    from pdesurr.spectral import fft

    try:
        fft.check_backend("ducc0")
    except ValueError as e:
        print(f"fft-backends: {e}")
        return
    print(f"CPU vendor {fft.cpu_vendor() or 'unknown'}; ms per step, interleaved medians")
    print("| case | dtype | torch FFT | ducc0 FFT | ducc0 / torch | auto picks |")
    print("|---|---|---|---|---|---|")
    cases = [
        ("ns128", torch.float64),
        ("ns128", torch.float32),
        ("ns256", torch.float64),
        ("ns256", torch.float32),
        ("qg64", torch.float64),
        ("qg128", torch.float64),
        ("ks64", torch.float64),
        ("ks64", torch.float32),
    ]
    for case, dtype in cases:
        steppers, ndim = _backend_steppers(case, dtype)
        steps = {"ns128": 20, "ns256": 5, "qg64": 100, "qg128": 30, "ks64": 50}[case]
        calls = {b: (lambda s=s, u=u, n=steps: s.step(u, n)) for b, (s, u) in steppers.items()}
        res = median_us(calls, 1, rounds=7)
        t, d = res["torch"] / steps / 1e3, res["ducc0"] / steps / 1e3
        print(
            f"| {case} | {str(dtype)[6:]} | {t:.3f} | {d:.3f} | {d / t:.2f} "
            f"| {fft.resolve('auto', ndim)} |",
            flush=True,
        )


def fused_part() -> None:
    """The torch step against the fused 2D engines (``engine="numba"``), float64 and
    float32, in one process, interleaved."""
    print("ms per step, torch step vs fused engine, interleaved medians")
    print("| case | dtype | torch | fused | fused / torch |\n|---|---|---|---|---|")
    for case in ("ns128", "ns256", "qg64", "qg128"):
        for dtype in (torch.float64, torch.float32):
            runs = {}
            for engine in ("torch", "numba"):
                _, stepper, u = _case_stepper(case, engine)
                u = stepper.step(u.to(dtype), 5)  # coefficients, compilation (or its cache)
                runs[engine] = (stepper, u)
            steps = {"ns128": 20, "ns256": 5, "qg64": 100, "qg128": 30}[case]
            calls = {e: (lambda s=s, u=u, n=steps: s.step(u, n)) for e, (s, u) in runs.items()}
            res = median_us(calls, 1, rounds=7)
            t, f = res["torch"] / steps / 1e3, res["numba"] / steps / 1e3
            print(f"| {case} | {str(dtype)[6:]} | {t:.3f} | {f:.3f} | {f / t:.2f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--parts", nargs="+", default=["fft", "ns-profile", "memcpy", "ks-numpy", "recv-cache"]
    )
    args = p.parse_args()
    prime_allocator()  # as the solvers and the trainer do: no fresh pages per call
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    parts = {
        "fft": fft_part,
        "ns-profile": ns_profile_part,
        "memcpy": memcpy_part,
        "ks-numpy": ks_numpy_part,
        "recv-cache": recv_cache_part,
        "engines": engines_part,
        "fft-backends": fft_backends_part,
        "fused": fused_part,
    }
    for name in args.parts:
        parts[name]()


if __name__ == "__main__":
    main()
