"""Benchmark suites: several checkpoints and the reference rows on the same test frames.

A suite (``train/bench_*.toml``)::

    [suite]       data (store), spec (generated into data when missing), split, steps,
                  lead_times (lead indices for the table), context (frames never scored),
                  out (directory for per-entry reports), samples (ensemble members of
                  stochastic models such as PDE-Refiner; default 1)
    [[models]]    name, checkpoint, recipe (trained first when the checkpoint is missing)
    [references]  persistence (bool), solver (bool), solver_substeps (list of ints: the
                  store's solver at the stored resolution, with these steps per frame)

Every entry is rolled out from the same ``context`` frames and scored on the same frames,
so the rows compare. "persistence" (repeat the last frame) is the floor; the coarse
solver is "what a simulation at the surrogate's resolution gives".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pdesurr.checkpoints.readers import load_surrogate
from pdesurr.config import ConfigError, load_toml
from pdesurr.data.pairs import rollout_step
from pdesurr.data.store import open_store
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.plot_refinement_spectra import write_refinement_spectra
from pdesurr.evaluation.reference import solver_step
from pdesurr.evaluation.report import write_report
from pdesurr.evaluation.rollout import persistence
from pdesurr.sections import Section, suggest

LEAD_TIMES = (1, 5, 10)  # lead indices of the table: one step, short and medium range


@dataclass(kw_only=True)
class SuiteSection(Section):
    """``[suite]``: the store and the frames every entry is scored on."""

    data: str
    spec: str | None = None
    split: str = "test"
    steps: int | None = None
    lead_times: list[int] = field(default_factory=lambda: list(LEAD_TIMES))
    context: int = 2
    out: str = "runs/benchmark"
    samples: int = 1


@dataclass(kw_only=True)
class ReferencesSection(Section):
    """``[references]``: the rows that are no trained model."""

    persistence: bool = True
    solver: bool = True
    solver_substeps: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class ModelEntry(Section):
    """One ``[[models]]`` entry."""

    name: str
    checkpoint: str
    recipe: str | None = None


SCHEMA: dict[str, type[Section]] = {"suite": SuiteSection, "references": ReferencesSection}


@dataclass
class Suite:
    suite: SuiteSection
    references: ReferencesSection
    models: list[ModelEntry]

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<suite>") -> Suite:
        """A suite from its tables (a suite file's, or tables built in code)."""
        known = [*SCHEMA, "models"]
        for key in raw:
            if key not in known:
                raise ConfigError(f"{source}: unknown section [{key}]{suggest(key, known)}")
        return cls(
            suite=SuiteSection.from_table(raw.get("suite", {}), "suite", source),
            references=ReferencesSection.from_table(
                raw.get("references", {}), "references", source
            ),
            models=[ModelEntry.from_table(m, "models", source) for m in raw.get("models", [])],
        )

    def __getitem__(self, key: str):  # read as the tables it is made of
        return getattr(self, key)


def load_suite(path: str | Path, overrides=()) -> Suite:
    return Suite.from_dict(load_toml(Path(path), list(overrides)), str(path))


def run_suite(
    suite: Suite | dict, device="cpu", plots: bool = True, train_missing=None
) -> list[dict]:
    """Evaluate every entry; returns one summary dict per row (models, then references).
    ``suite``: a :class:`Suite`, or the tables of one."""
    if not isinstance(suite, Suite):
        suite = Suite.from_dict(suite)
    s = suite.suite
    out = Path(s.out)
    rows = []
    for m in suite.models:
        ckpt = Path(m.checkpoint)
        if not ckpt.exists():
            if m.recipe and train_missing is not None:
                train_missing(m.recipe)
            else:
                raise ConfigError(
                    f"models.{m.name}: no checkpoint at {ckpt} and no recipe to train it"
                )
        surrogate, config = load_surrogate(ckpt, device)
        data = config["data"]
        step_fn, stride = rollout_step(surrogate, data)  # pair-trained: `step` frames per call
        ds, pred, true = evaluate(
            step_fn,
            s.data,
            s.split,
            history=data["history"],
            steps=s.steps,
            stride=stride,
            cond_names=data["conditioning"],
            device=device,
            context=s.context,
            samples=s.samples,
        )
        n_params = sum(p.numel() for p in surrogate.model.parameters())
        info = write_report(ds, pred, true, out / _safe(m.name), m.name, s.lead_times, plots=plots)
        if plots:
            write_refinement_spectra(
                step_fn,
                out / _safe(m.name),
                m.name,
                store_path=s.data,
                split=s.split,
                history=data["history"],
                stride=stride,
                cond_names=data["conditioning"],
                device=device,
            )
        rows.append({"name": m.name, "parameters": n_params, **info})
    refs = suite.references
    entries = []
    if refs.persistence:
        entries.append(("persistence", persistence, 16))
    if refs.solver:
        store = open_store(s.data)
        indices = store.usable(s.split)
        for sub in refs.solver_substeps or [None]:
            step = solver_step(store, s.split, indices, sub)
            # the stepper holds every trajectory's parameters: one batch of all of them
            entries.append((f"solver ({step.substeps} steps/frame)", step, len(indices)))
    for name, step_fn, batch in entries:
        ds, pred, true = evaluate(
            step_fn,
            s.data,
            s.split,
            history=1,
            steps=s.steps,
            device=device,
            context=s.context,
            dtype=torch.float64,
            batch=batch,
        )
        info = write_report(ds, pred, true, out / _safe(name), name, s.lead_times, plots=plots)
        rows.append({"name": name, "parameters": 0, **info})
    return rows


def _safe(name: str) -> str:
    """A directory name for a row: ``"solver (5 steps/frame)"`` -> ``solver_5_steps_frame``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _fmt(x) -> str:
    if isinstance(x, str):
        return "> horizon" if x == "inf" else x
    return "> horizon" if math.isinf(x) else f"{x:.3g}"


def markdown_table(rows: list[dict], lead_times) -> str:
    head = (
        ["model", "parameters", "one-step rel L2"]
        + [f"rel L2 @ {k}" for k in lead_times]
        + ["corr. time (0.8)", "corr. time (0.9)", "spectral err. (high, final)"]
        + ["rollout steps/s"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        at = [r["at_lead"].get(str(k), {}).get("rel_l2", "n/a") for k in lead_times]
        cells = [
            r["name"],
            f"{r['parameters']:,}" if r["parameters"] else "—",
            _fmt(r["one_step"]["rel_l2"]),
        ]
        cells += [_fmt(v) if v != "n/a" else v for v in at]
        cells += [
            _fmt(r["correlation_time"]["0.8"]),
            _fmt(r["correlation_time"]["0.9"]),
            _fmt(r["spectral_error_final"]["high"]),
            _fmt(r["rollout_steps_per_second"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
