"""Both eyes of one synthetic sequence, rendered as ``surg-perception synth --stereo`` does.

For the tests that run an ORACLE network (``test/ros/instruments_oracle.py``): it needs each
eye's image and type mask in one ``.npz``; the tests also publish or write the images and
score against the left eye's ground-truth records.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from surg_perception.data.synth_camera import camera_info, make_camera
from surg_perception.data.synth_gt import frame_record
from surg_perception.data.synth_plan import plan_sequence
from surg_perception.data.synth_scene import make_assets, render_frame


@dataclasses.dataclass(frozen=True)
class StereoFrames:
    """``left``/``right``: RGB images per frame; ``types``: type masks, left and right of
    each frame in turn; ``infos``: camera_info records (left, right); ``truth``: the left
    eye's ground-truth record per frame (as ``synth_gt.jsonl`` holds them)."""

    left: list[np.ndarray]
    right: list[np.ndarray]
    types: list[np.ndarray]
    infos: list[dict]
    truth: list[dict]

    def save_oracle_npz(self, path: Path) -> Path:
        """``images`` / ``types`` [2 * frames, ...] in the oracle's order (left, right, ...)."""
        images = [img for pair in zip(self.left, self.right) for img in pair]
        np.savez(path, images=np.stack(images), types=np.stack(self.types))
        return path


def render_stereo(seed: int, index: int, frames: int, width: int, height: int,
                  max_instruments: int = 3) -> StereoFrames:
    """Sequence ``index`` of ``seed``: ``frames`` stereo frames at ``width`` x ``height``."""
    plan = plan_sequence(seed, index, frames, max_instruments)
    cams = [make_camera(width, height, eye) for eye in ("left", "right")]
    assets = make_assets(plan, cams[0], seed, index)
    eyes, types, truth = ([], []), [], []
    for t in range(frames):
        for e, cam in enumerate(cams):
            rendered = render_frame(assets, t, cam, e)
            mask = np.zeros(rendered.instance.shape, np.uint8)
            for k, inst in enumerate(plan.instruments):
                mask[rendered.instance == k + 1] = inst.type_id
            eyes[e].append(rendered.image)
            types.append(mask)
            if e == 0:
                masks = [rendered.mask(k) for k in range(len(plan.instruments))]
                truth.append(json.loads(json.dumps(
                    frame_record(plan, t, rendered.geometry, masks, cams, (0, 0)))))
    infos = [camera_info(cam, (width, height)) for cam in cams]
    return StereoFrames(eyes[0], eyes[1], types, infos, truth)
