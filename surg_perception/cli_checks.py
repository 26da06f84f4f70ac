"""Checks of command-line inputs, run before a command starts its work.

A command that fails late (after a whole export, or on the first frame on a device that does
not exist) wastes the user's minutes and usually shows a traceback; these checks fail in a
second with a typed error that says what to pass instead. They are pure path/name checks:
importing this module does not import torch (``check_device`` imports it when called).
"""

from __future__ import annotations

from pathlib import Path

from surg_perception.errors import CheckpointError, ConfigError

# Where the package's commands put checkpoints inside a folder, most useful first.
CHECKPOINT_NAMES = ("model.pt", "pruned.pt", "checkpoints/last.pt")


def checkpoint_file(path: str | Path) -> Path:
    """``path`` as an existing checkpoint file; a folder names the ``.pt`` files inside."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in CHECKPOINT_NAMES if (path / name).is_file()]
        found += sorted(p for p in path.glob("*.pt") if p not in found)
        example = str(found[0]) if found else str(path / "model.pt")
        raise CheckpointError(f"checkpoint {path} is a directory",
                              f"pass the .pt file inside, e.g. {example}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}", "check the path (or train one)")
    return path


def check_device(name: str, option: str = "--device") -> str:
    """``name`` if torch can run on it here; a ConfigError names the alternative otherwise."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"{option} {name}: not a torch device", "use cpu, cuda or cuda:N") \
            from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {name}: CUDA is not available here", "use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {name}: this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)",
                              "use cuda:0 or another index")
    return name


def output_file(out: str, default_name: str, force: bool, option: str = "--out") -> Path:
    """The file ``out`` means: inside it when it is a folder or ends with ``/``.

    An existing file is refused unless ``force`` (as every command that writes results).
    """
    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir():
        path = path / default_name
    if path.is_dir():
        raise ConfigError(f"{option} {out}: {path} is a directory", "choose a file name")
    if path.exists() and not force:
        raise ConfigError(f"{option} {out}: {path} exists",
                          "pass --force to replace it or choose another name")
    return path
