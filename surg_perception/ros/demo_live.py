"""``make demo``'s live run: the node as a real process, the video over DDS, a recorded bag.

The rclpy half of :mod:`surg_perception.demo` (which prepares the data and the model before,
and renders and scores the bag after): starts ``apmtl_node`` (autostart) on
:data:`CAMERA_TOPIC`, publishes the frames at video rate and records every output topic and
the input into a rosbag2 (mcap) bag. rclpy is imported inside the functions, so
``surg_perception.demo`` imports this module on machines without ROS.

Stereo (``make demo STEREO=1``): the node runs with ``stereo.enabled`` and its four stereo
inputs remapped to :data:`STEREO_TOPICS`; every frame is published as both camera_info, the
right image, then the left image (equal stamps), and ``~/instruments`` is recorded with the
rest.

Before the video, handshake frames are sent until every topic is matched both ways
(:mod:`surg_perception.ros.demo_handshake`): they are neither recorded nor counted.
"""

from __future__ import annotations

from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np

CAMERA_TOPIC = "/jhu_daVinci/left/image_raw"
FRAME_ID = "jhu_daVinci_left"
NODE = "/apmtl_node"
SCENE_TOPIC = f"{NODE}/scene"
INSTRUMENTS_TOPIC = f"{NODE}/instruments"
# the node's stereo inputs (topics.STEREO_INPUTS) -> the demo's topics, dVRK-style
STEREO_TOPICS = {"left/image_raw": CAMERA_TOPIC, "right/image_raw": "/jhu_daVinci/right/image_raw",
                 "left/camera_info": "/jhu_daVinci/left/camera_info",
                 "right/camera_info": "/jhu_daVinci/right/camera_info"}
RIGHT_FRAME_ID = "jhu_daVinci_right"
STEREO_MAX_WAIT_S = 1.0  # a loaded machine delays one eye's 640x512 image now and then
DRAIN_TIMEOUT_S = 120.0  # a loaded 2-core machine; a timeout is an error, never a shorter bag
HANDSHAKE_TIMEOUT_S = 120.0  # the first frames also warm the model up, on a busy machine
HANDSHAKE_PERIOD_S = 1.0  # one handshake frame per second until every topic answered


def log(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def start_node(ckpt: Path, log_path: Path, score_threshold: float,
               stereo: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "surg_perception.ros.node", "--ros-args",
           "-p", f"model.checkpoint:={ckpt}", "-p", "autostart:=true",
           "-p", f"detection.score_threshold:={score_threshold:g}",
           "-p", "input.qos:=reliable", "-r", f"image:={CAMERA_TOPIC}"]
    if stereo:
        cmd += ["-p", "stereo.enabled:=true", "-p", f"stereo.max_wait_s:={STEREO_MAX_WAIT_S}"]
        for name, topic in STEREO_TOPICS.items():
            cmd += ["-r", f"{name}:={topic}"]
    log(f"starting apmtl_node: {' '.join(cmd[1:])}")
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def frame_stamp(t0_ns: int, index: int, fps: float) -> int:
    """Header stamp (ns) of frame ``index`` of a video started at ``t0_ns``."""
    return t0_ns + int(round(index * 1e9 / fps))


def _header(stamp_ns: int, frame_id: str):
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return header


def image_message(frame: np.ndarray, stamp_ns: int, frame_id: str = FRAME_ID):
    from surg_perception.ros.conversions import numpy_to_image

    return numpy_to_image(frame, "rgb8", _header(stamp_ns, frame_id))


def info_message(record: dict, stamp_ns: int, frame_id: str):
    """``sensor_msgs/CameraInfo`` of a ``camera_info`` record (the synthetic manifest's)."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(header=_header(stamp_ns, frame_id), width=record["width"],
                     height=record["height"], distortion_model=record["distortion_model"])
    msg.d = [float(v) for v in record["d"]]
    msg.k = np.ravel(record["k"]).astype(float).tolist()
    msg.r = np.ravel(record["r"]).astype(float).tolist()
    msg.p = np.ravel(record["p"]).astype(float).tolist()
    return msg


class Stereo:
    """The right eye of the video and both eyes' ``camera_info`` records (left, right)."""

    def __init__(self, right: list[np.ndarray], infos: tuple[dict, dict]) -> None:
        self.right, self.infos = right, infos
        self._pubs: list = []

    def publishers(self, node, qos) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self._pubs = [node.create_publisher(kind, STEREO_TOPICS[name], qos) for name, kind in (
            ("left/camera_info", CameraInfo), ("right/camera_info", CameraInfo),
            ("right/image_raw", Image))]

    def publish(self, index: int, stamp_ns: int, frame_id: str | None = None) -> None:
        """Frame ``index``'s camera_info and right image, sent before its left image;
        ``frame_id`` replaces both eyes' (the handshake's)."""
        left_info, right_info, right = self._pubs
        left_info.publish(info_message(self.infos[0], stamp_ns, frame_id or FRAME_ID))
        right_info.publish(info_message(self.infos[1], stamp_ns, frame_id or RIGHT_FRAME_ID))
        right.publish(image_message(self.right[index], stamp_ns, frame_id or RIGHT_FRAME_ID))

    def ready(self) -> bool:
        return all(pub.get_subscription_count() > 0 for pub in self._pubs)

    def topics(self) -> list[tuple[str, str]]:
        return [(STEREO_TOPICS[n], t) for n, t in (
            ("right/image_raw", "sensor_msgs/msg/Image"),
            ("left/camera_info", "sensor_msgs/msg/CameraInfo"),
            ("right/camera_info", "sensor_msgs/msg/CameraInfo"))]


def run_live(ckpt: Path, frames: list[np.ndarray], fps: float, score_threshold: float,
             out: Path, stereo: Stereo | None = None) -> dict:
    """Node process + publisher + recorder; returns what the summary needs: the stamps
    sent, the node's last diagnostics values, the recorded counts and the node's exit code.
    ``stereo``: the node pairs the left frames with these right ones (module docstring).

    First a handshake (:func:`handshake`): nothing of the video is sent before every
    recorded topic has answered, and the counters returned are the video's only.

    The drain is exact, not a guess: first the node's own /diagnostics must account for
    every frame sent (received = processed + dropped + rejected: nothing left in flight),
    then the recorder must hold one ``SurgicalScene`` per processed frame and every other
    output as many times as the node built it (``built.<output>``); each wait fails loudly
    on timeout. The recorder is the only output subscriber and the counts are read
    after it closed, so the summary and the bag cannot disagree. (Before: the drain ended
    when the scene count stopped growing for 5 s, so under load a slow node's last scenes
    could arrive after the bag was closed, and a second /scene subscription once let the
    count be read while the recorder's copy of the last scene was still queued.)
    """
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from surg_perception.bags.storage import written_summary
    from surg_perception.ros.demo_handshake import HandshakeFilter, since
    from surg_perception.ros.messages import diagnostics_values
    from surg_perception.ros.recorder import TopicRecorder
    from surg_perception.topics import DIAGNOSTICS_TOPIC, output_topics

    rclpy.init()
    node = rclpy.create_node("surg_perception_demo")
    proc = start_node(ckpt, out / "node.log", score_threshold, stereo is not None)
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, diagnostics.append, 10)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(Image, CAMERA_TOPIC, qos)
    outputs = output_topics(NODE)  # exactly what the node publishes
    topics = [*outputs.values(), (CAMERA_TOPIC, "sensor_msgs/msg/Image")]
    if stereo is not None:
        stereo.publishers(node, qos)
        topics += stereo.topics()
    inputs = [topic for topic, _ in topics if not topic.startswith(f"{NODE}/")]
    frame_outputs = [topic for name, (topic, _) in outputs.items() if "label_info" not in name]

    def send(index: int, stamp_ns: int, frame_id: str | None = None) -> None:
        if stereo is not None:
            stereo.publish(index, stamp_ns, frame_id)
        pub.publish(image_message(frames[index], stamp_ns, frame_id or FRAME_ID))

    stamps, shake = [], HandshakeFilter()
    try:
        with TopicRecorder(node, topics, out / "bag", skip=shake) as recorder:
            wait_for(node, lambda: pub.get_subscription_count() > 0 and
                     node.count_publishers(SCENE_TOPIC) > 0 and
                     (stereo is None or stereo.ready()), proc, 120, "node to activate")

            def missing() -> list[str]:  # SCENE always; other outputs once discovered
                return shake.missing(
                    [*inputs, SCENE_TOPIC, *filter(recorder.matched, frame_outputs)],
                    INSTRUMENTS_TOPIC if stereo is not None else None)

            base = handshake(node, send, missing, recorder, diagnostics, proc)
            log(f"node active; publishing {len(frames)} frames at {fps:g} fps")
            t0 = time.time_ns()
            for i in range(len(frames)):
                stamps.append(frame_stamp(t0, i, fps))
                send(i, stamps[-1])
                rclpy.spin_once(node, timeout_sec=0)
                next_at = t0 + (i + 1) * 1e9 / fps
                while time.time_ns() < next_at:
                    rclpy.spin_once(node, timeout_sec=max(0.0, (next_at - time.time_ns()) / 1e9))
            after = len(diagnostics)  # only diagnostics from after the last frame was sent
            settled = wait_for(node, lambda: node_settled(diagnostics[after:]), proc,
                               DRAIN_TIMEOUT_S, "the node to account for every frame sent")
            # the video's counters (handshake frames excluded): one SurgicalScene per processed
            # frame, and every other output as often as the node built it (each topic is its
            # own writer: the last scene can come in before the last ~/instruments)
            video = since(settled, base)
            published = {topic: int(video.get(f"built.{name}", 0))
                         for name, (topic, _) in outputs.items() if topic in frame_outputs}
            published[SCENE_TOPIC] = int(video["processed"])
            wait_for(node, lambda: all(recorder.counts.get(topic, 0) >= n
                                       for topic, n in published.items()), proc,
                     DRAIN_TIMEOUT_S, f"the recorder to receive what the node published "
                     f"(messages per topic: {published})")
        counts = recorder.counts  # final: the bag is closed, nothing can be added any more
        log(written_summary(out / "bag", counts))
    finally:
        code = stop_node(proc)
        node.destroy_node()
        rclpy.shutdown()
    # the node's last /diagnostics values (dropped, rejected, ...), counters of the video only
    last = since(diagnostics_values(diagnostics[-1]), base)
    return {"stamps": stamps, "diagnostics": last, "counts": counts, "node_exit": code}


def handshake(node, send, missing, recorder, diagnostics: list, proc) -> dict[str, str]:
    """Send handshake frames (the first frame, frame_id ``handshake``) until ``missing()``
    is empty (:mod:`.demo_handshake`), then wait until the node has accounted for all of
    them; returns its /diagnostics values then: the base of the video's counters.

    Raises:
        RuntimeError: still missing after :data:`HANDSHAKE_TIMEOUT_S`, naming the topics.
    """
    from surg_perception.ros.demo_handshake import HANDSHAKE

    deadline, sent = time.monotonic() + HANDSHAKE_TIMEOUT_S, 0
    while left := missing():
        if time.monotonic() >= deadline:
            state = {True: "matched", False: "has no matched publisher"}
            why = ", ".join(f"{t} (subscription {state[recorder.matched(t)]})" for t in left)
            raise RuntimeError(f"handshake: no answer recorded on {why} after {sent} "
                               f"handshake frame(s) in {HANDSHAKE_TIMEOUT_S:.0f} s (stereo: "
                               f"{INSTRUMENTS_TOPIC} must answer with stereo set)")
        send(0, time.time_ns(), HANDSHAKE)
        sent += 1
        wait_for(node, lambda: not missing(), proc, HANDSHAKE_PERIOD_S, "the handshake",
                 required=False)
    log(f"handshake: every topic answered after {sent} frame(s)")
    after = len(diagnostics)
    return wait_for(node, lambda: node_settled(diagnostics[after:]), proc, DRAIN_TIMEOUT_S,
                    "the node to account for the handshake frames")


def node_settled(diagnostics: list) -> dict[str, str] | None:
    """The node's newest /diagnostics values once nothing is left in flight, else None.

    Every received frame ends exactly once: processed (scenes published), dropped (replaced
    in the newest-frame slot, or a duplicate) or rejected. ``diagnostics`` are the messages
    since the last frame was sent: settled when two successive ones (1 s apart) show the
    same number received, all of them accounted for. Not ``received == frames sent``: a
    frame the middleware itself dropped would make that wait forever.
    """
    from surg_perception.ros.messages import diagnostics_values

    values = [v for v in map(lambda m: diagnostics_values(m, NODE), diagnostics) if v]
    if len(values) < 2 or values[-1]["received"] != values[-2]["received"]:
        return None
    last = values[-1]
    done = sum(int(last[key]) for key in ("processed", "dropped", "rejected"))
    return last if done == int(last["received"]) else None


def wait_for(node, condition, proc, timeout: float, what: str, required: bool = True):
    """Spin ``node`` until ``condition()`` is truthy (returns its value); raises on timeout
    unless ``required`` is false (then False) and as soon as the node process has exited."""
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise RuntimeError(f"apmtl_node exited with {proc.returncode} while waiting for "
                               f"{what}")
        rclpy.spin_once(node, timeout_sec=0.1)
    if required:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
    return False
