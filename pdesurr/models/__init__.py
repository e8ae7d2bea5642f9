"""Surrogate models, one per file, in a plain registry shared by presets and tests.

Every model obeys the contract of :mod:`pdesurr.models.base`; presets name them by the
keys of :data:`MODELS` (``[model] kind = "fno"``), checkpoints too, so renaming a class
never breaks a checkpoint.
"""

from torch import nn

from pdesurr.models.fno import FNO
from pdesurr.models.gnn import GNN
from pdesurr.models.lsm import LSM
from pdesurr.models.refiner import Refiner
from pdesurr.models.scot import ScOT
from pdesurr.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {
    "fno": FNO,
    "gnn": GNN,
    "lsm": LSM,
    "refiner": Refiner,
    "scot": ScOT,
    "unet": UNet,
}

__all__ = ["FNO", "GNN", "LSM", "MODELS", "Refiner", "ScOT", "UNet"]
