"""The CLI's thread policy: free cores, MPI shares, and the oversubscription warning."""

import pytest

from pdesurr.cli.threads import apply_thread_policy, choose_threads


@pytest.mark.parametrize(
    "requested,ranks,cores,busy,expected,warns",
    [
        (None, 1, 2, 0.0, 2, False),  # quiet machine: every core
        (None, 1, 2, 1.0, 1, False),  # another process holds a core: the free one
        (None, 1, 2, 5.0, 1, False),  # all busy: never fewer than 1
        (None, 1, 16, 3.4, 13, False),  # round(16 - 3.4)
        (None, 4, 16, 9.0, 4, False),  # MPI: the node's cores per rank, load ignored
        (None, 3, 2, 0.0, 1, False),  # more ranks than cores: 1 each
        (2, 1, 2, 0.0, 2, False),  # as asked
        (4, 1, 2, 0.0, 4, True),  # more than the cores
        (2, 2, 2, 0.0, 2, True),  # 2 ranks x 2 threads on 2 cores
    ],
)
def test_choose_threads(requested, ranks, cores, busy, expected, warns):
    threads, warning = choose_threads(requested, ranks, cores, busy)
    assert threads == expected
    assert (warning is not None) == warns
    if warns:
        assert f"--threads {requested}" in warning and "oversubscribes" in warning


def test_omp_num_threads_counts_as_a_request(capsys):
    import torch

    before = torch.get_num_threads()
    try:
        assert apply_thread_policy(None, 1, environ={"OMP_NUM_THREADS": "1"}) == 1
        assert torch.get_num_threads() == 1
        apply_thread_policy(None, 1, environ={"OMP_NUM_THREADS": "999"})
        assert "pdesurr: warning: --threads 999 oversubscribes" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
