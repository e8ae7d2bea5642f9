"""Fault injection: each case of issue 11 (data lost, corruption hidden, tracebacks) as a test.

Every test here fails on the code before its fix; the README section "What pdesurr
guarantees" names them. Stores and checkpoints are tiny (KS at 32 points) so the suite
runs in seconds.
"""

from __future__ import annotations

import math

import torch

from pdesurr.evaluation import metrics


# --- metrics named after other projects -------------------------------------------------
def test_vrmse_matches_the_well_definition():
    # The Well (the_well/benchmark/metrics/spatial.py): VRMSE = sqrt(MSE / (torch.std(y)**2
    # + 1e-7)) over the spatial axes, per field; torch.std is the unbiased (N - 1) estimate.
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 4, 2, 5, 6, dtype=torch.float64, generator=g)
    true = torch.randn(3, 4, 2, 5, 6, dtype=torch.float64, generator=g) * 0.3 + 1.0
    expected = torch.empty(3, 4, dtype=torch.float64)
    for b in range(3):
        for t in range(4):
            per_field = []
            for c in range(2):
                y, x = true[b, t, c].flatten().tolist(), pred[b, t, c].flatten().tolist()
                n = len(y)
                mean = sum(y) / n
                var = sum((v - mean) ** 2 for v in y) / (n - 1)
                mse = sum((a - v) ** 2 for a, v in zip(x, y, strict=True)) / n
                per_field.append(math.sqrt(mse / (var + 1e-7)))
            expected[b, t] = sum(per_field) / 2
    got = metrics.vrmse_the_well(pred, true)
    # float64 sums of 30 terms: agreement to rounding, far below the sqrt(30/29) ~ 1.7% bug
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_nrmse_matches_pdebench_definition():
    # PDEBench (pdebench/models/metrics.py, metric_func): per sample, channel and time
    # sqrt(mean_S (p - t)^2) / sqrt(mean_S t^2), no epsilon; averaged over the channels.
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 3, 3, 16, dtype=torch.float64, generator=g)
    true = torch.randn(2, 3, 3, 16, dtype=torch.float64, generator=g) + 0.5
    expected = torch.empty(2, 3, dtype=torch.float64)
    for b in range(2):
        for t in range(3):
            ratios = []
            for c in range(3):
                x, y = pred[b, t, c].tolist(), true[b, t, c].tolist()
                rmse = math.sqrt(sum((a - v) ** 2 for a, v in zip(x, y, strict=True)) / 16)
                ratios.append(rmse / math.sqrt(sum(v * v for v in y) / 16))
            expected[b, t] = sum(ratios) / 3
    # float64 sums of 16 terms: agreement to rounding
    torch.testing.assert_close(metrics.nrmse_pdebench(pred, true), expected, rtol=1e-12, atol=1e-12)
