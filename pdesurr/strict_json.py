"""Strict JSON for the files pdesurr writes (metrics.jsonl, summary.json).

RFC 8259 has no NaN or Infinity, and Python's ``json`` writes them as bare ``NaN`` and
``Infinity``, which other readers (``jq``, JavaScript, many JSON-lines tools) reject. A
non-finite number is written as the string ``"nan"``, ``"inf"`` or ``"-inf"`` (a
correlation time of ``inf`` means "never fell below the threshold"), so every file parses
everywhere and the value is not lost; ``float(value)`` reads it back.
"""

from __future__ import annotations

import json
import math


def finite_or_text(value):
    """``value`` with every non-finite float replaced by its text (nested containers too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_text(v) for v in value]
    return value


def dumps(value, **kwargs) -> str:
    return json.dumps(finite_or_text(value), allow_nan=False, **kwargs)
