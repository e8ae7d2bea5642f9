"""scOT / Poseidon (Herde et al. 2024, arXiv:2405.19101): the model, its checkpoints in
the published layout, and its loss. See :mod:`pdesurr.models.scot.model`."""

from pdesurr.models.scot.model import ScOT

__all__ = ["ScOT"]
