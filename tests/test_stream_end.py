"""A finite stream that ends before the requested steps: keep training, or stop (in-process)."""

import pytest
import torch
from test_online import recipe, spec_file  # noqa: F401 (the module's fixture)

from pdesurr.config import ConfigError
from pdesurr.stream.buffer import Sample
from pdesurr.stream.buffers import ReservoirBuffer
from pdesurr.training.online import online_config, run_online


def finite(spec_file, tmp_path, **online):  # noqa: F811
    # 6 trajectories x 6 windows = 36 samples, far fewer than 40 steps x batch 8 = 320
    r = recipe(spec_file, tmp_path / "run", producers=1, buffer="reservoir", **online)
    r.optim["steps"] = 40
    return r


def test_reservoir_keeps_training_to_the_requested_steps(spec_file, tmp_path):  # noqa: F811
    messages = []
    result, ledger = run_online(finite(spec_file, tmp_path), progress=False, log=messages.append)
    assert sum(ledger.received.values()) == 36 and ledger.done == set(range(6))
    assert result.step == 40  # the default for a reservoir: what a user asking for 40 expects
    assert any("stream has ended" in m and "continue" in m for m in messages), messages
    assert not any("training stops" in m for m in messages), messages


def test_stop_option_stops_early_and_says_so(spec_file, tmp_path):  # noqa: F811
    messages = []
    r = finite(spec_file, tmp_path, when_done="stop")
    result, _ = run_online(r, progress=False, log=messages.append)
    assert result.step < 40
    assert any("training stops before the requested steps" in m for m in messages), messages
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").exists()


def test_max_reuse_bounds_the_replay(spec_file, tmp_path):  # noqa: F811
    messages = []
    r = finite(spec_file, tmp_path, max_reuse=2)
    result, _ = run_online(r, progress=False, log=messages.append)
    # at most 36 x 2 = 72 serves after the end: fewer than the 320 that 40 steps need
    assert result.step < 40
    assert any("used 2 times" in m for m in messages), messages


def test_replay_after_close_retires_spent_samples():
    buf = ReservoirBuffer(8, 1, seed=0)
    for i in range(5):
        buf.put(Sample(torch.zeros(1, 1, 2), torch.zeros(0), i, 0))
    buf.replay_after_close(3)
    buf.close()
    served = []
    while batch := buf.get_batch(2):
        served += [s.trajectory for s in batch]
    assert sorted(served) == sorted(list(range(5)) * 3)  # each sample exactly max_reuse times


def test_when_done_is_checked(spec_file, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match="online.when_done"):
        online_config(finite(spec_file, tmp_path, when_done="later"))
    assert online_config(recipe(spec_file, tmp_path, buffer="fifo"))["when_done"] == "stop"
