"""Evaluation: rollouts, metrics, spectra, reports and plots; never imports ``training/``.

Step functions in, files out: :mod:`.rollout` (``rollout(step_fn, history, n_steps)`` for
solvers and models alike, persistence), :mod:`.evaluate` (a step function scored on a
store split, an xarray Dataset), :mod:`.metrics` and :mod:`.spectra` (whose convention each
metric follows), :mod:`.reference` (the store's own solver at its resolution),
:mod:`.report` (netCDF/zarr, Markdown, JSON) with the figures of :mod:`.report_plots`,
:mod:`.suite` (``pdesurr benchmark``), :mod:`.plots` (figures of a simulation store) and
:mod:`.physics` (physics-informed networks on their reference grid).

Imported by module (``pdesurr.evaluation.plots``) so that matplotlib loads only when used.
"""
