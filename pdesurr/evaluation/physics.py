"""Scores and figures of a physics-informed network on its reference's space-time grid.

Arrays in, files out (this module knows nothing of training): the prediction and the
truth ``(T, N)`` on the reference grid ``x (N,)``, ``t (T,)``.

* :func:`scores`: relative L2 over the whole space-time domain,
  ``||u_pred - u_ref|| / ||u_ref||`` (all ``T x N`` entries), and per time
  ``||u_pred(t) - u_ref(t)|| / ||u_ref(t)||``; the maximum absolute error; given the
  times, the Pearson correlation per time (:func:`pdesurr.evaluation.metrics.correlation`)
  and the first time it falls below 0.8 and 0.9 (``inf``: never within the reference).
* :func:`plot_maps`: ``u(x, t)`` of prediction, truth and error side by side.
* :func:`plot_errors`: the per-time relative L2.
* :func:`plot_causal_weights`: the causal weights ``w_i`` (chunk ``i``, sorted in time)
  over training, one curve per logged step (colour = step), and ``eps`` steps.
* :func:`plot_training`: loss and relative L2 against the step.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from pdesurr.evaluation.metrics import correlation, correlation_time  # noqa: E402

CORRELATION_LEVELS = (0.8, 0.9)


def scores(pred: torch.Tensor, true: torch.Tensor, t: torch.Tensor | None = None) -> dict:
    diff = pred - true
    per_time = diff.norm(dim=1) / true.norm(dim=1).clamp_min(1e-300)
    out = {
        "rel_l2": float(diff.norm() / true.norm()),
        "rel_l2_final": float(per_time[-1]),
        "max_abs_error": float(diff.abs().max()),
        "rel_l2_per_time": per_time.tolist(),
    }
    if t is not None:  # PDE-Refiner's high-correlation time, as the grid surrogates report it
        corr = correlation(pred[None, :, None], true[None, :, None])[0]  # (T,)
        out["correlation_per_time"] = corr.tolist()
        for level in CORRELATION_LEVELS:
            out[f"corr_time_{level}"] = correlation_time(corr, t - t[0], level)
    return out


def plot_maps(x, t, pred, true, path: Path, title: str) -> Path:
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    extent = [float(t[0]), float(t[-1]), float(x[0]), float(x[-1])]
    lim = float(np.abs(np.asarray(true)).max())
    for ax, data, name in ((axes[0], pred, "prediction"), (axes[1], true, "reference")):
        im = ax.imshow(
            np.asarray(data).T,
            origin="lower",
            aspect="auto",
            extent=extent,
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
        )
        ax.set(title=name, xlabel="t", ylabel="x")
        fig.colorbar(im, ax=ax)
    err = np.abs(np.asarray(pred) - np.asarray(true))
    im = axes[2].imshow(err.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    axes[2].set(title="|error|", xlabel="t", ylabel="x")
    fig.colorbar(im, ax=axes[2])
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path


def plot_errors(t, per_time, path: Path, title: str) -> Path:
    fig = Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.semilogy(np.asarray(t), np.maximum(np.asarray(per_time), 1e-16))
    ax.set(xlabel="t", ylabel="relative L2 at time t", title=title)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    return path


def plot_causal_weights(log: list[dict], path: Path, title: str) -> Path:
    """``log``: records ``{"step", "window", "eps", "weights"}`` in training order."""
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    steps = np.array([r["step"] for r in log], dtype=float)
    cmap = matplotlib.colormaps["viridis"]
    span = max(steps.max() - steps.min(), 1.0)
    for r in log[:: max(1, len(log) // 40)]:
        w = np.asarray(r["weights"])
        ax.plot(np.arange(len(w)), w, color=cmap((r["step"] - steps.min()) / span), lw=1)
    ax.set(
        xlabel="time chunk i (sorted in t)",
        ylabel="w_i",
        ylim=(-0.02, 1.02),
        title="causal weights (colour: training step)",
    )
    ax2.semilogy(steps, [r["eps"] for r in log], drawstyle="steps-post")
    ax2.set(xlabel="step", ylabel="eps", title="eps schedule")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path


def plot_training(history: list[dict], path: Path, title: str) -> Path:
    fig = Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = fig.subplots()
    loss = [(r["step"], r["loss"]) for r in history if "loss" in r]
    err = [(r["step"], r["rel_l2"]) for r in history if "rel_l2" in r]
    if loss:
        ax.semilogy(*zip(*loss, strict=True), label="loss")
    if err:
        ax.semilogy(*zip(*err, strict=True), "o-", label="rel. L2 (reference grid)")
    ax.set(xlabel="step", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    return path
