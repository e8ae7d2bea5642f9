"""Checkpoints, written against mutants: fast unit tests of save/load/verify/recover/READERS.

Expected values come from outside the module: hashes from ``hashlib`` over the bytes on
disk, file contents read back with ``safetensors``/``torch.load``/``json`` directly, error
messages as the module documents them, and the directory states of an interrupted save
(``.tmp``/``.old``) built here by hand. A tiny FNO (16 tensors) keeps each test in
milliseconds, so ``mutmut`` can run these against every mutant of :mod:`pdesurr.checkpoints`.
"""

import dataclasses
import errno
import hashlib
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import pdesurr
from pdesurr.checkpoints import files as ck
from pdesurr.checkpoints.files import (
    FORMAT,
    CheckpointError,
    file_hash,
    load_training_state,
    load_weights,
    recover,
    save_checkpoint,
    verify_file,
)
from pdesurr.checkpoints.readers import (
    READERS,
    build_model,
    checkpoint_format,
    load_surrogate,
    read_config,
)
from pdesurr.models import MODELS

ARGS = {"in_channels": 2, "out_channels": 1, "ndim": 1, "modes": 2, "width": 4, "layers": 1}


def sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return MODELS["fno"](**ARGS)


def config(**data) -> dict:
    layout = {"history": 2, "channels": 1, "predict": "state", "mean": None, "std": None}
    return {"model": {"kind": "fno", "args": ARGS}, "data": {**layout, **data}, "step": 3}


def save(path, seed=0, state=None, **data):
    model = tiny(seed)
    return save_checkpoint(path, model.state_dict(), config(**data), state), model


def test_file_hash_is_sha256_of_the_bytes_across_blocks(tmp_path):
    f = tmp_path / "blob"
    # 2.5 blocks of 1 MiB: the read loop must hash every block, the partial last one too
    data = torch.randint(0, 256, ((5 << 20) // 2,), dtype=torch.uint8).numpy().tobytes()
    f.write_bytes(data)
    assert file_hash(f) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert ck.HASH_BLOCK == 1 << 20 and ck.HASHED == ("model.safetensors", "training_state.pt")


def test_save_writes_the_three_files_with_their_hashes(tmp_path):
    path = tmp_path / "ckpt"
    state = {"step": torch.tensor(3), "w": torch.arange(4.0)}
    out, model = save(path, state=state)
    assert out == path and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "training_state.pt",
    ]
    raw = json.loads((path / "config.json").read_text())
    assert raw["format"] == "pdesurr.checkpoint" == FORMAT and raw["format_version"] == 1
    assert raw["pdesurr_version"] == pdesurr.__version__
    assert raw["model"] == {"kind": "fno", "args": ARGS} and raw["step"] == 3
    assert raw["hashes"] == {
        "model.safetensors": sha(path / "model.safetensors"),
        "training_state.pt": sha(path / "training_state.pt"),
    }
    assert list(raw)[-1] == "hashes"  # written after the caller's keys: they cannot replace it
    # one-space indentation: a human-readable file, diffable line by line
    assert (path / "config.json").read_text().splitlines()[1].startswith(' "format"')
    weights = load_file(path / "model.safetensors")
    own = model.state_dict()
    assert weights.keys() == own.keys() and all(torch.equal(weights[k], own[k]) for k in own)
    back = torch.load(path / "training_state.pt", weights_only=True)
    assert torch.equal(back["w"], state["w"]) and int(back["step"]) == 3


def test_save_without_state_and_with_awkward_values(tmp_path):
    path = tmp_path / "ckpt"
    # a non-contiguous view that requires grad: stored as plain contiguous data
    w = torch.arange(6.0).reshape(2, 3).t().requires_grad_(True)
    save_checkpoint(path, {"w": w}, {"where": tmp_path, "hashes": "caller's"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    raw = json.loads((path / "config.json").read_text())
    assert raw["hashes"] == {"model.safetensors": sha(path / "model.safetensors")}
    assert raw["where"] == str(tmp_path)  # non-JSON values are written as strings
    assert torch.equal(load_file(path / "model.safetensors")["w"], w.detach())
    assert raw["format"] == FORMAT and raw["format_version"] == 1


def test_caller_keys_override_the_defaults_but_not_the_hashes(tmp_path):
    save_checkpoint(tmp_path / "c", {"w": torch.ones(1)}, {"format_version": 7})
    raw = json.loads((tmp_path / "c" / "config.json").read_text())
    assert raw["format_version"] == 7 and raw["format"] == FORMAT


def test_save_replaces_the_previous_checkpoint_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "ckpt"
    save(path, seed=0)
    (tmp_path / "ckpt.tmp").mkdir()  # a stale .tmp from an earlier crash
    (tmp_path / "ckpt.tmp" / "junk").write_text("x")
    _, second = save(path, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    weights = load_file(path / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in second.state_dict().items())


def test_stale_tmp_is_removed_even_when_the_checkpoint_is_missing(tmp_path):
    path = tmp_path / "ckpt"
    (tmp_path / "ckpt.tmp").mkdir()  # incomplete: no config.json, nothing to recover
    (tmp_path / "ckpt.tmp" / "junk").write_text("x")
    save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert not (path / "junk").exists()


@pytest.mark.parametrize(
    "error,code,reason",
    [
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC, "no space left on device"),
        (RuntimeError("No space left on device (os 28)"), errno.ENOSPC, "no space left on device"),
        (OSError(errno.EACCES, "Permission denied"), errno.EACCES, "Permission denied"),
        (RuntimeError("boom"), errno.EIO, "boom"),
    ],
)
def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, error, code, reason):
    path = tmp_path / "ckpt"
    save(path, state={"a": torch.zeros(1)})
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ck.torch, "save", fail)
    with pytest.raises(OSError) as info:
        save(path, seed=1, state={"a": torch.ones(1)})
    tmp = tmp_path / "ckpt.tmp"
    assert info.value.errno == code and info.value.filename == str(tmp)
    assert str(info.value.strerror) == (
        f"{reason} while writing the checkpoint {tmp}; the previous checkpoint {path} is intact"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_failed_first_save_says_nothing_about_a_previous_one(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(ck.torch, "save", fail)
    with pytest.raises(OSError) as info:
        save(tmp_path / "ckpt", state={})
    tmp = tmp_path / "ckpt.tmp"
    assert info.value.strerror == f"Read-only file system while writing the checkpoint {tmp}"
    assert info.value.errno == errno.EROFS and list(tmp_path.iterdir()) == []


def test_failed_save_without_errno_is_an_io_error(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk went away")  # an OSError with neither errno nor strerror

    monkeypatch.setattr(ck.torch, "save", fail)
    with pytest.raises(OSError) as info:
        save(tmp_path / "ckpt", state={})
    assert info.value.errno == errno.EIO
    assert info.value.strerror.startswith("disk went away while writing")


def test_fsync_is_called_for_every_written_file(tmp_path, monkeypatch):
    synced = []
    real = ck.os.fsync

    def spy(fd):
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(ck.os, "fsync", spy)
    save(tmp_path / "ckpt", state={"a": torch.zeros(1)})
    assert len(synced) == 3  # model, training state, config
    synced.clear()
    save(tmp_path / "other")
    assert len(synced) == 2


def test_fsync_opens_the_file_for_reading(tmp_path, monkeypatch):
    modes = []
    real_open = open

    def spy(file, mode="r", *args, **kwargs):
        modes.append(mode)
        return real_open(file, mode, *args, **kwargs)

    f = tmp_path / "f"
    f.write_bytes(b"abc")
    monkeypatch.setattr("builtins.open", spy)
    ck._fsync(f)
    assert modes == ["rb"] and f.read_bytes() == b"abc"


# --- recovery -------------------------------------------------------------------------
def test_recover_cleans_leftovers_beside_a_checkpoint(tmp_path):
    path = tmp_path / "ckpt"
    assert recover(path) is None  # nothing at all
    save(path)
    assert recover(path) is None  # nothing left over
    shutil.copytree(path, tmp_path / "ckpt.tmp")
    assert recover(path) == "cleaned" and not (tmp_path / "ckpt.tmp").exists()
    shutil.copytree(path, tmp_path / "ckpt.old")
    assert recover(path) == "cleaned" and not (tmp_path / "ckpt.old").exists()
    shutil.copytree(path, tmp_path / "ckpt.tmp")
    shutil.copytree(path, tmp_path / "ckpt.old")
    assert recover(path) == "cleaned"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_recover_promotes_a_complete_tmp(tmp_path):
    path = tmp_path / "ckpt"
    save(tmp_path / "new", seed=1)
    save(tmp_path / "prev", seed=0)
    (tmp_path / "new").rename(tmp_path / "ckpt.tmp")
    (tmp_path / "prev").rename(tmp_path / "ckpt.old")
    new_hashes = json.loads((tmp_path / "ckpt.tmp" / "config.json").read_text())["hashes"]
    assert recover(path) == "tmp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert json.loads((path / "config.json").read_text())["hashes"] == new_hashes
    save(tmp_path / "lone")  # a complete .tmp and no .old
    (tmp_path / "lone").rename(tmp_path / "x.tmp")
    assert recover(tmp_path / "x") == "tmp" and (tmp_path / "x" / "config.json").is_file()


@pytest.mark.parametrize("damage", ["bytes", "missing file", "no hashes", "bad json", "none"])
def test_recover_falls_back_to_old_when_tmp_is_incomplete(tmp_path, damage):
    path = tmp_path / "ckpt"
    save(tmp_path / "ckpt.old", seed=0)
    old_hashes = json.loads((tmp_path / "ckpt.old" / "config.json").read_text())["hashes"]
    if damage != "none":
        save(tmp_path / "ckpt.tmp", seed=1, state={"a": torch.zeros(3)})
        tmp = tmp_path / "ckpt.tmp"
        cfg = tmp / "config.json"
        if damage == "bytes":
            (tmp / "training_state.pt").write_bytes(b"cut short")
        elif damage == "missing file":
            (tmp / "training_state.pt").unlink()
        elif damage == "no hashes":
            cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "hashes": None}))
        else:
            cfg.write_text("{not json")
    assert recover(path) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert json.loads((path / "config.json").read_text())["hashes"] == old_hashes


def test_recover_keeps_an_incomplete_tmp_without_old(tmp_path):
    (tmp_path / "ckpt.tmp").mkdir()
    assert recover(tmp_path / "ckpt") is None and (tmp_path / "ckpt.tmp").exists()


# --- integrity ------------------------------------------------------------------------
def test_verify_file_checks_the_recorded_hash(tmp_path):
    path = tmp_path / "ckpt"
    save(path, state={"a": torch.zeros(3)})
    verify_file(path, "model.safetensors")
    verify_file(str(path), "training_state.pt")  # a str path works too
    verify_file(path, "not-recorded.bin")  # no hash recorded for it: nothing to check
    f = path / "training_state.pt"
    recorded = sha(f)
    f.write_bytes(f.read_bytes() + b"\0")
    got = sha(f)
    msg = (
        f"{f}: content hash {got[:19]}... differs from the {recorded[:19]}... recorded in "
        "config.json: the file is corrupted or was modified; refusing to load it"
    )
    with pytest.raises(CheckpointError) as info:
        verify_file(path, "training_state.pt")
    assert str(info.value) == msg and isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["{broken", '{"hashes": null}', '{"step": 1}'])
def test_verify_file_without_usable_hashes_checks_nothing(tmp_path, text):
    path = tmp_path / "ckpt"
    save(path)
    (path / "model.safetensors").write_bytes(b"anything")
    (path / "config.json").write_text(text)
    verify_file(path, "model.safetensors")
    (path / "config.json").unlink()
    verify_file(path, "model.safetensors")  # no config at all


def test_load_weights_round_trip_and_hash_check(tmp_path):
    path = tmp_path / "ckpt"
    _, model = save(path, seed=4)
    other = tiny(seed=5)
    load_weights(str(path), other)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in model.state_dict().items())
    # valid safetensors, different values: only the hash tells
    weights = load_file(path / "model.safetensors")
    weights = {k: v + 1 for k, v in weights.items()}
    save_file(weights, path / "model.safetensors")
    with pytest.raises(CheckpointError, match="content hash sha256:"):
        load_weights(path, tiny())


def test_load_weights_from_another_file_name(tmp_path):
    model = tiny(seed=2)
    save_file(model.state_dict(), tmp_path / "ema.safetensors")
    other = tiny(seed=3)
    load_weights(tmp_path, other, file="ema.safetensors")
    assert all(torch.equal(other.state_dict()[k], v) for k, v in model.state_dict().items())


def test_load_weights_messages(tmp_path):
    model = tiny()
    weights = model.state_dict()
    names = sorted(weights)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError) as info:
        load_weights(tmp_path, model)
    assert str(info.value).startswith(
        f"{tmp_path / 'model.safetensors'}: unreadable weights (corrupted or truncated?): "
    )
    with pytest.raises(CheckpointError, match=r"unreadable weights"):
        load_weights(tmp_path, model, file="absent.safetensors")

    def refused(w) -> str:
        save_file(w, tmp_path / "model.safetensors")
        with pytest.raises(CheckpointError) as info:
            load_weights(tmp_path, model)
        return str(info.value)

    head = f"{tmp_path / 'model.safetensors'} does not match the model FNO: "
    six = names[:6]
    assert refused({k: v for k, v in weights.items() if k not in six}) == (
        head + f"missing: {six[:5]}..."
    )
    assert refused({**weights, "extra": torch.zeros(1)}) == head + "unexpected: ['extra']"
    first = names[0]
    wrong = {**weights, first: torch.zeros(3, 3, 3, 3)}
    both = {k: v for k, v in wrong.items() if k != names[1]}
    assert refused(wrong) == head + f"shape mismatch: ['{first}']"
    assert refused({**both, "z": torch.zeros(1)}) == (
        head + f"missing: ['{names[1]}']; unexpected: ['z']; shape mismatch: ['{first}']"
    )
    five = {k: v for k, v in weights.items() if k not in names[:5]}
    assert refused(five) == head + f"missing: {names[:5]}"  # exactly five: no ellipsis


def test_build_model_and_its_message():
    model = build_model({"model": {"kind": "fno", "args": ARGS}})
    assert type(model) is type(tiny()) and model.state_dict().keys() == tiny().state_dict().keys()
    with pytest.raises(CheckpointError) as info:
        build_model({"model": {"kind": "fno", "args": {**ARGS, "depth": 3}}})
    assert str(info.value).startswith("checkpoint model arguments do not fit fno: ")
    assert "depth" in str(info.value) and info.value.__cause__ is None


def test_load_training_state(tmp_path):
    path = tmp_path / "ckpt"
    state = {"step": 7, "t": torch.arange(3.0), "nested": {"rng": torch.tensor([1, 2])}}
    save(path, state=state)
    back = load_training_state(str(path))
    assert back["step"] == 7 and torch.equal(back["t"], state["t"])
    assert torch.equal(back["nested"]["rng"], state["nested"]["rng"])
    save(tmp_path / "weights_only")
    with pytest.raises(CheckpointError) as info:
        load_training_state(tmp_path / "weights_only")
    file = tmp_path / "weights_only" / "training_state.pt"
    assert str(info.value) == f"{file}: missing (a weights-only checkpoint cannot resume training)"
    (path / "training_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="content hash"):  # the hash check comes first
        load_training_state(path)
    (path / "config.json").write_text("{}")  # no hashes: the unpickler itself must refuse
    with pytest.raises(CheckpointError) as info:
        load_training_state(path)
    prefix = f"{path / 'training_state.pt'}: cannot be read safely (corrupted?): "
    assert str(info.value).startswith(prefix) and info.value.__cause__ is None


class Payload:
    """An arbitrary object: ``weights_only`` loading must refuse to rebuild it."""


def test_training_state_is_loaded_without_unpickling_objects(tmp_path):
    path = tmp_path / "ckpt"
    save(path, state={"ok": 1})
    torch.save({"obj": Payload()}, path / "training_state.pt")  # an object: needs pickle
    (path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        load_training_state(path)


def test_training_state_lands_on_the_cpu(tmp_path, monkeypatch):
    seen = {}
    real = ck.torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    save(tmp_path / "ckpt", state={"a": torch.zeros(1)})
    monkeypatch.setattr(ck.torch, "load", spy)
    load_training_state(tmp_path / "ckpt")
    assert seen == {"weights_only": True, "map_location": "cpu"}


# --- formats --------------------------------------------------------------------------
def test_read_config_returns_the_config_with_its_format(tmp_path):
    path = tmp_path / "ckpt"
    save(path)
    got = read_config(str(path))
    raw = json.loads((path / "config.json").read_text())
    assert got == {**raw, "format": FORMAT} and got["step"] == 3


def test_read_config_messages(tmp_path):
    path = tmp_path / "ckpt"
    with pytest.raises(CheckpointError) as info:
        read_config(path)
    assert str(info.value) == f"{path}: not a checkpoint directory (no config.json)"
    (tmp_path / "ckpt.tmp").mkdir()
    (tmp_path / "ckpt.old").mkdir()
    with pytest.raises(CheckpointError) as info:
        read_config(path)
    assert str(info.value) == (
        f"{path}: not a checkpoint directory (no config.json) (ckpt.tmp, ckpt.old left by an "
        "interrupted save: `pdesurr train` recovers it)"
    )
    shutil.rmtree(tmp_path / "ckpt.tmp")
    with pytest.raises(CheckpointError, match=r"\(ckpt.old left by an interrupted save"):
        read_config(path)
    path.mkdir()
    file = path / "config.json"
    file.write_text("{nope")
    with pytest.raises(CheckpointError, match=r"config.json: corrupt JSON \(Expecting"):
        read_config(path)
    file.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        read_config(path)
    file.write_text("[1, 2]")
    with pytest.raises(CheckpointError) as info:
        read_config(path)
    assert str(info.value) == f"{file}: corrupt (not a JSON object)"
    file.write_text(json.dumps({"format": FORMAT, "model": {"kind": "mlp9"}}))
    with pytest.raises(CheckpointError) as info:
        read_config(path)
    assert str(info.value) == (f"{file}: unknown model 'mlp9'; this pdesurr knows {sorted(MODELS)}")
    file.write_text(json.dumps({"format": FORMAT}))
    with pytest.raises(CheckpointError, match="unknown model None"):
        read_config(path)


def test_checkpoint_format_dispatch(tmp_path, monkeypatch):
    assert checkpoint_format(tmp_path, {"format": FORMAT}) == FORMAT
    msg = (
        f"{tmp_path / 'config.json'}: not a checkpoint this pdesurr reads (format {{f}}; "
        f"known formats: {{k}})"
    )
    with pytest.raises(CheckpointError) as info:
        checkpoint_format(tmp_path, {"format": "other"})
    assert str(info.value) == msg.format(f="'other'", k=sorted(READERS))
    with pytest.raises(CheckpointError) as info:  # pdesurr's own format never claims
        checkpoint_format(tmp_path, {"model": {"kind": "fno"}})
    assert str(info.value) == msg.format(f="None", k=sorted(READERS))
    assert READERS[FORMAT].claims({"model_type": "toy-format"}) is False

    # a foreign layout without a format key joins as one READERS entry that claims it
    toy = dataclasses.replace(
        READERS[FORMAT],
        claims=lambda raw: raw.get("model_type") == "toy-format",
        config=lambda path, raw: {"model": {"kind": "fno", "args": ARGS}, "raw": raw},
        surrogate=lambda path, config: ("surrogate of", path),
    )
    monkeypatch.setitem(READERS, "toy", toy)
    assert checkpoint_format(tmp_path, {"model_type": "toy-format"}) == "toy"
    with pytest.raises(CheckpointError, match=r"format None; known formats: \["):
        checkpoint_format(tmp_path, {"model_type": "bert"})
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy-format"}))
    assert read_config(tmp_path) == {
        "model": {"kind": "fno", "args": ARGS},
        "raw": {"model_type": "toy-format"},
        "format": "toy",
    }


def test_load_surrogate_builds_the_stepper(tmp_path):
    path = tmp_path / "ckpt"
    _, model = save(path, seed=6, mean=[0.5], std=[2.0], predict="residual")
    surrogate, cfg = load_surrogate(str(path))
    assert cfg == read_config(path) and not surrogate.training
    assert surrogate.history == 2 and surrogate.channels == 1 and surrogate.predict == "residual"
    assert surrogate.mean.tolist() == [0.5] and surrogate.std.tolist() == [2.0]
    own = model.state_dict()
    assert all(torch.equal(surrogate.model.state_dict()[k], v) for k, v in own.items())
    assert surrogate.mean.device.type == "cpu"

    save(tmp_path / "plain", seed=6)
    plain, _ = load_surrogate(tmp_path / "plain", device="meta")  # device is honoured
    assert plain.mean.device.type == "meta" and plain.predict == "state"
    plain, _ = load_surrogate(tmp_path / "plain")
    assert plain.mean.tolist() == [0.0] and plain.std.tolist() == [1.0]  # defaults: identity


def test_save_creates_missing_parent_directories(tmp_path):
    path = tmp_path / "runs" / "a" / "checkpoint"
    save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint"]
    assert read_config(path)["step"] == 3


def test_save_under_a_file_is_a_clean_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    path = tmp_path / "file" / "ckpt"
    with pytest.raises(OSError) as info:
        save(path)
    # the failed mkdir leaves no .tmp to clean up: the cleanup must not raise instead
    assert "while writing the checkpoint" in str(info.value.strerror)
    assert info.value.filename == str(tmp_path / "file" / "ckpt.tmp")


def test_full_disk_is_recognised_by_errno_alone(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "quota exceeded")  # no "No space left" in the text

    monkeypatch.setattr(ck.torch, "save", fail)
    with pytest.raises(OSError) as info:
        save(tmp_path / "ckpt", state={})
    assert info.value.errno == errno.ENOSPC
    assert info.value.strerror.startswith("no space left on device while writing")


def test_crash_between_the_renames_is_recovered(tmp_path, monkeypatch):
    """The documented protocol: current -> ``.old``, ``.tmp`` -> current. A crash after the
    first rename leaves ``<path>.old`` (the previous checkpoint) and a complete ``.tmp``."""
    import pathlib

    path = tmp_path / "ckpt"
    save(path, seed=0)
    previous = (path / "config.json").read_text()
    real = pathlib.Path.rename

    def crash(self, target):
        if self.name.endswith(".tmp"):
            raise KeyboardInterrupt  # the process dies here
        return real(self, target)

    monkeypatch.setattr(pathlib.Path, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        save(path, seed=1)
    monkeypatch.setattr(pathlib.Path, "rename", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.old", "ckpt.tmp"]
    assert (tmp_path / "ckpt.old" / "config.json").read_text() == previous
    assert recover(path) == "tmp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_read_config_of_an_unknown_format_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError) as info:
        read_config(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'config.json'}: not a checkpoint this")
