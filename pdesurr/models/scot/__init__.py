"""scOT / Poseidon (Herde et al. 2024, arXiv:2405.19101): the model, its checkpoints in
the published layout, and its loss. See :mod:`pdesurr.models.scot.model`."""

from pdesurr.models.scot.model import ScOT
from pdesurr.models.scot.pretrained import is_poseidon_dir

__all__ = ["ScOT", "is_poseidon_dir"]
