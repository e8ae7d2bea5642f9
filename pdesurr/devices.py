"""Device names from configs and flags, checked against this machine before any work.

``train.device = "cuda:1"``, ``--device mps``: a name torch does not parse is a
:class:`~pdesurr.sections.ConfigError` (the config is wrong anywhere); a well-formed device
this machine lacks is a :class:`DeviceError` (the config may be right elsewhere), which
the CLI reports with its own exit code.
"""

from __future__ import annotations

import torch

from pdesurr.sections import ConfigError


class DeviceError(ValueError):
    """A well-formed device this machine does not have (``cuda`` without CUDA)."""


def check_device(value, key: str, source: str = "") -> torch.device:
    """``value`` as a torch.device, checked against this machine before any work starts:
    ConfigError when it is no device name, DeviceError when the machine lacks it."""
    where = f"{source}: " if source else ""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"{where}{key} = {value!r} is not a device (cpu, cuda, cuda:1, mps)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise DeviceError(
                f"{where}{key} = {value!r}: no CUDA device on this machine (torch "
                f"{torch.__version__}, {build}); use cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"{where}{key} = {value!r}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s)"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"{where}{key} = {value!r}: MPS is not available here")
    elif device.type != "cpu":
        raise DeviceError(f"{where}{key} = {value!r}: pdesurr runs on cpu, cuda or mps")
    return device
