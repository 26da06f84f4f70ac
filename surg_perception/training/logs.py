"""Training logs: a CSV file and TensorBoard scalars (rank 0 only), plus the resolved config."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import yaml

from surg_perception.config import ModelSpec, to_dict
from surg_perception.training.config import TrainConfig
from surg_perception.training.losses import TASK_OF

COLUMNS = ("step", "phase", "lr", "total", *TASK_OF)


def write_resolved_config(path: Path, spec: ModelSpec, cfg: TrainConfig) -> None:
    """YAML holding the model spec (top-level model/preprocess/postprocess) and ``train``.

    Both ``config.load_spec`` and ``training.config.load_train_config`` read it back, so
    the run can be rebuilt (and resumed) from its own directory.
    """
    data = {**to_dict(spec), "train": to_dict(cfg)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class TrainLog:
    """Append-only CSV (``train_log.csv``) and TensorBoard event files under ``run_dir``.

    On resume, rows written after the resumed step (by the interrupted run, past its last
    checkpoint) are dropped so the log reads as one uninterrupted run.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.csv_path = run_dir / "train_log.csv"
        if resume_step is not None and self.csv_path.is_file():
            self._file = _reopen_for_append(self.csv_path, resume_step)
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
        else:
            self._file = self.csv_path.open("w", newline="")
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
            self._csv.writeheader()
        self._file.flush()
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"),
                                    purge_step=None if resume_step is None else resume_step + 1)

    def write(self, step: int, phase: str, lr: float, losses: dict[str, float]) -> None:
        row = {"step": step, "phase": phase, "lr": f"{lr:.6g}"}
        row.update({k: f"{v:.6f}" for k, v in losses.items() if k in COLUMNS and math.isfinite(v)})
        self._csv.writerow(row)
        self._file.flush()
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        self.writer.add_scalar("lr", lr, step)

    def close(self) -> None:
        self._file.close()
        self.writer.close()


def _reopen_for_append(path: Path, resume_step: int):
    """``path`` open for appending, rows past ``resume_step`` dropped first.

    The history up to the checkpoint is never rewritten in place: when rows must go, the kept
    ones are written to a temporary file that replaces the log atomically.
    """
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        same_columns = tuple(reader.fieldnames or ()) == COLUMNS
    kept = [r for r in rows if int(r["step"]) <= resume_step]
    if len(kept) < len(rows) or not same_columns:
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(kept)
        tmp.replace(path)
    return path.open("a", newline="")
