"""The node-side GPU checks: the frame path on CUDA and GPU memory after a release.

Device, dtype and configs are read from ``gpu_check_bodies`` when a check runs (a CPU
rehearsal swaps them there).
"""

from __future__ import annotations

import gc
from pathlib import Path
import time
from typing import Any

import gpu_check_bodies as common
import torch

from surg_perception.predictor import Predictor


def frame_path(work: Path, out: Path):
    """Camera-sized bgr8 Images through FrameProcessor.process on CUDA, then serialised."""
    from std_msgs.msg import Header

    from surg_perception.bench.variants import load_base
    from surg_perception.ros import conversions, message_bench
    from surg_perception.ros.params import settings_from_values
    from surg_perception.ros.pipeline import FrameProcessor
    from surg_perception.ros.worker import PendingFrame

    model, spec = load_base(common.LIGHT, None)
    frames = common.make_frames(1024, 1280, 12)
    processor = FrameProcessor(Predictor(model, spec, common.DEVICE, common.NODE_DTYPE))
    msg = conversions.numpy_to_image(frames[0], "bgr8", Header(frame_id="camera"))
    first = processor.process(PendingFrame(msg, False, time.monotonic()), settings_from_values({}))
    mask = first.messages.get("mask")
    shape = None if mask is None else [mask.height, mask.width]
    timing = message_bench.lazy_outputs(model, spec, common.DEVICE, common.NODE_DTYPE, frames)
    details = {"outputs": sorted(first.messages), "mask_shape": shape, "lazy_outputs": timing}
    if shape != [1024, 1280]:
        return "fail", f"mask message {shape}, expected [1024, 1280]", details
    all_p50 = timing["sets"]["all"]["frame_ms"]["p50"]
    return "pass", f"{len(first.messages)} outputs; every output p50 {all_p50:.1f} ms", details


# What may stay after a release: allocated (the light model's fp32 weights alone are 14 MiB,
# so a leaked model cannot hide under it), reserved (one large-pool segment is 20 MiB).
LEFT_BOUNDS_MIB = {"allocated": 2.0, "reserved": 20.0}


def _memory_mb() -> dict[str, float]:
    free, total = torch.cuda.mem_get_info()
    return {"allocated": torch.cuda.memory_allocated() / 2**20,
            "reserved": torch.cuda.memory_reserved() / 2**20,
            "device_used": (total - free) / 2**20}


def _warm_libraries() -> None:
    """CUDA context, cuBLAS(Lt) and cuDNN workspaces exist before the baseline is read:
    they live for the process, not for the model."""
    device = common.DEVICE
    warm = torch.randn(64, 3, 64, 64, device=device)
    for dtype in (torch.float32, torch.float16):
        conv = torch.nn.Conv2d(3, 8, 3).to(device, dtype)
        feats = conv(warm.to(dtype)).flatten(1)
        weight = torch.zeros(4, feats.shape[1], device=device, dtype=dtype)
        torch.nn.functional.linear(feats, weight)
        torch.nn.functional.linear(feats, weight, torch.zeros(4, device=device, dtype=dtype))
    torch.cuda.synchronize()


def _release_cycle(ckpt: Path) -> dict[str, Any]:
    """Load, run 8 frames, release as the node does (``ros/node.py`` ``_release_model``)."""
    predictor = Predictor.from_checkpoint(ckpt, common.DEVICE, common.NODE_DTYPE)
    for frame in common.make_frames(512, 640, 8):
        predictor.step(frame, color_order="bgr", want_color_mask=True)
    held = _memory_mb()
    del predictor
    gc.collect()
    torch.cuda.empty_cache()
    active = sorted((b["allocated_size"] for b in torch.cuda.memory_snapshot()
                     if b["allocated_size"]), reverse=True)
    return {"held": held, "after_release": _memory_mb(), "active_segment_bytes": active[:10]}


def cleanup(work: Path, out: Path):
    """The node's release (drop the predictor, gc, empty_cache) twice; memory returns?"""
    ckpt = common.seeded_checkpoint(work, common.LIGHT)
    _warm_libraries()
    gc.collect()
    torch.cuda.empty_cache()
    base, cycles, failed = _memory_mb(), [], []
    for cycle in range(2):
        row = _release_cycle(ckpt)
        row["left"] = {k: row["after_release"][k] - base[k] for k in LEFT_BOUNDS_MIB}
        cycles.append(row)
        if row["held"]["allocated"] - base["allocated"] < 10:
            failed.append(f"cycle {cycle}: the model held under 10 MiB (nothing measured)")
        failed += [f"cycle {cycle}: {row['left'][k]:.1f} MiB {k} left (bound {bound})"
                   for k, bound in LEFT_BOUNDS_MIB.items() if row["left"][k] > bound]
    details = {"baseline": base, "cycles": cycles, "bounds_mib": LEFT_BOUNDS_MIB}
    if failed:
        return "fail", "; ".join(failed), details
    held = cycles[0]["held"]["allocated"] - base["allocated"]
    return "pass", (f"held {held:.0f} MiB while running; left after release "
                    f"{', '.join(f'{k} {v:.1f} MiB' for k, v in cycles[-1]['left'].items())}"
                    ), details
