"""Keep per-step temporaries off fresh kernel pages (glibc's malloc): solver steps and
training steps.

A pseudo-spectral step allocates temporaries of a few hundred kB to a few MB, most of them
inside ``torch.fft`` (which copies its input and stages multi-axis transforms), where no
``out=`` reaches. glibc's ``malloc`` serves blocks above ``M_MMAP_THRESHOLD`` (128 kB at
start-up) with ``mmap`` and trims the heap top above ``M_TRIM_THRESHOLD``; both adapt only
when a larger ``mmap``-ed block is freed (``mallopt(3)``, "dynamic mmap threshold"). Until
then a young process gets fresh, zeroed pages for every temporary of every step: ~550
page faults per step for the 128² QG model, 2-3x its steady cost, until some larger block
happens to be freed (the issue measured 1.6 ms instead of 0.6 ms for the first ~1000
steps). ``MALLOC_MMAP_THRESHOLD_`` fixes it only for those who know the variable.

:func:`prime_allocator` triggers glibc's own adaptation once per process: it allocates
and frees one 16 MiB block (above the threshold, so ``mmap``-ed), after which glibc serves
blocks up to 16 MiB from the heap and trims only above 32 MiB. It changes no setting and
keeps the adaptation dynamic; on other allocators it is a harmless allocation.
``Stepper`` and ``fit`` call it: a training step's activations and gradients are blocks of
the same sizes: a fresh, unprimed trainer process ran the Kolmogorov model of
``benchmarks/stream.py`` measurably slower than a warm one (2026-12-01).
"""

from __future__ import annotations

import torch

PRIME_BYTES = 16 << 20  # below glibc's 32 MiB cap on the dynamic threshold (64-bit)
_primed = False


def prime_allocator() -> None:
    """Allocate and free one ``PRIME_BYTES`` CPU block, once per process."""
    global _primed
    if not _primed:
        block = torch.empty(PRIME_BYTES, dtype=torch.uint8)
        del block
        _primed = True
