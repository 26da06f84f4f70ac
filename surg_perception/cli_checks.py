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


def check_results_folder(out: str | Path, markers: tuple[str, ...], force: bool,
                         what: str = "results", option: str = "--out") -> None:
    """Refuse a folder that already holds earlier ``what`` (any of ``markers``) unless ``force``.

    Why: a command run twice into one folder must not silently replace what the first run
    wrote (a report someone is still reading, numbers a table cites).
    """
    found = [name for name in markers if (Path(out) / name).exists()]
    if found and not force:
        raise ConfigError(f"{option} {out} holds earlier {what} ({', '.join(found)})",
                          f"pass --force to replace them or choose another {option}")


def add_frame_size(parser, default_hw: tuple[int, int], what: str) -> None:
    """``--size H W`` (every command's order) and ``--size-wh W H`` (synth's order before 0.2).

    The old ``--size W H`` cannot be told apart from ``--size H W``: both are two positive
    integers, and a portrait frame is as valid a request as a landscape one. Guessing from the
    numbers would make the same command mean different frames, so ``--size`` is always H W;
    a frame taller than wide gets a note (it is the likely sign of the old order), and the old
    order stays available, spelled out, as ``--size-wh``.
    """
    height, width = default_hw
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                       help=f"{what} height and width (default {height} {width}); H W as in "
                            "every other command (synth's --size was W H before 0.2: pass "
                            "--size-wh W H for that order)")
    group.add_argument("--size-wh", type=int, nargs=2, metavar=("W", "H"), default=None,
                       help="the same size as width and height (the old order of --size)")
    parser.set_defaults(_default_hw=(height, width))


def frame_size_wh(args, log=None) -> tuple[int, int]:
    """(width, height) from ``--size H W`` / ``--size-wh W H`` / the default."""
    if args.size_wh is not None:
        return tuple(args.size_wh)
    height, width = args.size if args.size is not None else args._default_hw
    if height > width and log is not None:
        log(f"note: --size {height} {width} is height {height}, width {width} (a portrait "
            f"frame); --size is H W since 0.2, so for a {height}x{width} (WxH) frame pass "
            f"--size {width} {height} or --size-wh {height} {width}")
    return width, height
