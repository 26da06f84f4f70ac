"""Checkpoints: atomic save, safe load, clear errors, pruned specs rebuilt exactly."""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest
import torch

from surg_perception.checkpoint import (
    load_checkpoint_dict,
    load_model,
    load_spec_from_checkpoint,
    save_checkpoint,
)
from surg_perception.errors import CheckpointError
from surg_perception.models.registry import build_model


class _Payload:
    """An object whose unpickling runs code: it creates ``marker`` when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture
def saved(tmp_path, tiny_no_memory):
    model = build_model(tiny_no_memory.model).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(1, 3, 64, 64))[0].seg_logits.sum().backward()
    optimizer.step()
    extra = {"epoch": 2, "optimizer": optimizer.state_dict()}
    return save_checkpoint(tmp_path / "ckpt" / "m.pt", model, tiny_no_memory, extra), model


def test_save_is_atomic_and_round_trips_spec_and_extra(saved):
    path, model = saved
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left behind
    data = load_checkpoint_dict(path)
    assert data["format_version"] == 1 and data["extra"]["epoch"] == 2
    assert "momentum_buffer" in data["extra"]["optimizer"]["state"][0]
    spec = load_spec_from_checkpoint(path)
    assert dict(spec.model.channel_widths) == dict(model.encoder.channel_widths())
    loaded, _ = load_model(path)
    assert not loaded.training


def test_save_removes_temp_files_of_killed_writers(saved, tiny_no_memory):
    path, model = saved
    stale = path.parent / f".{path.name}.abc123.tmp"  # what a SIGKILL mid-save leaves
    stale.write_bytes(b"partial")
    other = path.parent / ".other.pt.abc123.tmp"  # another checkpoint's writer: untouched
    other.write_bytes(b"partial")
    save_checkpoint(path, model, tiny_no_memory)
    assert not stale.exists() and other.exists()


def test_missing_and_truncated(tmp_path, saved):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(cut)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "surg_perception.checkpoint", "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        load_model(plain)
    assert not marker.exists()


def test_wrong_format_and_version(tmp_path, saved):
    bare = tmp_path / "bare.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bare)
    with pytest.raises(CheckpointError, match="save_checkpoint"):
        load_model(bare)
    data = load_checkpoint_dict(saved[0])
    data["format_version"] = 99
    future = tmp_path / "future.pt"
    torch.save(data, future)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_model(future)


def test_state_dict_mismatch_names_the_keys(tmp_path, saved):
    data = load_checkpoint_dict(saved[0])
    missing = next(k for k in data["state_dict"] if k.startswith("seg_decoder.head."))
    del data["state_dict"][missing]
    data["state_dict"]["det_head.cls_convs.0.bias"] = torch.zeros(3)
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)
    with pytest.raises(CheckpointError) as info:
        load_model(bad)
    assert missing in str(info.value)
    assert "det_head.cls_convs.0.bias: checkpoint (3,)" in str(info.value)


def test_pruned_model_saves_its_widths(tmp_path, tiny_no_memory):
    pruned_spec = dataclasses.replace(tiny_no_memory, model=dataclasses.replace(
        tiny_no_memory.model, channel_widths=(("block4.project", 5), ("extra1_2", 3))))
    model = build_model(pruned_spec.model).eval()
    # save with the *unpruned* spec: the widths are read back from the model itself
    path = save_checkpoint(tmp_path / "p.pt", model, tiny_no_memory)
    loaded, spec = load_model(path)
    assert dict(spec.model.channel_widths)["block4.project"] == 5
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x)[0].det_logits, loaded(x)[0].det_logits)
