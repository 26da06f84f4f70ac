"""Self-describing checkpoints: save atomically, load safely, rebuild the exact model.

A checkpoint is a plain dict (see docs/design.md, "Checkpoint contract")::

    {"format": "surg_perception.checkpoint", "format_version": 1,
     "spec": to_dict(spec), "state_dict": ..., "extra": {...}}

``spec.model.channel_widths`` is written from the model itself, so a pruned model rebuilds
at its pruned widths. Loading uses ``torch.load(weights_only=True)``: a file that would need
arbitrary code to unpickle is refused, never executed.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import os
from pathlib import Path
import pickle
import tempfile
from typing import Any

import torch
from torch import nn

from surg_perception.config import ModelConfig, ModelSpec, spec_from_dict, to_dict
from surg_perception.errors import CheckpointError, ConfigError
from surg_perception.models.channels import has_prunable_encoder, read_channel_widths
from surg_perception.models.registry import build_model

FORMAT = "surg_perception.checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | Path, model: nn.Module, spec: ModelSpec, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights with ``spec`` to ``path`` atomically (temp file + rename).

    ``extra`` may hold training state (epoch, optimizer ``state_dict()``, metrics); it must
    contain only tensors and plain Python containers/scalars, or loading would refuse it.
    """
    path = Path(path)
    if has_prunable_encoder(model):
        spec = dataclasses.replace(
            spec, model=dataclasses.replace(spec.model, channel_widths=read_channel_widths(model))
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": to_dict(spec),
        "state_dict": model.state_dict(),
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # A writer killed mid-save (SIGKILL skips the cleanup above) leaves its temp file behind.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint dict (weights stay on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}; check the path (or train one)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: it contains Python objects that plain weights never "
            f"need ({_first_line(exc)}). Only load checkpoints written by save_checkpoint from "
            "a source you trust; re-save the weights with save_checkpoint"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: unreadable or truncated checkpoint ({_first_line(exc)}); re-copy or "
            "re-save it"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a surg_perception checkpoint (no format tag {FORMAT!r}); a bare "
            "state_dict must be wrapped with save_checkpoint(path, model, spec)"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format_version {data.get('format_version')!r}, this version "
            f"reads {FORMAT_VERSION}; convert it with the release that wrote it"
        )
    missing = [key for key in ("spec", "state_dict") if key not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}; re-save it")
    return data


def load_spec_from_checkpoint(path: str | Path) -> ModelSpec:
    """The :class:`ModelSpec` stored in a checkpoint (no model is built)."""
    data = load_checkpoint_dict(path)
    try:
        return stored_spec(data)
    except ConfigError as exc:
        raise CheckpointError(
            f"{path}: its stored spec does not match this version's config ({exc})"
        ) from exc


def stored_spec(data: dict[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` of a checkpoint dict.

    Checkpoints written before the initialisation paths moved to the training config carry
    ``model.pretrained_path`` / ``model.endoarss.backbone_weights``; every weight is in the
    file, so those paths (another machine's files) are dropped, never opened.
    """
    spec = dict(data["spec"])
    if isinstance(spec.get("model"), dict):
        model = {k: v for k, v in spec["model"].items() if k != "pretrained_path"}
        if isinstance(model.get("endoarss"), dict):
            model["endoarss"] = {k: v for k, v in model["endoarss"].items()
                                 if k != "backbone_weights"}
        spec["model"] = model
    return spec_from_dict(spec)


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model from the stored spec, load its weights; returns ``(model, spec)``.

    The model is returned in eval mode on ``device``; every weight comes from the checkpoint.
    """
    data = load_checkpoint_dict(path)
    try:
        spec = stored_spec(data)
        model = rebuild(spec.model, data["state_dict"], path)
    except ConfigError as exc:
        raise CheckpointError(
            f"{path}: cannot rebuild the model from its stored spec ({exc})"
        ) from exc
    return model.to(device).eval(), spec


def rebuild(cfg: ModelConfig, state: Mapping[str, torch.Tensor], where: str | Path,
            strict: bool = True) -> nn.Module:
    """``cfg``'s network (train mode, CPU) holding ``state``: the one build-then-load path.

    Used by :func:`load_model`, the node's memory override, trainer resume, pruning's
    rebuild and the benchmark's memory on/off variant. ``strict`` (default) names every key
    and shape that differs (:class:`CheckpointError`, ``where`` says whose weights they
    are); ``strict=False`` loads the tensors that have a place and leaves the rest as built
    (a variant with a head or memory added or removed; shapes must still match).
    """
    model = build_model(cfg)
    if strict:
        check_state_dict(model, state, where)
    model.load_state_dict(state, strict=strict)
    return model


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor],
                     path: str | Path) -> None:
    """Raise :class:`CheckpointError` naming the keys and shapes that differ."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
        for key in own
        if key in state and state[key].shape != own[key].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path}: weights do not fit the model built from its spec: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}, shape mismatches {shapes[:5]}. The file "
            "was written by a different code version or edited by hand; a pruned model must "
            "be saved with save_checkpoint so its channel_widths are stored"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
