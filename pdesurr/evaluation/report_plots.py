"""PNG figures of an evaluation: what :func:`pdesurr.evaluation.evaluate.evaluate` returns.

:func:`plot_report` writes five figures into a folder, one module per family:

* ``errors.png`` and ``spectral_error.png``: :mod:`.plot_errors`;
* ``spectra.png``: :mod:`.plot_spectra`;
* ``snapshots.png``: :mod:`.plot_snapshots`;
* ``invariants.png``: :mod:`.plot_invariants`.

Non-finite values (a prediction that blew up, a ratio over a zero spectrum) are left out
of lines, drawn grey in images, and the lead times from which a curve stops being finite
are shaded. Lead times of PDEs in SI units (QG) are shown in days. Figures render on the
Agg canvas without pyplot (:mod:`.plot_common`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from pdesurr.evaluation.plot_errors import plot_errors, plot_spectral_error
from pdesurr.evaluation.plot_invariants import plot_invariants
from pdesurr.evaluation.plot_snapshots import plot_snapshots
from pdesurr.evaluation.plot_spectra import plot_spectra


def plot_report(ds: xr.Dataset, pred, true, out_dir, label: str = "model") -> list[Path]:
    """Write ``errors.png``, ``spectra.png``, ``snapshots.png``, ``invariants.png`` and
    ``spectral_error.png`` into ``out_dir`` (created); returns their paths.

    ``ds`` is the Dataset of :func:`~pdesurr.evaluation.evaluate.evaluate`; ``pred`` and
    ``true`` its rollouts and truths ``(N, T, C, *S)`` (torch or NumPy)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with np.errstate(all="ignore"):
        return [
            plot_errors(ds, out / "errors.png", label, true),
            plot_spectra(ds, true, out / "spectra.png", label),
            plot_snapshots(ds, pred, true, out / "snapshots.png", label),
            plot_invariants(ds, out / "invariants.png", label),
            plot_spectral_error(ds, out / "spectral_error.png", label),
        ]
