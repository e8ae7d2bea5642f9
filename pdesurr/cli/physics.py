"""CLI glue for physics-informed runs: ``pdesurr train`` on a recipe with a ``[physics]``
table, and ``pdesurr evaluate`` on a PINN checkpoint (``summary.json`` + PNG figures)."""

from __future__ import annotations

from pathlib import Path

from pdesurr import strict_json


def train(args) -> int:
    """Train a PINN recipe; under ``mpiexec`` every rank trains its share (DDP)."""
    from pdesurr.cli.generate import world_comm
    from pdesurr.training.distributed import DistContext, init_from_mpi, shutdown
    from pdesurr.training.physics import train_physics
    from pdesurr.training.physics_recipe import PhysicsRecipe

    recipe = PhysicsRecipe.load(args.recipe, list(args.set))
    comm = world_comm()
    ctx = init_from_mpi(comm, recipe.train["device"]) if comm is not None else DistContext()
    try:
        result = train_physics(
            recipe,
            progress=not args.quiet and ctx.is_main,
            resume=not args.restart,
            stop_after=args.stop_after,
            ctx=ctx,
        )
    finally:
        shutdown(ctx)
    if not ctx.is_main:
        return 0
    last = {k: v for r in result.history for k, v in r.items() if v is not None}
    shown = ", ".join(f"{k} {last[k]:.4g}" for k in ("loss", "rel_l2") if k in last)
    print(
        f"trained {recipe.physics['method']} PINN to step {result.step} on {ctx.world} "
        f"rank(s): {shown} -> {result.checkpoint}"
    )
    return 0


def evaluate(args) -> int:
    from pdesurr.evaluation import physics as ev
    from pdesurr.training.physics_checkpoint import load_pinn

    sol = load_pinn(args.checkpoint, args.device)
    ref = sol.reference
    pred = sol.predict()
    info = ev.scores(pred, ref.u, ref.t)
    out = Path(args.out or Path(args.checkpoint).parent / "eval")
    out.mkdir(parents=True, exist_ok=True)
    label = f"{sol.method} PINN, {ref.pde['kind']}"
    summary = {
        "checkpoint": str(args.checkpoint),
        "method": sol.method,
        "pde": ref.pde,
        "reference_store": str(ref.store),
        "grid": {"points_x": len(ref.x), "times": len(ref.t), "t_end": ref.t_end},
        **{k: v for k, v in info.items() if not k.endswith("_per_time")},
        "time": ref.t.tolist(),
        "rel_l2_per_time": info["rel_l2_per_time"],
        "correlation_per_time": info["correlation_per_time"],
    }
    (out / "summary.json").write_text(strict_json.dumps(summary, indent=1))  # inf as "inf"
    if not args.no_plots:
        ev.plot_maps(ref.x, ref.t, pred, ref.u, out / "maps.png", label)
        ev.plot_errors(ref.t, info["rel_l2_per_time"], out / "rel_l2_time.png", label)
        if sol.history:
            ev.plot_training(sol.history, out / "training.png", label)
        if sol.causal_log:
            ev.plot_causal_weights(sol.causal_log, out / "causal_weights.png", label)
    shown = {k: info[k] for k in ("rel_l2", "rel_l2_final", "max_abs_error", "corr_time_0.8")}
    print(strict_json.dumps(shown, indent=1))
    print(f"report -> {out}")
    return 0
