"""``surg-perception process-bag IN OUT --checkpoint CKPT``: the node's outputs, offline.

Every image topic of IN (sensor_msgs/Image or CompressedImage, ground-truth topics
excluded; or the ``--topic`` list) runs through the node's own pipeline
(:mod:`surg_perception.ros.offline`, next to this module), one temporal memory per topic,
as fast as the device allows and without DDS. OUT receives what the node would publish, on
the live node's names (:mod:`surg_perception.topics`): ``/apmtl_node/<name>`` for one camera
as launched by ``apmtl.launch.py`` (``--namespace NS``: ``/NS/apmtl_node/<name>``, the launch
file's ``namespace:=NS``), ``<camera namespace>/apmtl_node/<name>`` per camera for several.
Names: ``mask``, ``mask_color``, ``overlay``, ``detections``, ``activity``, ``scene``,
``label_info/<head>``; headers equal to the input frames' headers and bag times equal to the
input's. ``--copy-inputs`` also copies the input topics. OUT ending in ``.mcap`` is one file.

When IN holds ground truth (``endovis2bag`` writes ``<ns>/ground_truth/...``), a metrics
report is printed and written next to OUT (``<OUT>.metrics.json``).

Partial outputs: a truncated IN is an error and OUT is not written (the partial result is
removed, so a rerun needs no ``--force``), unless ``--keep-partial``: then OUT holds every
frame of the readable part and the run says so (``result["partial"]``). An interrupted run
(Ctrl-C) closes OUT on the way out, so it holds the frames done before the stop.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
import json
from pathlib import Path
import sys
from typing import Any

from tqdm import tqdm

from surg_perception.backends import BACKENDS
from surg_perception.bags import typestore as ts
from surg_perception.bags.storage import (
    STORAGES,
    BagMessage,
    BagReader,
    BagWriter,
    check_output,
    image_topics,
    written_summary,
)
from surg_perception.errors import BagError, ConfigError
from surg_perception.topics import ground_truth_topics, stream_namespaces


def process_bag(src: str | Path, out: str | Path, checkpoint: str | Path, *,
                topics: Sequence[str] | None = None, device: str = "cpu",
                overrides: dict[str, Any] | None = None, storage: str = "mcap",
                force: bool = False, copy_inputs: bool = False, progress: bool = True,
                namespace: str | None = None, keep_partial: bool = False) -> dict[str, Any]:
    """Process ``src`` into ``out``; returns ``{"frames", "counts", "metrics", "partial"}``.

    ``overrides`` are node parameters (``{"detection.score_threshold": 0.5}``); post-processing
    not overridden is the checkpoint's ``spec.postprocess``, as in the node and ``evaluate``.
    ``namespace``: the node namespace of a one-camera bag (default ``/``). ``partial`` is
    ``""`` or, with ``keep_partial``, the reason the input stopped early.

    Raises:
        BagError: unreadable/truncated input (OUT removed unless ``keep_partial``), missing
            topic, existing output without ``force``.
        CheckpointError, ConfigError: from loading the model; a namespace for several cameras.
    """
    # Lazy: rclpy loads only when a bag is processed, so `process-bag --help` works without ROS.
    from surg_perception.ros import offline

    check_output(Path(out), force)
    from surg_perception.bags.metrics import BagMetrics  # torch: not for `--help`

    with BagReader(src) as reader:
        cameras = image_topics(reader, topics)
        try:
            namespaces = stream_namespaces(cameras, namespace)
        except ValueError as exc:
            raise ConfigError(f"--namespace: {exc}", remedy="process one --topic at a time, "
                              "or leave --namespace out (one namespace per camera)") from exc
        settings = offline.offline_settings(str(checkpoint), device, overrides)
        streams = dict(zip(cameras, offline.open_streams(settings, list(namespaces.values()))))
        seg_classes = streams[cameras[0]].processor.predictor.spec.model.seg_classes
        metrics = BagMetrics(reader, cameras, {t: ground_truth_topics(t) for t in cameras},
                             len(seg_classes))
        frames = 0
        bar = tqdm(total=sum(reader.counts.get(t, 0) for t in cameras) or None,
                   desc=f"process-bag {Path(src).name}", unit="frame", disable=not progress)
        wanted = set(cameras) | metrics.truth_topics | (set(reader.topics) if copy_inputs
                                                         else set())
        failure: list[BagError] = []
        with BagWriter(out, storage, force) as writer:
            for message in _readable(reader.messages(wanted), failure):
                if copy_inputs:
                    writer.write(message.topic, message.msgtype, message.timestamp, message.raw)
                if message.topic not in streams:
                    metrics.add_truth(message)
                    continue
                compressed = message.msgtype == ts.COMPRESSED_IMAGE
                for topic, msgtype, raw in streams[message.topic].process(message.raw,
                                                                          compressed):
                    writer.write(topic, msgtype, message.timestamp, raw)
                    metrics.add_output(message.topic, topic, msgtype, raw)
                frames += 1
                bar.update()
            bar.close()
            if failure and not keep_partial:
                writer.discard()
                raise BagError(f"{failure[0]}; {out} was not written (the {frames} frame(s) "
                               "processed were removed)",
                               remedy="pass --keep-partial to keep the readable part")
    report = metrics.report()
    if report:
        Path(f"{out}.metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return {"frames": frames, "counts": dict(writer.counts), "metrics": report,
            "partial": str(failure[0]) if failure else ""}


def _readable(messages: Iterator[BagMessage], failure: list[BagError]) -> Iterator[BagMessage]:
    """``messages`` up to a damaged input's error, which lands in ``failure`` (not raised)."""
    try:
        yield from messages
    except BagError as exc:
        failure.append(exc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception process-bag``."""
    parser.add_argument("src", type=Path, help="input bag (folder, .mcap or .db3)")
    parser.add_argument("out", type=Path,
                        help="output bag: a folder, or one file when it ends in .mcap")
    parser.add_argument("--checkpoint", required=True, type=Path, help="model checkpoint (.pt)")
    parser.add_argument("--topic", action="append", dest="topics",
                        help="image topic to process (repeatable; default: every image topic)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--backend", choices=BACKENDS, default="eager",
                        help="network runtime, as the node's model.backend (default eager)")
    parser.add_argument("--score-threshold", type=float,
                        help="detection score threshold (default: the checkpoint's)")
    parser.add_argument("--nms-threshold", type=float,
                        help="detection NMS IoU threshold (default: the checkpoint's)")
    parser.add_argument("--box-fill", action=argparse.BooleanOptionalAction, default=None,
                        help="fill confident boxes into the mask (default: the checkpoint's)")
    parser.add_argument("--namespace", help="node namespace of the outputs, as the launch "
                        "file's namespace:= (default /: /apmtl_node/*; several cameras: each "
                        "camera's namespace)")
    parser.add_argument("--keep-partial", action="store_true",
                        help="on a truncated input, keep the output of its readable part "
                        "(default: remove it and fail)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    parser.add_argument("--copy-inputs", action="store_true", help="also copy the input topics")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception process-bag``; returns the exit status."""
    options = {"detection.score_threshold": args.score_threshold,
               "detection.nms_threshold": args.nms_threshold,
               "detection.box_fill": args.box_fill,
               "model.backend": args.backend}
    # Only what the user gave: the rest stays the checkpoint's post-processing.
    overrides = {name: value for name, value in options.items() if value is not None}
    result = process_bag(args.src, args.out, args.checkpoint, topics=args.topics,
                         device=args.device, overrides=overrides, storage=args.storage,
                         force=args.force, copy_inputs=args.copy_inputs,
                         progress=not args.no_progress, namespace=args.namespace,
                         keep_partial=args.keep_partial)
    print(f"processed {result['frames']} frame(s) into {args.out}")
    if result["partial"]:
        print(f"warning: PARTIAL output (--keep-partial): the input stopped early: "
              f"{result['partial']}", file=sys.stderr)
    print(written_summary(args.out, result["counts"]))
    metrics_file = Path(f"{args.out}.metrics.json")
    if result["metrics"]:
        print(f"wrote {metrics_file}")
    for name, value in sorted(result["metrics"].items()):
        print(f"  {name}: {value}")
    return 0
