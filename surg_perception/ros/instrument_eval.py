"""The model's instruments on a synthetic STEREO dataset, scored against its 3D ground truth.

``surg-perception evaluate CKPT --data ROOT --instruments`` (ROOT written by ``surg-perception
synth --stereo``): every sequence runs as one camera stream of the live node: each pair
through :meth:`InstrumentStream.predict_pair` (one temporal memory per eye; batched as the
node's default ``stereo.batch`` decides) and :meth:`InstrumentStream.step` (instances,
tracks, triangulation with the manifest's ``camera_info`` rig), the post-processing being the
checkpoint's (the node's default). The estimates are scored by
:func:`.instruments.score_instruments` (tip errors by depth, CLEAR-MOT, IDF1). No rclpy:
:class:`InstrumentStream` is the node's object, not its messages; this module sits in
``ros/`` because that object does (``evaluation/`` may not import ``ros/``), and
``surg-perception evaluate`` (``ros/evaluate_cmd.py``) hands it to the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from pathlib import Path
import time

from surg_perception.data.io import list_frames, read_rgb
from surg_perception.errors import DatasetError
from surg_perception.evaluation.instruments import (
    Estimate,
    FrameTruth,
    ScoreConfig,
    read_sequence_truth,
    score_instruments,
)
from surg_perception.instruments import InstrumentResult, StereoRig
from surg_perception.predictor import Predictor
from surg_perception.ros.instrument_stream import InstrumentStream, batch_eyes

FPS = 30.0  # stamps of the frames (the tracker's clock); the generator's nominal rate


def read_rig(root: str | Path) -> StereoRig:
    """The rectified rig of a synthetic stereo dataset (``manifest.json`` cameras)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise DatasetError(f"{path}: not found", "generate with `surg-perception synth --stereo`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not manifest.get("stereo") or "cameras" not in manifest:
        raise DatasetError(f"{root}: not a stereo dataset (no right eye in its manifest)",
                           "write it with `surg-perception synth --stereo`")
    cams = manifest["cameras"]
    return StereoRig.from_camera_info(cams["left"], cams["right"])


def stereo_sequences(root: str | Path, numbers: Sequence[int] | None = None) -> list[Path]:
    """``instrument_dataset_<k>`` folders of ``root`` (those of ``numbers``), in number order."""
    root = Path(root)
    found = {int(p.name.rsplit("_", 1)[1]): p for p in root.glob("instrument_dataset_*")
             if p.name.rsplit("_", 1)[1].isdigit()}
    wanted = sorted(found) if numbers is None else list(numbers)
    missing = [k for k in wanted if k not in found]
    if missing or not wanted:
        raise DatasetError(f"{root}: no instrument_dataset_{missing or '<k>'}",
                           "check --data and --sequences")
    for k in wanted:
        if not (found[k] / "right_frames").is_dir():
            raise DatasetError(f"{found[k]}: no right_frames/", "write it with --stereo")
    return [found[k] for k in wanted]


def estimates_of(results: Sequence[InstrumentResult]) -> list[Estimate]:
    """What the node publishes of one frame's instruments, as scored estimates."""
    return [Estimate(r.track_id, r.instance.class_id, r.instance.mask, r.instance.tip_2d,
                     r.tip_3d.point if r.tip_3d.valid else None, r.instance.box)
            for r in results]


def run_sequence(stream: InstrumentStream, seq_dir: Path, max_frames: int | None = None,
                 timing: list[float] | None = None
                 ) -> tuple[list[FrameTruth], list[list[Estimate]]]:
    """One sequence as one stream from an empty memory; (truth, estimates) per frame."""
    truth = read_sequence_truth(seq_dir)[:max_frames]
    lefts = list_frames(seq_dir / "left_frames")[:len(truth)]
    rights = list_frames(seq_dir / "right_frames")[:len(truth)]
    if not len(lefts) == len(rights) == len(truth):
        raise DatasetError(f"{seq_dir}: {len(lefts)} left, {len(rights)} right frames and "
                           f"{len(truth)} ground-truth records")
    stream.predictor.reset()
    stream.reset()
    batch = batch_eyes("auto", stream.predictor.device)  # the node's default stereo.batch
    estimates = []
    for t, (left, right) in enumerate(zip(lefts, rights)):
        start = time.perf_counter()
        result, right_result = stream.predict_pair((read_rgb(left), "rgb"),
                                                   (read_rgb(right), "rgb"), batch=batch)
        estimates.append(estimates_of(stream.step(result, right_result, t / FPS)))
        if timing is not None:
            timing.append(time.perf_counter() - start)
    return truth, estimates


def evaluate_instruments(predictor: Predictor, root: str | Path,
                         sequences: Sequence[int] | None = None, max_frames: int | None = None,
                         cfg: ScoreConfig = ScoreConfig()) -> dict:
    """Scores of ``predictor`` (a fork of it: its memory and post-processing are untouched)
    on the stereo sequences of ``root``, plus ``setup`` (sequences, frames, ms per pair)."""
    stream_predictor = predictor.fork()
    stream_predictor.postprocess = predictor.spec.postprocess  # the node's default decoding
    stream = InstrumentStream(stream_predictor)
    stream.set_rig(read_rig(root))
    timing: list[float] = []
    dirs = stereo_sequences(root, sequences)
    runs = [run_sequence(stream, d, max_frames, timing) for d in dirs]
    scores = score_instruments(runs, cfg)
    scores["setup"] = {"sequences": [d.name for d in dirs], "match": cfg.match,
                       "match_iou": cfg.match_iou, "fps": FPS,
                       "about": "model predictions on both eyes",
                       "ms_per_stereo_frame": 1e3 * sum(timing) / max(len(timing), 1)}
    return scores
