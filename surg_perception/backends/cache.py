"""Exported network artefacts cached next to the checkpoint, keyed by what they depend on.

An artefact ``<cache_dir>/<key>.onnx`` comes with a record ``<key>.json``: the key's fields
(source weights' SHA-256, the spec, input size, opset, providers, library versions) and the
ONNX file's own SHA-256. The key hashes the fields, so anything that would make the artefact
stale (other weights, size, versions...) selects another file: a relaunch finds its own file
and exports nothing. A present artefact whose bytes or record do not match (truncated copy,
hand-edited, record lost) raises :class:`BackendCacheError` rather than being used or silently
replaced; the remedy is ``rebuild`` (or deleting the folder). An artefact file that is absent
is simply exported (a crash between writing the record and the file leaves exactly that).
"""

from __future__ import annotations

import dataclasses
import hashlib
from importlib import metadata
import json
import os
from pathlib import Path
import tempfile

import torch
from torch import nn

from surg_perception.config import ModelSpec, to_dict
from surg_perception.errors import SurgPerceptionError

RECORD_FORMAT = "surg_perception.backend_cache/1"
_CHUNK = 1 << 20


class BackendCacheError(SurgPerceptionError):
    """A cached exported model does not match its record (corrupt, truncated or foreign)."""


@dataclasses.dataclass(frozen=True)
class CachedModel:
    """A cached artefact: its path, key, and whether this call exported it."""

    path: Path
    key: str
    exported: bool


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 over the state dict (names, shapes, dtypes, bytes): a model without a file."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries an exported artefact depends on (absent ones: ``none``)."""
    versions = {}
    for name in ("surg_perception", "torch", "onnx", "onnxruntime", "onnxruntime-gpu",
                 "tensorrt"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "none"
    return versions


def cache_fields(source_sha256: str, spec: ModelSpec, opset: int,
                 providers: tuple[str, ...], kind: str = "onnx_network") -> dict:
    """Everything an artefact depends on (the key is a hash of exactly this)."""
    spec_json = json.dumps(to_dict(spec), sort_keys=True)
    return {"kind": kind, "source_sha256": source_sha256,
            "spec_sha256": hashlib.sha256(spec_json.encode()).hexdigest(),
            "input_size": list(spec.preprocess.input_size), "opset": opset,
            "providers": list(providers), "versions": library_versions()}


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def checkpoint_cache_dir(checkpoint: str | Path) -> Path:
    """``<checkpoint>.onnx-cache``: next to the checkpoint, so it moves and dies with it."""
    return Path(f"{checkpoint}.onnx-cache")


def check_record(path: Path, fields: dict) -> None:
    """Raise :class:`BackendCacheError` unless ``path`` matches its record and ``fields``."""
    record_path = path.with_suffix(".json")
    remedy = (f"delete {path.parent} or rebuild (BackendConfig(rebuild=True)); it is "
              "exported again on the next load")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        raise BackendCacheError(f"cached model {path} has no readable record {record_path} "
                                f"({exc})", remedy) from exc
    if record.get("format") != RECORD_FORMAT or record.get("fields") != fields:
        raise BackendCacheError(f"cached model {path} was recorded for other inputs than this "
                                "checkpoint, spec, size, opset and library versions", remedy)
    if file_sha256(path) != record.get("sha256"):
        raise BackendCacheError(f"cached model {path} is corrupt: its SHA-256 differs from "
                                "the one recorded when it was exported", remedy)


def cached_artefact(cache_dir: str | Path, fields: dict, suffix: str, build,
                    rebuild: bool = False) -> CachedModel:
    """The artefact for ``fields`` from ``cache_dir``, built by ``build(path)`` when absent.

    Writes go to temporary files renamed into place (record first), so a reader never sees
    a half-written artefact.
    """
    key = cache_key(fields)
    path = Path(cache_dir) / f"{key}{suffix}"
    if path.is_file() and not rebuild:
        check_record(path, fields)
        return CachedModel(path, key, exported=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        build(Path(tmp))
        record = {"format": RECORD_FORMAT, "fields": fields, "sha256": file_sha256(tmp)}
        _write_atomic(path.with_suffix(".json"), json.dumps(record, indent=2).encode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return CachedModel(path, key, exported=True)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
