"""``surg-perception endovis2bag SRC [OUT]``: an EndoVis sequence or a video -> a rosbag2 bag.

Topics (camera namespace ``ns`` = the image topic without its last name, e.g.
``/jhu_daVinci/left``):

- ``--topic`` (default ``/jhu_daVinci/left/image_raw``): sensor_msgs/Image (rgb8 or bgr8),
  or sensor_msgs/CompressedImage on ``<topic>/compressed`` with ``--compressed jpeg|png``;
  ``--right`` adds the right eye on ``--right-topic`` with the same stamps;
- when the source is annotated: ``<ns>/ground_truth/mask`` (mono8 class ids, never
  compressed), ``<ns>/ground_truth/detections`` (Detection2DArray, class_id = label id as a
  decimal string, score 1) and ``<ns>/ground_truth/activity`` (Classification with the one
  true class, omitted for frames without an activity label).

Frame ``i`` is stamped ``start_time + i / fps`` (header and bag time alike). The default
output name depends only on the source and storage, and a fixed default start time makes
two conversions byte-identical; an existing output is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from surg_perception.bags import typestore as ts
from surg_perception.bags.sources import GroundTruth, Source, open_source
from surg_perception.bags.storage import (
    STORAGES,
    BagWriter,
    check_output,
    written_summary,
)
from surg_perception.errors import BagError
from surg_perception.topics import ground_truth_topics

LEFT_TOPIC = "/jhu_daVinci/left/image_raw"
RIGHT_TOPIC = "/jhu_daVinci/right/image_raw"
DEFAULT_START_S = 1_700_000_000.0  # fixed, so repeated conversions are identical
DEFAULT_FPS = 30.0


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """How frames become messages; see the module docstring for the topics."""

    storage: str = "mcap"
    fps: float | None = None  # None: the video's own rate, else DEFAULT_FPS
    start_time: float = DEFAULT_START_S
    frame_id: str = "jhu_daVinci_left"
    right_frame_id: str = "jhu_daVinci_right"
    topic: str = LEFT_TOPIC
    right_topic: str = RIGHT_TOPIC
    encoding: str = "rgb8"
    compressed: str | None = None  # jpeg | png
    force: bool = False
    progress: bool = True


def default_output(src: Path, storage: str) -> Path:
    """``./<source name>_<storage>``: the same source always maps to the same bag."""
    return Path.cwd() / f"{src.stem}_{storage}"


def convert(src: str | Path, out: str | Path, options: ConvertOptions = ConvertOptions(),
            right: str | Path | None = None) -> dict[str, int]:
    """Write the bag; returns message counts per topic."""
    if options.compressed not in (None, "jpeg", "png"):
        raise BagError(f"--compressed {options.compressed!r}: use jpeg or png")
    if options.encoding not in ("rgb8", "bgr8"):
        raise BagError(f"--encoding {options.encoding!r}: use rgb8 or bgr8")
    check_output(Path(out), options.force)
    left = open_source(src, "left")
    eyes = [(left, options.topic, options.frame_id)]
    if right is not None:
        eyes.append((open_source(right, "right"), options.right_topic, options.right_frame_id))
    fps = options.fps or left.fps or DEFAULT_FPS
    if fps <= 0:
        raise BagError(f"--fps {fps}: the frame rate must be positive")
    start_ns = int(round(options.start_time * 1e9))
    with BagWriter(out, options.storage, options.force) as writer:
        bar = tqdm(total=left.count or None, desc=f"endovis2bag {Path(src).name}", unit="frame",
                   disable=not options.progress)
        for index, frames in enumerate(zip(*(source.frames for source, _, _ in eyes))):
            stamp = start_ns + int(round(index * 1e9 / fps))
            for (source, topic, frame_id), frame in zip(eyes, frames):
                header = ts.header(stamp, frame_id)
                _write_image(writer, topic, header, stamp, frame.image, options)
                if frame.truth is not None:
                    _write_truth(writer, ground_truth_topics(topic), header, stamp, frame.truth)
            bar.update()
        bar.close()
    _check_pairs(eyes, writer.counts)
    return dict(writer.counts)


def _check_pairs(eyes: list[tuple[Source, str, str]], counts: dict[str, int]) -> None:
    """Stereo sources of different length are cut to the shorter one: say so."""
    if len(eyes) == 2 and eyes[0][0].count != eyes[1][0].count:
        print(f"warning: left has {eyes[0][0].count} frames and right {eyes[1][0].count}; "
              f"wrote {min(counts.values())} pairs")


def _write_image(writer: BagWriter, topic: str, header: Any, stamp: int, rgb: np.ndarray,
                 options: ConvertOptions) -> None:
    if options.compressed is None:
        pixels = rgb if options.encoding == "rgb8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        writer.write_msg(topic, ts.IMAGE, stamp, ts.image_msg(pixels, options.encoding, header))
        return
    ok, data = cv2.imencode(f".{'jpg' if options.compressed == 'jpeg' else 'png'}",
                            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise BagError(f"OpenCV could not {options.compressed}-encode a {rgb.shape} frame")
    # image_transport's format string: what the pixels were, how they were compressed.
    fmt = f"rgb8; {options.compressed} compressed bgr8"
    writer.write_msg(f"{topic}/compressed", ts.COMPRESSED_IMAGE, stamp,
                     ts.compressed_msg(data.tobytes(), fmt, header))


def _write_truth(writer: BagWriter, topics: dict[str, str], header: Any, stamp: int,
                 truth: GroundTruth) -> None:
    writer.write_msg(topics["mask"], ts.IMAGE, stamp, ts.image_msg(truth.mask, "mono8", header))
    writer.write_msg(topics["detections"], ts.DETECTIONS, stamp,
                     detections(header, truth.boxes, truth.labels))
    if truth.activity >= 0:
        types = ts.typestore().types
        result = types["vision_msgs/msg/ObjectHypothesis"](class_id=str(truth.activity),
                                                           score=1.0)
        msg = types[ts.CLASSIFICATION](header=header, results=[result])
        writer.write_msg(topics["activity"], ts.CLASSIFICATION, stamp, msg)


def detections(header: Any, boxes: np.ndarray, labels: np.ndarray,
               scores: np.ndarray | None = None) -> Any:
    """Detection2DArray (rosbags types) of xyxy pixel ``boxes`` [N, 4], ``labels`` [N]."""
    types = ts.typestore().types
    scores = np.ones(len(labels)) if scores is None else scores
    items = []
    for (x0, y0, x1, y1), label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist()):
        centre = types["vision_msgs/msg/Pose2D"](
            position=types["vision_msgs/msg/Point2D"](x=(x0 + x1) / 2, y=(y0 + y1) / 2),
            theta=0.0)
        bbox = types["vision_msgs/msg/BoundingBox2D"](center=centre, size_x=x1 - x0,
                                                     size_y=y1 - y0)
        hypothesis = types["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=types["vision_msgs/msg/ObjectHypothesis"](class_id=str(int(label)),
                                                                 score=float(score)),
            pose=types["geometry_msgs/msg/PoseWithCovariance"](
                pose=types["geometry_msgs/msg/Pose"](
                    position=types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                    orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0,
                                                                     w=1.0)),
                covariance=np.zeros(36)))
        items.append(types["vision_msgs/msg/Detection2D"](header=header, results=[hypothesis],
                                                          bbox=bbox, id=""))
    return types[ts.DETECTIONS](header=header, detections=items)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception endovis2bag``."""
    parser.add_argument("src", type=Path, help="EndoVis sequence folder, frame folder or video")
    parser.add_argument("out", type=Path, nargs="?",
                        help="output bag folder, or one file when it ends in .mcap "
                        "(default ./<SRC name>_<storage>)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    parser.add_argument("--fps", type=float, help="frame rate of the stamps (default: the "
                        f"video's own, {DEFAULT_FPS:g} for frame folders)")
    parser.add_argument("--start-time", type=float, default=DEFAULT_START_S,
                        help="stamp of the first frame, seconds since the epoch")
    parser.add_argument("--frame-id", default=ConvertOptions.frame_id)
    parser.add_argument("--topic", default=LEFT_TOPIC, help="left/mono image topic")
    parser.add_argument("--right", type=Path, help="right-eye source (stereo)")
    parser.add_argument("--right-topic", default=RIGHT_TOPIC)
    parser.add_argument("--right-frame-id", default=ConvertOptions.right_frame_id)
    parser.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8")
    parser.add_argument("--compressed", choices=("jpeg", "png"),
                        help="write sensor_msgs/CompressedImage on <topic>/compressed")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception endovis2bag``; returns the exit status."""
    out = args.out or default_output(args.src, args.storage)
    options = ConvertOptions(
        storage=args.storage, fps=args.fps, start_time=args.start_time, frame_id=args.frame_id,
        right_frame_id=args.right_frame_id, topic=args.topic, right_topic=args.right_topic,
        encoding=args.encoding, compressed=args.compressed, force=args.force,
        progress=not args.no_progress)
    counts = convert(args.src, out, options, right=args.right)
    print(written_summary(Path(out), counts))
    return 0
