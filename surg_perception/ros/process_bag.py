"""``surg-perception process-bag IN OUT --checkpoint CKPT``: the node's outputs, offline.

Every image topic of IN (sensor_msgs/Image or CompressedImage, ground-truth topics
excluded; or the ``--topic`` list) runs through the node's own pipeline
(:mod:`surg_perception.ros.offline`, next to this module), one temporal memory per topic,
as fast as the device allows and without DDS. OUT receives what the node would publish, on
the live node's names (:mod:`surg_perception.topics`): ``/apmtl_node/<name>`` for one camera
as launched by ``apmtl.launch.py`` (``--namespace NS``: ``/NS/apmtl_node/<name>``, the launch
file's ``namespace:=NS``), ``<camera namespace>/apmtl_node/<name>`` per camera for several.
Names: ``mask``, ``part_mask`` (a part-head model), ``mask_color``, ``overlay``,
``detections``, ``activity``, ``scene``, ``instruments``, ``instrument_markers``,
``label_info/<head>``; headers equal to the input frames' headers and bag times equal to the
input's. ``--copy-inputs`` also copies the input topics. OUT ending in ``.mcap`` is one file.

Stereo (``--right-topic RIGHT``): the one other image topic (or ``--topic``) is the left eye;
each left frame is paired with the right image of nearest stamp by the node's own rule
(``StereoPairer``: ``stereo.slop_s``, ``stereo.max_wait_s`` of bag time, mono once the right eye
stopped), runs through the node's ``FrameProcessor`` with its right image, and
``~/instruments`` carries 3D tips once the rig is known: from ``--camera-info LEFT RIGHT`` or
``<eye namespace>/camera_info`` (read before the first pair; a changed projection rebuilds it).
Outputs are written at the left frame's bag time. ``endovis2bag --right`` writes such pairs.

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
from surg_perception.topics import camera_namespace, ground_truth_topics, stream_namespaces


def process_bag(src: str | Path, out: str | Path, checkpoint: str | Path, *,
                topics: Sequence[str] | None = None, device: str = "cpu",
                overrides: dict[str, Any] | None = None, storage: str = "mcap",
                force: bool = False, copy_inputs: bool = False, progress: bool = True,
                namespace: str | None = None, keep_partial: bool = False,
                right_topic: str | None = None,
                camera_info: Sequence[str] | None = None) -> dict[str, Any]:
    """Process ``src`` into ``out``; returns ``{"frames", "counts", "metrics", "partial"}``
    (stereo: also ``"stereo"``: pairs, mono frames, given-up frames, rig, warnings).

    ``overrides`` are node parameters (``{"detection.score_threshold": 0.5}``); post-processing
    not overridden is the checkpoint's ``spec.postprocess``, as in the node and ``evaluate``.
    ``namespace``: the node namespace of a one-camera bag (default ``/``). ``partial`` is
    ``""`` or, with ``keep_partial``, the reason the input stopped early. ``right_topic``:
    stereo, the left eye being the one other image topic (or ``topics[0]``); ``camera_info``:
    the left and right CameraInfo topics (default ``<eye namespace>/camera_info`` when in IN).

    Raises:
        BagError: unreadable/truncated input (OUT removed unless ``keep_partial``), missing
            topic, existing output without ``force``.
        CheckpointError, ConfigError: from loading the model; a namespace for several cameras;
            stereo with several left topics.
    """
    # Lazy: rclpy loads only when a bag is processed, so `process-bag --help` works without ROS.
    from surg_perception.ros import offline

    check_output(Path(out), force)
    from surg_perception.bags.metrics import BagMetrics  # torch: not for `--help`

    with BagReader(src) as reader:
        cameras = image_topics(reader, topics)
        stereo = None
        if right_topic is not None:
            cameras, stereo = _stereo_inputs(reader, cameras, right_topic, camera_info)
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
        run = _Run(reader, streams, metrics, copy_inputs, progress, Path(src).name)
        if stereo is not None:
            run.stereo(offline.OfflineStereo(streams[cameras[0]], reader.topics[cameras[0]]
                                             == ts.COMPRESSED_IMAGE), *stereo)
        with BagWriter(out, storage, force) as writer:
            run.run(writer)
            if run.failure and not keep_partial:
                writer.discard()
                raise BagError(f"{run.failure[0]}; {out} was not written (the {run.frames} "
                               "frame(s) processed were removed)",
                               remedy="pass --keep-partial to keep the readable part")
    report = metrics.report()
    if report:
        Path(f"{out}.metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    result = {"frames": run.frames, "counts": dict(writer.counts), "metrics": report,
              "partial": str(run.failure[0]) if run.failure else ""}
    if run.pairing is not None:
        result["stereo"] = run.stereo_summary()
    return result


def _stereo_inputs(reader: BagReader, cameras: list[str], right: str,
                   camera_info: Sequence[str] | None) -> tuple[list[str], tuple[str, dict]]:
    """(the one left topic, (right topic, {info topic: eye})) of a stereo run."""
    reader.require(right, (ts.IMAGE,))  # the node's right eye is raw sensor_msgs/Image too
    left = [t for t in cameras if t != right]
    if len(left) != 1:
        raise ConfigError(f"--right-topic {right}: stereo needs exactly one left image topic, "
                          f"found {left or 'none'}", remedy="name the left one with --topic")
    if camera_info is not None:
        infos = list(camera_info)
        for topic in infos:
            reader.require(topic, ("sensor_msgs/msg/CameraInfo",))
    else:
        infos = [f"{camera_namespace(t)}/camera_info" for t in (left[0], right)]
        infos = infos if all(t in reader.topics for t in infos) else []
    return left, (right, dict(zip(infos, ("left", "right"))))


class _Run:
    """The read -> process -> write loop of one process-bag run (mono streams or a pair)."""

    def __init__(self, reader: BagReader, streams: dict, metrics: Any, copy_inputs: bool,
                 progress: bool, name: str) -> None:
        self.reader, self.streams, self.metrics = reader, streams, metrics
        self.copy_inputs = copy_inputs
        self.bar = tqdm(total=sum(reader.counts.get(t, 0) for t in streams) or None,
                        desc=f"process-bag {name}", unit="frame", disable=not progress)
        self.frames = 0
        self.failure: list[BagError] = []
        self.pairing: Any = None
        self.right, self.infos = "", {}

    def stereo(self, pairing: Any, right: str, infos: dict[str, str]) -> None:
        self.pairing, self.right, self.infos = pairing, right, infos
        if not infos:
            pairing.warnings.append("no camera_info topics: pairs are processed, no 3D tips "
                                    "(pass --camera-info LEFT RIGHT)")
        for message in self.reader.messages(set(infos)):  # the rig before the first pair
            pairing.put_info(infos[message.topic], message.raw)
            if pairing.stream.processor.instruments.rig is not None:
                break

    def run(self, writer: BagWriter) -> None:
        wanted = (set(self.streams) | self.metrics.truth_topics | set(self.infos)
                  | ({self.right} if self.right else set())
                  | (set(self.reader.topics) if self.copy_inputs else set()))
        for message in _readable(self.reader.messages(wanted), self.failure):
            if self.copy_inputs:
                writer.write(message.topic, message.msgtype, message.timestamp, message.raw)
            camera = next(iter(self.streams)) if self.pairing else message.topic
            self._write(writer, camera, self._dispatch(message))
        if self.pairing is not None:
            self._write(writer, next(iter(self.streams)), self._count(self.pairing.finish()))
        self.bar.close()

    def _write(self, writer: BagWriter, camera: str, done: list[tuple[int, list]]) -> None:
        for timestamp, records in done:
            for topic, msgtype, raw in records:
                writer.write(topic, msgtype, timestamp, raw)
                if msgtype != ts.LABEL_INFO:  # ".../label_info/activity" is no activity
                    self.metrics.add_output(camera, topic, msgtype, raw)

    def _dispatch(self, message: BagMessage) -> list[tuple[int, list]]:
        pairing, topic = self.pairing, message.topic
        if pairing is not None:
            if topic in self.infos:
                pairing.put_info(self.infos[topic], message.raw)
                return []
            if topic == self.right:
                return self._count(pairing.put_right(message.raw, message.timestamp))
            if topic in self.streams:
                return self._count(pairing.put_left(message.raw, message.timestamp))
        if topic not in self.streams:
            self.metrics.add_truth(message)
            return []
        compressed = message.msgtype == ts.COMPRESSED_IMAGE
        return self._count([(message.timestamp,
                             self.streams[topic].process(message.raw, compressed))])

    def _count(self, done: list) -> list:
        self.frames += len(done)
        self.bar.update(len(done))
        return done

    def stereo_summary(self) -> dict[str, Any]:
        status = self.pairing.stream.processor.instruments.status()
        return {"right_topic": self.right, "camera_info": sorted(self.infos),
                "stereo_frames": status["stereo_frames"], "mono_frames": status["mono_frames"],
                "given_up": self.pairing.given_up, "rig": status["stereo_rig"],
                "warnings": list(dict.fromkeys(self.pairing.warnings))}


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
    parser.add_argument("--instance-boxes", action=argparse.BooleanOptionalAction,
                        default=None, help="publish a box per segmented instrument too "
                        "(default: the checkpoint's)")
    parser.add_argument("--namespace", help="node namespace of the outputs, as the launch "
                        "file's namespace:= (default /: /apmtl_node/*; several cameras: each "
                        "camera's namespace)")
    parser.add_argument("--right-topic", help="stereo: the right eye's sensor_msgs/Image topic; "
                        "pairs with the left (--topic, or the one other image topic) as the "
                        "node's stereo.* rule and adds 3D tips to ~/instruments")
    parser.add_argument("--camera-info", nargs=2, metavar=("LEFT", "RIGHT"),
                        help="stereo: the eyes' CameraInfo topics (default: "
                        "<eye namespace>/camera_info when the bag has them)")
    parser.add_argument("--stereo-slop-s", type=float,
                        help="stereo: stamps pair within this (default: the node's stereo.slop_s)")
    parser.add_argument("--stereo-max-wait-s", type=float,
                        help="stereo: a left frame waits this much bag time for its right one "
                        "(default: the node's stereo.max_wait_s)")
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
               "detection.instance_boxes": args.instance_boxes,
               "model.backend": args.backend,
               "stereo.slop_s": args.stereo_slop_s,
               "stereo.max_wait_s": args.stereo_max_wait_s}
    # Only what the user gave: the rest stays the checkpoint's post-processing.
    overrides = {name: value for name, value in options.items() if value is not None}
    result = process_bag(args.src, args.out, args.checkpoint, topics=args.topics,
                         device=args.device, overrides=overrides, storage=args.storage,
                         force=args.force, copy_inputs=args.copy_inputs,
                         progress=not args.no_progress, namespace=args.namespace,
                         keep_partial=args.keep_partial, right_topic=args.right_topic,
                         camera_info=args.camera_info)
    print(f"processed {result['frames']} frame(s) into {args.out}")
    if "stereo" in result:
        pairs = result["stereo"]
        print(f"stereo: {pairs['stereo_frames']} pair(s) with 3D, {pairs['mono_frames']} "
              f"without (mono or no rig), {pairs['given_up']} left frame(s) given up; rig "
              f"{'from ' + ' + '.join(pairs['camera_info']) if pairs['rig'] else 'unknown'}")
        for warning in pairs["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
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
