"""Surrogate models, one per file, in a plain registry shared by presets and tests.

Every model obeys the contract of :mod:`pdesurr.models.base`; presets name them by the
keys of :data:`MODELS` (``[model] kind = "fno"``), checkpoints too, so renaming a class
never breaks a checkpoint.
"""

from torch import nn

from pdesurr.models.fno import FNO
from pdesurr.models.gnn import GNN

MODELS: dict[str, type[nn.Module]] = {
    "fno": FNO,
    "gnn": GNN,
}

__all__ = ["FNO", "GNN", "MODELS"]
