"""Poseidon's sample-efficiency claim at CPU scale: pretrain a tiny scOT on a mixture of
pdesurr flows, fine-tune it on Kolmogorov flow with M training trajectories, and compare
with the same scOT and an FNO trained from scratch on the same M trajectories.

    python benchmarks/foundation.py [--ms 4 8 16 32] [--pretrain-steps 400]
        [--steps 150] [--batch 16] [--out /tmp/foundation]

Data (generated with pdesurr into ``--out``, 32x32 vorticity, 0.1 time units per frame):
pretraining = decaying turbulence at nu ~ logU(1e-3, 1e-2) with peak wavenumber 4, plus
the same at peak wavenumber 8 (a second "dataset"); task = ``kolmogorov/small`` (forced,
nu = 1e-2), 32 training and 8 test trajectories. Items are Poseidon's all2all pairs
(K = 7, stride 2, 36 per trajectory), lead time (t2 - t1) / 14 as the conditioning.

Training: AdamW, cosine schedule, grad clip 5, Poseidon's relative-L1 loss, the same
number of steps and batch size for every model and M (fine-tuning uses the published
parameter groups with lr_embedding = lr_time = 10 x lr). Score: Poseidon's metric, the
median over test pairs (lead > 0) of the relative L1 error in percent.

Gains as the paper defines them, from power-law fits E(M) = a M^-b per model: accuracy
gain AG = E_FNO(M) / E_model(M), efficiency gain EG = M_FNO(E_model(M)) / M (how many
more trajectories the FNO needs for the same error), both at the largest M.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from pdesurr.data.generate import generate
from pdesurr.data.pairs import PairDataset
from pdesurr.data.spec import DatasetSpec
from pdesurr.evaluation.metrics import rel_l1_poseidon
from pdesurr.models import MODELS
from pdesurr.models.scot.finetune import parameter_groups
from pdesurr.models.scot.loss import poseidon_loss

SCOT = dict(image_size=32, patch_size=2, embed_dim=24, depths=[2, 2, 2], num_heads=[2, 4, 8],
            skip_connections=[2, 2, 0], window_size=8)  # fmt: skip
FNO = dict(modes=12, width=24, layers=3)
TIME_SCALE = 14.0  # lead time 1 = K * stride frames, the same for every dataset


def make_store(out: Path, name: str, preset: str, sets: list[str]) -> Path:
    path = out / f"{name}.zarr"
    if not path.exists():
        generate(DatasetSpec.load(preset, sets), path, progress=False)
    return path


class Pairs:
    """All2all pairs of some trajectories of a store, in memory, standardised."""

    def __init__(self, path, split, n=None, mean=None, std=None):
        data = PairDataset(path, split, "all2all", 7, 2, time_scale=TIME_SCALE)
        mem = data.to_memory()
        n = n or len(data.trajectories)
        self.data, self.offsets = mem.data[:n], data.offsets
        self.mean = self.data.mean() if mean is None else mean
        self.std = self.data.std() if std is None else std
        self.data = (self.data - self.mean) / self.std
        self.items = [(i, a, b) for i in range(n) for a, b in self.offsets]

    def batch(self, idx):
        it = torch.tensor([self.items[i] for i in idx])
        x, y = self.data[it[:, 0], it[:, 1]], self.data[it[:, 0], it[:, 2]]
        return x, y, ((it[:, 2] - it[:, 1]).float() / TIME_SCALE)[:, None]


def train(model, pairs_list, steps, batch, lr, groups=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = parameter_groups(model, lr, 1e-6, 10 * lr, 10 * lr) if groups else model.parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))
    )
    model.train()
    for step in range(steps):
        pairs = pairs_list[step % len(pairs_list)]  # alternate the datasets of a mixture
        idx = torch.randint(len(pairs.items), (batch,), generator=gen).tolist()
        x, y, t = pairs.batch(idx)
        loss, _ = poseidon_loss(model(x, cond=t), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
    return float(loss.detach())


@torch.no_grad()
def score(model, test: Pairs) -> float:
    model.eval()
    idx = [i for i, (_, a, b) in enumerate(test.items) if b > a]
    errs = []
    for chunk in np.array_split(idx, max(1, len(idx) // 64)):
        x, y, t = test.batch(chunk.tolist())
        pred = model(x, cond=t) * test.std + test.mean
        errs.append(rel_l1_poseidon(pred[:, None], (y * test.std + test.mean)[:, None])[:, 0])
    return float(torch.cat(errs).median())


def power_law(ms, errs):
    """(a, b) of E = a M^-b by least squares in log-log."""
    slope, intercept = np.polyfit(np.log(ms), np.log(errs), 1)
    return math.exp(intercept), -slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ms", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--pretrain-steps", type=int, default=400)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default="/tmp/foundation")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    common = ["splits.valid=0", "splits.test=0", "time.frames=16"]
    pre = [
        make_store(out, "decay_k4", "decaying_turbulence/small", ["splits.train=24", *common]),
        make_store(out, "decay_k8", "decaying_turbulence/small",
                   ["splits.train=24", "dataset.seed=6", "initial.peak_wavenumber=8.0", *common]),
    ]  # fmt: skip
    sets = [f"splits.train={max(args.ms)}", "splits.valid=0", "splits.test=8"]
    task = make_store(out, "kolmogorov", "kolmogorov/small", sets)
    print(f"data: {time.perf_counter() - t0:.0f} s")

    torch.manual_seed(0)
    base = MODELS["scot"](1, 1, 2, 1, **SCOT)
    t1 = time.perf_counter()
    loss = train(base, [Pairs(p, "train") for p in pre], args.pretrain_steps, args.batch, args.lr)
    base.save_pretrained(out / "pretrained")
    print(f"pretrain: {args.pretrain_steps} steps, last loss {loss:.3f}, "
          f"{time.perf_counter() - t1:.0f} s")  # fmt: skip

    full = Pairs(task, "train")
    test = Pairs(task, "test", mean=full.mean, std=full.std)
    rows = []
    for m in args.ms:
        pairs = Pairs(task, "train", n=m, mean=full.mean, std=full.std)
        ft = MODELS["scot"].from_pretrained(out / "pretrained")
        train(ft, [pairs], args.steps, args.batch, args.lr, groups=True, seed=m)
        torch.manual_seed(m)
        scratch = MODELS["scot"](1, 1, 2, 1, **SCOT)
        train(scratch, [pairs], args.steps, args.batch, args.lr, seed=m)
        fno = MODELS["fno"](1, 1, 2, 1, **FNO)
        train(fno, [pairs], args.steps, args.batch, args.lr, seed=m)
        rows.append((m, score(ft, test), score(scratch, test), score(fno, test)))
        print(f"M = {m:3d}: fine-tuned {rows[-1][1]:6.2f} %  scratch {rows[-1][2]:6.2f} %  "
              f"FNO {rows[-1][3]:6.2f} %  ({time.perf_counter() - t0:.0f} s)")  # fmt: skip

    ms = np.array([r[0] for r in rows], dtype=float)
    print("\n| M | scOT fine-tuned | scOT scratch | FNO scratch |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} % | {r[2]:.2f} % | {r[3]:.2f} % |")
    if len(rows) >= 2:
        fits = {
            k: power_law(ms, [r[i] for r in rows]) for i, k in ((1, "ft"), (2, "sc"), (3, "fno"))
        }
        a_f, b_f = fits["fno"]
        mmax = ms[-1]
        for k, label in (("ft", "scOT fine-tuned"), ("sc", "scOT scratch")):
            a, b = fits[k]
            e = a * mmax**-b
            ag = a_f * mmax**-b_f / e
            # EG inverts the FNO's fit: meaningless when its error hardly falls with M
            eg = (a_f / e) ** (1 / b_f) / mmax if b_f > 0.05 else float("nan")
            print(
                f"{label}: E = {a:.3g} M^({-b:+.3f}); at M = {mmax:.0f}: "
                f"AG = {ag:.2f}, EG = {eg:.2f}"
            )
        print(f"FNO scratch: E = {a_f:.3g} M^({-b_f:+.3f}) (EG = nan unless below -0.05)")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
