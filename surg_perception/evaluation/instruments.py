"""Instrument tips and tracks scored against the synthetic ground truth (``synth_gt.jsonl``).

Per frame, estimates (track id, class, mask, 2D tip, valid 3D tip) are matched to the ground
truth instruments by mask IoU (``match_iou``, the MOTS convention), classes equal:

- **2D tip error** (px): matched pairs whose true tip is in the left view and that have a tip.
- **3D tip error** (mm): matched pairs whose true tip is in both views and that have a valid
  3D tip; binned by the true depth z. ``valid_3d_rate``: the share of such pairs with one.
- **CLEAR-MOT** (Bernardin & Stiefelhagen 2008), implemented here: a ground truth instrument
  keeps last frame's track when their IoU still reaches ``match_iou``, the rest are assigned
  by ``linear_sum_assignment``; an **id switch** is a match to another track than the one the
  instrument was last matched to; ``MOTA = 1 - (FN + FP + IDSW) / GT``. A
  **fragmentation** is an interruption of an instrument's coverage that resumes later.
  **IDF1** (Ristani et al. 2016): ``2 IDTP / (2 IDTP + IDFP + IDFN)`` with IDTP from the
  one-to-one truth-track assignment that maximises frames matched (IoU >= ``match_iou``).

Ground truth instruments with fewer than ``min_visible_pixels`` visible pixels are "don't
care": matching them costs and earns nothing. Ids are per sequence; several sequences pool.
``match="box"`` scores what a subscriber of ``~/instruments`` gets (no masks, only boxes):
the IoU is then that of the estimate's box and the true mask's bounding box.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from surg_perception.data.io import read_gray
from surg_perception.errors import ConfigError, DatasetError
from surg_perception.evaluation.tip_offsets import offset_stats, tip_offset

DEPTH_EDGES_M = (0.05, 0.075, 0.10, 0.125, 0.15)


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    match_iou: float = 0.5
    min_visible_pixels: int = 64
    depth_edges_m: tuple[float, ...] = DEPTH_EDGES_M
    match: str = "mask"  # "mask": instance masks; "box": boxes (InstrumentArray messages)

    def __post_init__(self) -> None:
        if self.match not in ("mask", "box"):
            raise ConfigError(f"ScoreConfig.match={self.match!r}: use 'mask' or 'box'")


@dataclasses.dataclass(frozen=True, eq=False)
class FrameTruth:
    """One frame's ``synth_gt.jsonl`` record and the left-eye visible mask per folder."""

    record: dict
    masks: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class Estimate:
    """One estimated instrument of one frame (what the pipeline publishes)."""

    track_id: int
    class_id: int
    mask: np.ndarray | None  # bool [H, W], left eye (None: box matching only)
    tip_2d: tuple[float, float] | None
    tip_3d: tuple[float, float, float] | None  # metres, only when valid
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 pixel edges


def read_sequence_truth(seq_dir: str | Path) -> list[FrameTruth]:
    """``synth_gt.jsonl`` and ``ground_truth/<folder>/frame<NNN>.png`` of one sequence."""
    seq_dir = Path(seq_dir)
    path = seq_dir / "synth_gt.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path}: not found", "generate with `surg-perception synth`")
    frames = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        masks = {}
        for inst in record["instruments"]:
            png = seq_dir / "ground_truth" / inst["folder"] / f"frame{record['frame']:03d}.png"
            masks[inst["folder"]] = read_gray(png) > 0
        frames.append(FrameTruth(record, masks))
    return frames


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    union = np.count_nonzero(a) + np.count_nonzero(b) - inter
    return inter / union if union else 0.0


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Bounding box of a bool mask in pixel edges (``Instance.box``'s convention)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not rows.size:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _box_iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _pair_iou(truth: np.ndarray, est: Estimate, cfg: ScoreConfig) -> float:
    if cfg.match == "box":
        if est.box is None:
            raise ConfigError("box matching needs Estimate.box", remedy="score with match='mask'")
        return _box_iou(mask_box(truth), est.box)
    if est.mask is None:
        raise ConfigError("mask matching needs Estimate.mask", remedy="score with match='box'")
    return _iou(truth, est.mask)


@dataclasses.dataclass
class _Tally:
    gt: int = 0
    fp: int = 0
    fn: int = 0
    idsw: int = 0
    frag: int = 0
    matches: int = 0
    hyp: int = 0
    idtp: int = 0
    err_2d: list = dataclasses.field(default_factory=list)
    offsets_2d: list = dataclasses.field(default_factory=list)  # tip_offsets.TipOffset
    err_3d: list = dataclasses.field(default_factory=list)  # (depth m, error mm)
    want_3d: int = 0


def _frame_matches(gts, ests, iou, last, cfg) -> dict[int, int]:
    """gt index -> estimate index: keep last frame's pairs that still hold, then Hungarian."""
    pairs = {}
    for g, inst in enumerate(gts):
        prev = last.get(inst["folder"])
        for e, est in enumerate(ests):
            if est.track_id == prev and iou[g, e] >= cfg.match_iou and e not in pairs.values():
                pairs[g] = e
    free_g = [g for g in range(len(gts)) if g not in pairs]
    free_e = [e for e in range(len(ests)) if e not in pairs.values()]
    if free_g and free_e:
        sub = iou[np.ix_(free_g, free_e)]
        rows, cols = linear_sum_assignment(-sub)
        pairs.update({free_g[r]: free_e[c] for r, c in zip(rows, cols)
                      if sub[r, c] >= cfg.match_iou})
    return pairs


def _score_sequence(truth: Sequence[FrameTruth], estimates: Sequence[Sequence[Estimate]],
                    cfg: ScoreConfig, tally: _Tally) -> None:
    last: dict[str, int] = {}
    state: dict[str, str] = {}  # folder -> "on" / "off" (interrupted after coverage)
    co: dict[tuple[str, int], int] = {}
    hyp_ids: set[int] = set()
    for frame, ests in zip(truth, estimates):
        gts = frame.record["instruments"]
        iou = np.zeros((len(gts), len(ests)))
        for g, inst in enumerate(gts):
            for e, est in enumerate(ests):
                if est.class_id == inst["type_id"]:
                    iou[g, e] = _pair_iou(frame.masks[inst["folder"]], est, cfg)
        care = [inst["visible_pixels"] >= cfg.min_visible_pixels for inst in gts]
        pairs = _frame_matches(gts, ests, iou, last, cfg)
        ignored = {e for g, e in pairs.items() if not care[g]}
        tally.gt += sum(care)
        tally.hyp += len(ests) - len(ignored)
        tally.fp += len(ests) - len(pairs)
        for g, inst in enumerate(gts):
            name = inst["folder"]
            if not care[g]:
                continue
            for e, est in enumerate(ests):
                if iou[g, e] >= cfg.match_iou:
                    co[(name, est.track_id)] = co.get((name, est.track_id), 0) + 1
                    hyp_ids.add(est.track_id)
            if g not in pairs:
                tally.fn += 1
                state[name] = "off" if state.get(name) == "on" else state.get(name, "")
                continue
            est = ests[pairs[g]]
            tally.matches += 1
            tally.idsw += int(name in last and last[name] != est.track_id)
            tally.frag += int(state.get(name) == "off")
            last[name], state[name] = est.track_id, "on"
            _tip_errors(inst, est, frame.masks[name], tally)
    tally.idtp += _idtp(co)


def _tip_errors(inst: dict, est: Estimate, mask: np.ndarray, tally: _Tally) -> None:
    if inst["tip_in_view"]["left"] and est.tip_2d is not None:
        tally.err_2d.append(float(np.hypot(*(np.subtract(est.tip_2d,
                                                         inst["tip_2d"]["left"])))))
        offset = tip_offset(est.tip_2d, inst["tip_2d"]["left"],
                            inst["shaft_axis"]["line_2d"], mask)
        if offset is not None:
            tally.offsets_2d.append(offset)
    if inst["tip_in_view"]["left"] and inst["tip_in_view"]["right"]:
        tally.want_3d += 1
        if est.tip_3d is not None:
            err = 1000.0 * float(np.linalg.norm(np.subtract(est.tip_3d, inst["tip_3d"])))
            tally.err_3d.append((float(inst["tip_3d"][2]), err))


def _idtp(co: dict[tuple[str, int], int]) -> int:
    if not co:
        return 0
    gts = sorted({g for g, _ in co})
    hyps = sorted({h for _, h in co})
    table = np.zeros((len(gts), len(hyps)))
    for (g, h), n in co.items():
        table[gts.index(g), hyps.index(h)] = n
    rows, cols = linear_sum_assignment(-table)
    return int(table[rows, cols].sum())


def _stats(values) -> dict:
    values = np.asarray(values, np.float64)
    if not values.size:
        return {"n": 0, "median": None, "p90": None, "mean": None}
    return {"n": int(values.size), "median": float(np.median(values)),
            "p90": float(np.percentile(values, 90)), "mean": float(values.mean())}


def score_instruments(sequences: Sequence[tuple[Sequence[FrameTruth],
                                                Sequence[Sequence[Estimate]]]],
                      cfg: ScoreConfig = ScoreConfig()) -> dict:
    """Pooled scores of (truth frames, estimates per frame) per sequence (module docstring)."""
    tally = _Tally()
    frames = 0
    for truth, estimates in sequences:
        if len(truth) != len(estimates):
            raise DatasetError(f"{len(truth)} truth frames but {len(estimates)} estimated")
        _score_sequence(truth, estimates, cfg, tally)
        frames += len(truth)
    depth = np.array([d for d, _ in tally.err_3d])
    err = np.array([e for _, e in tally.err_3d])
    edges = cfg.depth_edges_m
    bins = [{"depth_m": [lo, hi], **_stats(err[(depth >= lo) & (depth < hi)])}
            for lo, hi in itertools.pairwise(edges)]
    band = err[(depth >= edges[0]) & (depth < edges[-1])] if err.size else err
    idfp, idfn = tally.hyp - tally.idtp, tally.gt - tally.idtp
    return {
        "frames": frames, "gt_instrument_frames": tally.gt,
        "tip_2d_px": _stats(tally.err_2d),
        "tip_2d_offsets": offset_stats(tally.offsets_2d),
        "tip_3d_mm": {**_stats(err), "band": [edges[0], edges[-1]], "band_stats": _stats(band),
                      "by_depth": bins},
        "valid_3d_rate": len(err) / tally.want_3d if tally.want_3d else None,
        "mot": {"mota": 1.0 - (tally.fn + tally.fp + tally.idsw) / max(tally.gt, 1),
                "idf1": 2 * tally.idtp / max(2 * tally.idtp + idfp + idfn, 1),
                "id_switches": tally.idsw, "fragmentations": tally.frag, "fp": tally.fp,
                "fn": tally.fn, "matches": tally.matches,
                "id_switches_per_instrument_300": 300.0 * tally.idsw / max(tally.gt, 1)},
    }
