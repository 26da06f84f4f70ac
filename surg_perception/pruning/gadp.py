"""The GADP loop: attention -> statistics -> masks -> masked fine-tuning, round by round,
then physical removal and an end-to-end regularisation of the smaller model.

A round is kept only if the metric drop against the unpruned model stays within ``max_drop``;
otherwise the weights and masks of the previous round are restored and the loop stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import copy
import dataclasses

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from surg_perception.config import ModelSpec
from surg_perception.data.clips import ClipBatch
from surg_perception.pruning.attention import UnitAttention
from surg_perception.pruning.config import PruneConfig
from surg_perception.pruning.data import clip_loss, evaluate
from surg_perception.pruning.graph import Unit, build_graph, find_units, twin_of
from surg_perception.pruning.masking import initial_masks, masked, next_masks
from surg_perception.pruning.report import count_params
from surg_perception.pruning.surgery import rebuild, remove_channels, widths_for, with_widths
from surg_perception.training.config import LossWeights


@dataclasses.dataclass
class GadpResult:
    """The pruned model (rebuilt from its widths), its spec and the per-round history.

    history: one dict per accepted state, round 0 = unpruned: ``round``, ``widths``,
    ``params``, ``weights_kept`` (fraction of parameters), ``metrics``.
    """

    model: nn.Module
    spec: ModelSpec
    history: list[dict]
    masks: dict[str, Tensor]
    final_metrics: dict[str, float]
    stop_reason: str


def train_steps(model: nn.Module, params: list[Tensor], stream: Iterator[ClipBatch],
                steps: int, lr: float, spec: ModelSpec, device: torch.device,
                weights: LossWeights, extra_loss: Callable[[], Tensor] | None = None) -> None:
    """``steps`` Adam steps on ``params`` with the multi-task clip loss (+ ``extra_loss()``)."""
    if steps == 0:
        return
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        loss = clip_loss(model, next(stream), spec, device, weights)
        if extra_loss is not None:
            loss = loss + extra_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def attention_statistics(model: nn.Module, units: list[Unit], masks: dict[str, Tensor],
                         cfg: PruneConfig, stream: Iterator[ClipBatch], loader: DataLoader,
                         spec: ModelSpec, device: torch.device) -> dict[str, Tensor]:
    """Train SE gates on the frozen, masked model; ``a(l, c)`` over ``loader``."""
    attention = UnitAttention(units, cfg.se_reduction).to(device)
    flags = [(p, p.requires_grad) for p in model.parameters()]
    was_training = model.training
    model.eval()  # frozen: BatchNorm statistics must not follow the gates
    for p, _ in flags:
        p.requires_grad_(False)

    def penalty() -> Tensor:
        value = cfg.sparsity * attention.sparsity()
        attention.step_gates.clear()
        return value

    try:
        with masked(model, units, masks), attention.attached():
            train_steps(model, list(attention.parameters()), stream, cfg.attention_iterations,
                        cfg.attention_lr, spec, device, _weights(cfg), penalty)
            attention.collecting = True
            evaluate(model, loader, spec, device, _weights(cfg), cfg.eval_batches)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
    return attention.statistics()


def _record(round_index: int, spec: ModelSpec, units: list[Unit], masks: dict[str, Tensor],
            base_params: int, metrics: dict[str, float]) -> dict:
    widths = widths_for(units, masks)
    params = count_params(dataclasses.replace(spec, model=with_widths(spec.model, widths)))
    return {"round": round_index, "widths": widths, "params": params,
            "weights_kept": params / base_params, "metrics": metrics}


def mask_rounds(model: nn.Module, spec: ModelSpec, cfg: PruneConfig, units: list[Unit],
                val: DataLoader, stream: Iterator[ClipBatch], device: torch.device,
                log: Callable[[str], None]) -> tuple[dict[str, Tensor], list[dict], str]:
    """Attention -> masks -> masked fine-tuning rounds; returns ``(masks, history, reason)``."""
    masks = initial_masks(units)
    base_params = count_params(spec)
    base = evaluate(model, val, spec, device, _weights(cfg), cfg.eval_batches)
    history = [_record(0, spec, units, masks, base_params, base)]
    log(f"unpruned: {base_params / 1e6:.3f} M params, {_fmt(base)}")
    for round_index in range(1, cfg.rounds + 1):
        stats = attention_statistics(model, units, masks, cfg, stream, val, spec, device)
        proposal = next_masks(stats, masks, cfg.threshold)
        if all(bool((proposal[k] == masks[k]).all()) for k in masks):
            return masks, history, f"round {round_index}: no channel under the threshold"
        snapshot = copy.deepcopy(model.state_dict())
        with masked(model, units, proposal):
            model.train()
            train_steps(model, list(model.parameters()), stream, cfg.finetune_iterations,
                        cfg.lr, spec, device, _weights(cfg))
            metrics = evaluate(model, val, spec, device, _weights(cfg), cfg.eval_batches)
        drop = base[cfg.metric] - metrics[cfg.metric]
        record = _record(round_index, spec, units, proposal, base_params, metrics)
        log(f"round {round_index}: {record['weights_kept']:.1%} of weights kept, "
            f"{_fmt(metrics)}, drop {drop:+.4f}")
        if drop > cfg.max_drop:
            model.load_state_dict(snapshot)
            return masks, history, (f"round {round_index}: drop {drop:.4f} > max_drop "
                                    f"{cfg.max_drop}; reverted")
        masks = proposal
        history.append(record)
        if 1.0 - record["weights_kept"] >= cfg.target_ratio:
            return masks, history, f"round {round_index}: target ratio reached"
    return masks, history, f"{cfg.rounds} rounds done"


def run_gadp(model: nn.Module, spec: ModelSpec, cfg: PruneConfig, val: DataLoader,
             stream: Iterator[ClipBatch], device: torch.device,
             log: Callable[[str], None] = print) -> GadpResult:
    """Prune ``model`` (AP-MTL, on ``device``) with GADP; the input model is consumed.

    ``stream`` yields training clips (attention, fine-tuning, regularisation); ``val`` gives
    the metrics whose drop is bounded by ``cfg.max_drop`` and the attention statistics.
    """
    height, width = spec.preprocess.input_size
    example = torch.zeros(1, 3, height, width, device=device)
    twin = twin_of(model)
    units = find_units(twin, build_graph(twin, example))
    masks, history, reason = mask_rounds(model, spec, cfg, units, val, stream, device, log)
    log(f"stopping: {reason}")
    remove_channels(model, spec.model, units, masks, example)
    pruned, pruned_spec = rebuild(model, spec)
    pruned.train()
    train_steps(pruned, list(pruned.parameters()), stream, cfg.regularise_iterations, cfg.lr,
                pruned_spec, device, _weights(cfg))
    final = evaluate(pruned, val, pruned_spec, device, _weights(cfg), cfg.eval_batches)
    log(f"pruned + regularised: {_fmt(final)}")
    return GadpResult(pruned.eval(), pruned_spec, history, masks, final, reason)


def _weights(cfg: PruneConfig) -> LossWeights:
    """The clip loss's task weights (``with_run_loss_weights`` fills them from the checkpoint)."""
    return cfg.loss_weights or LossWeights()


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
