r"""The physics-informed trainer, flat and readable (plain, causal and Lagrangian PINNs).

Per time window ``[t_a, t_b]`` of ``[0, T]`` (``physics.windows``; one network each, warm
started from the previous one, whose end state is the next initial condition):

1. collocation points ``(P, 2)`` of ``(x, t)``: a ``points_t x points_x`` grid, or random
   (``x`` uniform, ``t`` stratified so the rows stay sorted in time), redrawn each step;
2. the loss of the method:

   * ``plain``: ``mean(r^2) + ic_weight * mean((u(x, t_a) - u_a)^2)`` (+ ``bc_weight`` x
     the periodic mismatch of ``u`` and ``u_x`` when the network is not periodic by
     construction);
   * ``causal`` (:mod:`pdesurr.training.causal`; note there on the authors' patent and
     non-commercial licence, this code is written from the paper's formulas): the
     residual's mean square per sorted time chunk ``L_i``, weights
     ``w_i = exp(-eps sum_{k<i} L_k)`` without gradient, loss
     ``ic_weight * L_ic + mean_i(w_i L_i)``; ``eps`` moves up its schedule when
     ``min w > delta``;
   * ``lagrangian`` (:mod:`pdesurr.physics.lagrangian`): residuals along
     characteristics, ``weight_x * mean(r_X^2) + weight_u * mean(r_u^2) + weight_ic *
     (mean(D(x0, 0)^2) + mean((u(x0, 0) - u_0)^2))``;

3. Adam with the warm-up + cosine schedule of :func:`pdesurr.training.fit.lr_factor`, then
   optionally ``lbfgs_steps`` of L-BFGS (strong Wolfe) on a fixed collocation set.

With ``network.initial_modes > 0`` the window's initial state is imposed exactly instead
(:mod:`pdesurr.physics.initial`: ``u = g(x) + s N``, ``g`` fitted to the state at ``t_a``);
the IC loss is then zero to round-off. Under MPI every rank trains on its share of each
step's points and gradients are averaged (:mod:`.physics_parallel`).

Every ``log_every`` steps a record goes to ``metrics.jsonl`` (:class:`MetricsLog`; causal
runs add ``eps``, ``min_w`` and the weight vector), every ``eval_every`` steps the relative
L2 error on the reference's space-time grid so far. Checkpoints
(:mod:`pdesurr.training.physics_checkpoint`) at the end of every window, every
``checkpoint_every`` steps and at the end; a rerun resumes from the last one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pdesurr.config import DTYPES, ConfigError
from pdesurr.physics import NETWORKS
from pdesurr.physics.derivatives import derivatives_autograd
from pdesurr.physics.lagrangian import LagrangianNetwork, speed_scale
from pdesurr.physics.lagrangian import residuals as lagrangian_residuals
from pdesurr.physics.reference import Reference, load_reference
from pdesurr.physics.solution import PINNSolution, predict, rel_l2, stitch
from pdesurr.training.causal import EpsSchedule, causal_weights
from pdesurr.training.distributed import SINGLE, DistContext
from pdesurr.training.metrics_log import MetricsLog
from pdesurr.training.physics_checkpoint import load_state, network_args, save_pinn
from pdesurr.training.physics_parallel import (
    average_gradients,
    mean_info,
    mean_over_ranks,
    share_points,
)
from pdesurr.training.physics_recipe import PhysicsRecipe, residual_from_reference
from pdesurr.training.state import lr_factor


@dataclass
class PhysicsResult:
    step: int
    history: list = field(default_factory=list)
    checkpoint: Path | None = None
    rel_l2: float | None = None


# the collocation draw of (seed, window, step) is seeded with seed x SEED_STRIDE + window x
# WINDOW_SEED_STRIDE + step: distinct for fewer than 10 windows of fewer than 100,003 steps
SEED_STRIDE = 1_000_003
WINDOW_SEED_STRIDE = 100_003


def window_edges(t_end: float, windows: int) -> list[tuple[float, float]]:
    return [(t_end * w / windows, t_end * (w + 1) / windows) for w in range(windows)]


def collocation(recipe, ref: Reference, t0, t1, gen, dtype, device) -> torch.Tensor:
    """Points ``(points_t * points_x, 2)``, rows sorted by time (``points_t`` blocks)."""
    p = recipe.physics
    nt, nx = p["points_t"], p["points_x"]
    if p["sampling"] == "grid":
        x = ref.origin + torch.arange(nx, dtype=torch.float64) * (ref.length / nx)
        t = torch.linspace(t0, t1, nt, dtype=torch.float64)
        tt, xx = torch.meshgrid(t, x, indexing="ij")
    else:
        t = t0 + (torch.arange(nt) + torch.rand(nt, generator=gen, dtype=torch.float64)) * (
            (t1 - t0) / nt
        )
        xx = ref.origin + torch.rand(nt, nx, generator=gen, dtype=torch.float64) * ref.length
        tt = t[:, None].expand(nt, nx)
    return torch.stack([xx.flatten(), tt.flatten()], 1).to(device, dtype)


def _f(x: torch.Tensor) -> float:
    return float(x.detach())


def objective(recipe, ref, net, residual, points, ic_points, ic_u, schedule, ctx=SINGLE):
    """The method's loss and the numbers to log (floats; ``weights`` for causal runs).
    Under DDP ``points`` is this rank's share (:mod:`.physics_parallel`)."""
    p, engine = recipe.physics, recipe.physics["engine"]
    if p["method"] == "lagrangian":
        lag = recipe.lagrangian
        r_x, r_u = lagrangian_residuals(net, residual, points, engine)
        l_ic = (net(ic_points)[:, 1] - ic_u).pow(2).mean()  # X(x0, 0) = x0 holds exactly
        l_x, l_u = r_x.pow(2).mean(), r_u.pow(2).mean()
        loss = lag["weight_x"] * l_x + lag["weight_u"] * l_u + lag["weight_ic"] * l_ic
        return loss, {"loss_x": _f(l_x), "loss_u": _f(l_u), "loss_ic": _f(l_ic)}
    r2 = residual(net, points, engine).pow(2).sum(1)  # (P,)
    l_ic = (net(ic_points)[:, 0] - ic_u).pow(2).mean()
    info = {"loss_ic": _f(l_ic), "loss_r": _f(r2.mean())}
    if p["method"] == "causal":
        chunks = torch.stack(
            [c.mean() for c in torch.tensor_split(r2.reshape(p["points_t"], -1), schedule[1], 0)]
        )
        w = causal_weights(mean_over_ranks(chunks, ctx), schedule[0].eps)
        loss = p["ic_weight"] * l_ic + (w * chunks).mean()
        info.update(eps=schedule[0].eps, min_w=_f(w.min()), weights=w.tolist())
    else:
        loss = r2.mean() + p["ic_weight"] * l_ic
    if not recipe.network["periodic"]:
        t = points[:: len(points) // p["points_t"], 1]
        sides = (ref.origin, ref.origin + ref.length)
        ends = torch.cat([torch.stack([torch.full_like(t, x), t], 1) for x in sides])
        d = derivatives_autograd(net, ends, ["u", "u_x"], ("u",), ("x", "t"))
        half = len(t)
        l_bc = sum((d[k][:half] - d[k][half:]).pow(2).mean() for k in ("u", "u_x"))
        loss = loss + p["bc_weight"] * l_bc
        info["loss_bc"] = _f(l_bc)
    return loss, info


def build_network(recipe: PhysicsRecipe, args: dict, ref: Reference, dtype, device):
    if recipe.physics["method"] == "lagrangian":
        return LagrangianNetwork(NETWORKS[recipe.network["kind"]], args, speed_scale(ref)).to(
            device, dtype
        )
    return NETWORKS[recipe.network["kind"]](**args).to(device, dtype)


class Run:
    """What every window of one run shares: recipe, reference, residual, log, record."""

    def __init__(self, recipe: PhysicsRecipe, resume: bool, progress: bool, ctx: DistContext):
        p, t = recipe.physics, recipe.train
        self.recipe, self.method, self.ctx = recipe, p["method"], ctx
        self.device, self.dtype = torch.device(t["device"]), DTYPES[p["dtype"]]
        self.out = Path(t["out"])
        self.ckpt_dir = self.out / "checkpoint"
        self.ref = load_reference(p["reference"], recipe.pde, p["store_dir"])
        self.residual = residual_from_reference(recipe, self.ref.pde)
        self.edges = window_edges(self.ref.t_end, p["windows"])
        self.solution = PINNSolution(recipe.resolved(), self.ref, [], self.edges)
        self.state = None
        if resume and self.ckpt_dir.exists():
            self.solution, self.state = load_state(
                self.ckpt_dir, recipe, self.ref, self.device, self.dtype
            )
        self.history = list(self.solution.history)
        self.causal_log = list(self.solution.causal_log)
        self.start_window = self.state["window"] if self.state else 0
        first = self.state["step"] if self.state else 0
        self.global_step = self.start_window * recipe.optim["steps"] + first
        self.log = self.bar = None
        if not ctx.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = MetricsLog(self.out, tensorboard=False)
        if progress:
            from tqdm import tqdm

            total = p["windows"] * recipe.optim["steps"]
            self.bar = tqdm(total=total, initial=self.global_step, unit="step", desc=self.method)

    def record(self, record: dict) -> None:
        if "weights" in record:
            self.causal_log.append({k: record[k] for k in ("step", "window", "eps", "weights")})
        self.history.append({k: v for k, v in record.items() if k != "weights"})
        if self.log is not None:
            self.log.write(record)
        if self.bar is not None:
            shown = ("loss", "rel_l2", "eps", "min_w")
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k in shown})

    def error(self, nets, t1: float) -> float | None:
        """Relative L2 on the reference grid for every time up to ``t1`` (rank 0 only)."""
        if not self.ctx.is_main:
            return None
        mask = self.ref.t <= t1 + 1e-12
        pred = stitch(nets, self.edges, self.method, self.ref, self.ref.t[mask])
        return rel_l2(pred, self.ref.u[mask])

    def save(self, nets, resume_at, opt_state=None) -> Path:
        """Rank 0 writes; the others wait until the checkpoint is complete."""
        edges = self.edges[: len(nets)]
        if not self.ctx.is_main:
            torch.distributed.barrier()
            return self.ckpt_dir
        path = save_pinn(
            self.ckpt_dir,
            self.recipe,
            self.ref,
            edges,
            nets,
            self.history,
            self.causal_log,
            resume_at,
            opt_state,
            self.global_step,
        )
        if self.ctx.active:
            torch.distributed.barrier()
        return path

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self.bar is not None:
            self.bar.close()


def initial_condition(run: Run, w: int):
    """Points ``(N, 2)`` at the window's start and the values there: the reference's
    initial state, or the previous window's end state."""
    ref, t0 = run.ref, run.edges[w][0]
    points = torch.stack([ref.x, torch.full_like(ref.x, t0)], 1).to(run.device, run.dtype)
    if w == 0:
        return points, ref.u[0].to(run.device, run.dtype)
    prev = run.solution.networks[w - 1]
    return points, predict(prev, run.method, ref, torch.tensor([t0]))[0].to(run.device, run.dtype)


def train_window(run: Run, w: int, stop_after: int | None) -> bool:
    """Adam (then L-BFGS) on window ``w``; returns False when stopped by ``stop_after``."""
    recipe, o, t_cfg = run.recipe, run.recipe.optim, run.recipe.train
    t0, t1 = run.edges[w]
    net = build_network(
        recipe, network_args(recipe, run.ref, t0, t1), run.ref, run.dtype, run.device
    )
    if w < len(run.solution.networks):  # resuming inside this window
        net.load_state_dict(run.solution.networks[w].state_dict())
    elif run.solution.networks:  # warm start from the previous window
        net.load_state_dict(run.solution.networks[-1].state_dict())
    nets = [*run.solution.networks[:w], net]
    ic_points, ic_u = initial_condition(run, w)
    if getattr(net, "initial", None) is not None:  # hard IC: g interpolates the start state
        try:
            net.initial.fit(ic_u, run.ref.origin)
        except ValueError as e:
            raise ConfigError(f"{recipe.source}: network.{e}") from None
    optimizer = torch.optim.Adam(net.parameters(), lr=o["lr"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, o["warmup"], o["steps"], o["min_lr_ratio"])
    )
    eps = EpsSchedule(list(recipe.causal["eps"]), recipe.causal["delta"])
    first, state = 0, run.state
    if state is not None and state["window"] == w and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        eps.load_state_dict(state["eps"])
        first = state["step"]
    schedule = (eps, recipe.causal["chunks"])

    def loss_at(points):
        return objective(
            recipe, run.ref, net, run.residual, points, ic_points, ic_u, schedule, run.ctx
        )

    def points_at(step):
        gen.manual_seed(t_cfg["seed"] * SEED_STRIDE + w * WINDOW_SEED_STRIDE + step)
        points = collocation(recipe, run.ref, t0, t1, gen, run.dtype, run.device)
        return share_points(points, recipe.physics["points_t"], run.ctx)

    def opt_state():
        return {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "eps": eps.state_dict(),
        }

    gen, t_last = torch.Generator(), time.perf_counter()
    for step in range(first, o["steps"]):
        loss, info = loss_at(points_at(step))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(net.parameters(), run.ctx)
        optimizer.step()
        scheduler.step()
        if run.method == "causal":
            eps.update(torch.tensor(info["weights"]))
        run.global_step += 1
        record = None
        if (step + 1) % t_cfg["log_every"] == 0 or step + 1 == o["steps"]:
            now = time.perf_counter()
            record = {
                "step": run.global_step,
                "window": w,
                "lr": scheduler.get_last_lr()[0],
                "it_per_s": t_cfg["log_every"] / (now - t_last),
                **mean_info({"loss": _f(loss), **info}, run.ctx),
            }
            t_last = now
        if (step + 1) % t_cfg["eval_every"] == 0 or step + 1 == o["steps"]:
            record = record or {"step": run.global_step, "window": w}
            record["rel_l2"] = run.error(nets, t1)
        if record is not None:
            run.record(record)
        if run.bar is not None:
            run.bar.update(1)
        if stop_after is not None and run.global_step >= stop_after and step + 1 < o["steps"]:
            run.save(nets, (w, step + 1), opt_state())
            return False
        ce = t_cfg["checkpoint_every"]
        if ce and (step + 1) % ce == 0 and step + 1 != o["steps"]:
            run.save(nets, (w, step + 1), opt_state())
    if o["lbfgs_steps"]:
        points = points_at(o["steps"])
        lbfgs = torch.optim.LBFGS(
            net.parameters(),
            lr=1.0,
            max_iter=o["lbfgs_steps"],
            history_size=50,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-12,
            tolerance_change=1e-15,
        )

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            loss, _ = loss_at(points)
            loss.backward()
            average_gradients(net.parameters(), run.ctx)
            return mean_over_ranks(loss, run.ctx)  # every rank's line search sees one loss

        lbfgs.step(closure)
        loss, info = loss_at(points)
        info.pop("weights", None)
        run.record(
            {
                "step": run.global_step,
                "window": w,
                "lbfgs": o["lbfgs_steps"],
                **mean_info({"loss": _f(loss), **info}, run.ctx),
                "rel_l2": run.error(nets, t1),
            }
        )
    run.solution.networks = nets
    run.state = None
    run.save(nets, (w + 1, 0))
    return stop_after is None or run.global_step < stop_after


def train_physics(
    recipe: PhysicsRecipe,
    progress: bool = True,
    resume: bool = True,
    stop_after: int | None = None,
    ctx: DistContext = SINGLE,
) -> PhysicsResult:
    """Train ``recipe`` window by window; ``stop_after`` ends (with a checkpoint) at that
    global Adam step, and a rerun resumes there. Under DDP (``ctx``, from
    :func:`~pdesurr.training.distributed.init_from_mpi`) every rank trains on its share of
    the collocation points (:mod:`.physics_parallel`); rank 0 logs and saves."""
    if recipe.physics["points_x"] % ctx.world:
        raise ConfigError(
            f"{recipe.source}: physics.points_x = {recipe.physics['points_x']} must be a "
            f"multiple of the {ctx.world} ranks (each takes an equal share of every time row)"
        )
    run = Run(recipe, resume, progress, ctx)
    try:
        for w in range(run.start_window, recipe.physics["windows"]):
            if not train_window(run, w, stop_after):
                break
    finally:
        run.close()
    last = next((r["rel_l2"] for r in reversed(run.history) if "rel_l2" in r), None)
    path = run.ckpt_dir if run.ckpt_dir.exists() else None
    return PhysicsResult(step=run.global_step, history=run.history, checkpoint=path, rel_l2=last)
