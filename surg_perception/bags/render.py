"""``surg-perception render BAG --out overlay.mp4|strip.png``: look at a bag's results.

Per frame of the chosen camera topic, the picture is, in order of preference:
1. the node's own ``/apmtl_node/overlay`` image (what RViz showed; with several cameras
   ``<camera ns>/apmtl_node/overlay``, see :mod:`surg_perception.topics`), or
2. an overlay drawn here from the frame and the outputs with the same header stamp
   (``mask_color`` or ``mask``, ``detections``, ``activity``), with the node's drawing code, or
3. the frame alone (a bag without outputs).
``.mp4`` writes a video (OpenCV ``mp4v``) at the bag's frame rate; ``.png`` a strip of
``--frames`` evenly spaced pictures. Works without ROS (rosbags decoding).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from surg_perception.bags import typestore as ts
from surg_perception.bags.decode import activity_probs, detections_from_message
from surg_perception.bags.storage import BagReader, image_topics
from surg_perception.errors import BagError
from surg_perception.image_msgs import mask_to_numpy, message_to_bgr
from surg_perception.processing.colors import palette_for
from surg_perception.processing.overlay import render_overlay
from surg_perception.topics import NODE_NAME, find_output_namespace

OUTPUTS = ("overlay", "mask_color", "mask", "detections", "activity")


def rendered_frames(path: str | Path, topic: str | None = None) -> tuple[list[np.ndarray], float]:
    """BGR pictures of every frame of ``topic`` (default: the first camera) and the frame rate."""
    with BagReader(path) as reader:
        camera = topic or _default_camera(reader)
        reader.require(camera, ts.IMAGE_TYPES)
        ns = find_output_namespace(camera, reader.topics) or ""
        if camera.startswith(f"{ns}/"):
            ns = ""  # the "camera" is the node's own overlay: draw nothing on it
        wanted = {f"{ns}/{name}": name for name in OUTPUTS
                  if ns and f"{ns}/{name}" in reader.topics}
        seg = f"{ns}/label_info/segmentation"
        frames: dict[int, np.ndarray] = {}
        parts: dict[int, dict[str, Any]] = {}
        names: dict[str, list[str]] = {}
        for message in reader.messages({camera, seg, *wanted}):
            msg = ts.deserialize(message.raw, message.msgtype)
            if message.topic == seg:
                names["seg"] = [c.class_name for c in msg.class_map]
                continue
            stamp = ts.stamp_ns(msg.header)
            if message.topic == camera:
                frames[stamp] = message_to_bgr(msg, message.msgtype == ts.COMPRESSED_IMAGE)
            else:
                parts.setdefault(stamp, {})[wanted[message.topic]] = msg
    if not frames:
        raise BagError(f"{path}: topic {camera} has no frames to render")
    stamps = sorted(frames)
    pictures = [_picture(frames[s], parts.get(s, {}), names.get("seg")) for s in stamps]
    fps = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1e9) if len(stamps) > 1 else 1.0
    return pictures, fps


def _default_camera(reader: BagReader) -> str:
    """The first camera topic, or the first node overlay of an outputs-only bag."""
    try:
        return image_topics(reader)[0]
    except BagError:
        overlays = sorted(t for t in reader.topics if t.endswith(f"/{NODE_NAME}/overlay"))
        if not overlays:
            raise
        return overlays[0]


def _picture(frame: np.ndarray, parts: dict[str, Any], seg_names: list[str] | None) -> np.ndarray:
    if "overlay" in parts:
        return message_to_bgr(parts["overlay"], compressed=False)
    if not parts:
        return frame
    color = None
    if "mask_color" in parts:
        color = message_to_bgr(parts["mask_color"], compressed=False)
    elif "mask" in parts:
        ids = mask_to_numpy(parts["mask"])
        color = palette_for(seg_names or [str(i) for i in range(int(ids.max()) + 1)])[ids]
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    boxes, scores, labels = (detections_from_message(parts["detections"])
                             if "detections" in parts else empty)
    probs = activity_probs(parts["activity"]) if "activity" in parts else None
    return render_overlay(frame, color, boxes, scores, labels, (), probs)


def write_video(pictures: list[np.ndarray], out: Path, fps: float) -> None:
    height, width = pictures[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise BagError(f"{out}: OpenCV cannot write an mp4v video here")
    try:
        for picture in pictures:
            writer.write(cv2.resize(picture, (width, height)))
    finally:
        writer.release()


def write_strip(pictures: list[np.ndarray], out: Path, count: int = 8, height: int = 160) -> int:
    """``count`` evenly spaced pictures side by side, each scaled to ``height`` pixels.

    Returns the number of tiles drawn (``count``, or every picture when there are fewer).
    """
    picks = np.linspace(0, len(pictures) - 1, min(count, len(pictures))).round().astype(int)
    scaled = [cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height))
              for p in (pictures[i] for i in picks)]
    if not cv2.imwrite(str(out), np.hstack(scaled)):
        raise BagError(f"{out}: the PNG could not be written")
    return len(scaled)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception render``."""
    parser.add_argument("bag", type=Path, help="bag folder, .mcap or .db3")
    parser.add_argument("--out", type=Path, required=True, help="overlay.mp4 or strip.png")
    parser.add_argument("--topic", help="camera topic (default: the first image topic)")
    parser.add_argument("--fps", type=float, help="video frame rate (default: the bag's)")
    parser.add_argument("--frames", type=int, default=8, help="pictures in a PNG strip")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception render``; returns the exit status."""
    suffix = args.out.suffix.lower()
    if suffix not in (".mp4", ".png"):
        raise BagError(f"--out {args.out}: use a .mp4 (video) or .png (strip) file name")
    pictures, fps = rendered_frames(args.bag, args.topic)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mp4":
        write_video(pictures, args.out, args.fps or fps)
        print(f"wrote {args.out} ({len(pictures)} frame(s))")
    else:
        tiles = write_strip(pictures, args.out, args.frames)
        print(f"wrote {args.out} ({tiles} tile(s) from {len(pictures)} frame(s))")
    with BagReader(args.bag) as reader:
        if not any(f"/{NODE_NAME}/" in topic for topic in reader.topics):
            print(f"note: {args.bag} has no {NODE_NAME} output topics (overlay, mask, "
                  "detections, ...): the pictures are the camera frames without overlay; "
                  "run `surg-perception process-bag` on it first")
    return 0
