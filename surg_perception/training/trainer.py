"""The training loop: ATO phases over clips, checkpoints with exact resume, logs.

For every batch of B clips of T frames the memory state starts empty, is carried through
the T frames (back-propagated through the clip) and dropped: clips never share memory.
Step ``s`` of a run always sees the same batch, learning rate and random state, whether
or not the run was interrupted and resumed in between (see ``data.ClipStream``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
import warnings

import torch
from torch import nn
from tqdm import tqdm

from surg_perception.checkpoint import load_checkpoint_dict, rebuild, save_checkpoint
from surg_perception.config import ModelSpec
from surg_perception.errors import CheckpointError
from surg_perception.models.registry import build_model
from surg_perception.training import ato
from surg_perception.training.config import TrainConfig, fit_clip_to_memory, portable
from surg_perception.training.data import ClipStream, build_clips
from surg_perception.training.distributed import (
    init_distributed,
    process_device,
    reduce_mean,
    wrap_model,
)
from surg_perception.training.init import initialise
from surg_perception.training.logs import TrainLog, write_resolved_config
from surg_perception.training.losses import TASK_OF
from surg_perception.training.optim import PhaseSpan, build_optimizer, schedule
from surg_perception.training.run_state import capture_rng, restore_rng, seed_everything
from surg_perception.training.step import ClipModel, clip_losses

LAST = "checkpoints/last.pt"


class Trainer:
    """Train ``spec``'s model on the EndoVis17-layout data under ``data_root``.

    Args:
        spec: model, preprocessing and post-processing (stored with every checkpoint).
        cfg: the training schedule.
        data_root: dataset root (``instrument_dataset_<k>`` folders).
        run_dir: where logs, ``config.yaml``, ``checkpoints/`` and ``model.pt`` go.
        device: ``cpu`` or ``cuda`` (under torchrun each process takes ``cuda:LOCAL_RANK``).
        resume: continue from ``run_dir/checkpoints/last.pt``.
    """

    def __init__(self, spec: ModelSpec, cfg: TrainConfig, data_root: str | Path,
                 run_dir: str | Path, device: str | torch.device = "cpu",
                 resume: bool = False) -> None:
        cfg, note = fit_clip_to_memory(cfg, spec.model.memory)
        self.spec, self.cfg, self.run_dir = spec, cfg, Path(run_dir)
        self.info = init_distributed(torch.device(device))
        if note and self.info.is_main:
            warnings.warn(note, stacklevel=2)
        self.device = process_device(torch.device(device), self.info)
        seed_everything(cfg.seed)
        resumed = load_checkpoint_dict(self.run_dir / LAST) if resume else None
        if resumed is None:
            self.model = build_model(spec.model)
            initialise(self.model, cfg.pretrained_path, cfg.backbone_weights)
        else:  # every weight comes from the checkpoint; no initialisation file is read
            self.model = rebuild(spec.model, resumed["state_dict"], self.run_dir / LAST)
        self.model = self.model.to(self.device)
        self.base = ato.base_trainable(self.model)
        self.stream = ClipStream(build_clips(data_root, spec, cfg), cfg, self.info)
        self.phases = schedule(cfg, self.stream.per_epoch)
        height, width = spec.preprocess.input_size
        # Computed before any DDP wrapping: priors are a cached buffer of the model
        # (clip_losses then reads the cache).
        self.priors = self.model.priors(height, width) if self.model.has_detection else None
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._restored: dict | None = None if resumed is None else self._train_state(resumed)

    @property
    def total_steps(self) -> int:
        return self.phases[-1].end

    # ------------------------------------------------------------------ resume / checkpoints

    def _train_state(self, data: dict) -> dict:
        state = data.get("extra", {}).get("train_state")
        if state is None:
            raise CheckpointError(f"{self.run_dir / LAST}: no train_state to resume from; "
                                  "start a new run")
        self.step = int(state["step"])
        return state

    def _save(self, path: Path, phase: int, optimizer, scheduler) -> None:
        if not self.info.is_main:
            return
        train_state = {
            "step": self.step, "phase_index": phase, "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": capture_rng(), "train_config": portable(self.cfg),
        }
        save_checkpoint(path, self.model, self.spec, extra={"train_state": train_state})

    # ------------------------------------------------------------------ one step

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def train_step(self, net: nn.Module, batch, phase: str, optimizer, scheduler
                   ) -> dict[str, float]:
        """One optimiser step on a clip batch; returns the frame-averaged losses."""
        ato.set_train_mode(self.model, phase)
        losses = clip_losses(self.model, batch, self.spec, self.cfg.loss_weights,
                             ato.active_losses(phase), self.device, net, self._autocast())
        total = losses.total
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        scheduler.step()
        logs = {name: float(value) for name, value in losses.terms.items()}
        logs["total"] = float(total.detach())
        return logs

    # ------------------------------------------------------------------ the loop

    def fit(self, max_steps: int | None = None) -> list[dict[str, float]]:
        """Train until the schedule ends (or global step ``max_steps``); returns per-step logs.

        Writes ``config.yaml``, ``train_log.csv``, TensorBoard events, ``checkpoints/`` and,
        when the schedule is complete, ``model.pt`` (rank 0 only).
        """
        stop = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        log = None
        if self.info.is_main:
            write_resolved_config(self.run_dir / "config.yaml", self.spec, self.cfg)
            log = TrainLog(self.run_dir, self.step if self._restored is not None else None)
        batches = self.stream.batches(self.step)
        bar = tqdm(total=stop, initial=self.step, disable=not self.info.is_main, desc="train")
        try:
            for index, span in enumerate(self.phases):
                if self.step >= span.end or self.step >= stop:
                    continue
                self._run_phase(index, span, batches, stop, bar, log)
        finally:
            bar.close()
            if log is not None:
                log.close()
        if self.step == self.total_steps and self.info.is_main:
            save_checkpoint(self.run_dir / "model.pt", self.model, self.spec,
                            extra={"train_config": portable(self.cfg), "step": self.step})
        if self.info.enabled:
            torch.distributed.barrier()
        return self.history

    def _run_phase(self, index: int, span: PhaseSpan, batches, stop: int, bar, log) -> None:
        params = ato.apply_phase(self.model, span.name, self.base)
        optimizer, scheduler = build_optimizer(params, self.cfg, span)
        if self._restored is not None:
            # A checkpoint taken at a phase's last step resumes into a fresh next phase.
            if self._restored["phase_index"] == index:
                optimizer.load_state_dict(self._restored["optimizer"])
                scheduler.load_state_dict(self._restored["scheduler"])
            self.scaler.load_state_dict(self._restored["scaler"])
            restore_rng(self._restored["rng"])
            self._restored = None
        net = wrap_model(ClipModel(self.model), self.info, self.device)
        window: list[dict[str, float]] = []
        while self.step < min(span.end, stop):
            lr = scheduler.get_last_lr()[0]
            logs = self.train_step(net, next(batches), span.name, optimizer, scheduler)
            self.step += 1
            self.history.append({"step": self.step, **logs})
            window.append(logs)
            bar.update(1)
            bar.set_postfix(phase=span.name, loss=f"{logs['total']:.3f}")
            if self.step % self.cfg.log_interval == 0 or self.step == span.end:
                self._log(window, span.name, lr, log)
                window = []
            if self.step % self.cfg.ckpt_interval == 0 or self.step in (span.end, stop):
                self._save(self.run_dir / LAST, index, optimizer, scheduler)

    def _log(self, window: list[dict[str, float]], phase: str, lr: float, log) -> None:
        keys = ["total", *TASK_OF]
        means = {k: sum(w[k] for w in window if k in w) / max(1, sum(k in w for w in window))
                 for k in keys if any(k in w for w in window)}
        means = reduce_mean(means, keys, self.info, self.device)
        if log is not None:
            log.write(self.step, phase, lr, means)
