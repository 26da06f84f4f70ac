"""The worker side without DDS: frame slot, reset rules, statistics, FrameProcessor."""

import dataclasses
import threading
import time

import numpy as np
import pytest

from surg_perception.errors import CheckpointError, ConfigError, ImageFormatError
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.params import settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.stats import NodeStats
from surg_perception.ros.worker import (
    FrameKey,
    FrameWorker,
    LatestFrameSlot,
    PendingFrame,
    is_duplicate,
    reset_reason,
)


def test_slot_keeps_only_the_newest_frame():
    slot = LatestFrameSlot()
    assert slot.put(PendingFrame("a", False, 0.0)) is False
    assert slot.put(PendingFrame("b", False, 0.0)) is True  # "a" dropped
    assert slot.take(timeout=0).msg == "b"
    assert slot.take(timeout=0) is None
    slot.close()
    slot.put(PendingFrame("c", False, 0.0))
    assert slot.take(timeout=0) is None


def test_worker_survives_errors_and_stops():
    slot, seen, errors = LatestFrameSlot(), [], []
    done = threading.Event()

    def process(frame):
        if frame.msg == "bad":
            raise RuntimeError("boom")
        seen.append(frame.msg)
        done.set()

    worker = FrameWorker(slot, process, errors.append)
    worker.start()
    slot.put(PendingFrame("bad", False, 0.0))
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    slot.put(PendingFrame("good", False, 0.0))
    assert done.wait(10)
    assert worker.stop()
    assert seen == ["good"] and isinstance(errors[0], RuntimeError)


def test_reset_reasons():
    prev = FrameKey(10 * 10**9, "cam", (96, 128))
    assert reset_reason(None, prev, 1.0) == "first frame"
    assert reset_reason(prev, dataclasses.replace(prev, stamp_ns=prev.stamp_ns + 10**8), 1.0) == ""
    assert "backwards" in reset_reason(prev, dataclasses.replace(prev, stamp_ns=1), 1.0)
    assert "gap" in reset_reason(prev, dataclasses.replace(prev, stamp_ns=12 * 10**9), 1.0)
    assert reset_reason(prev, dataclasses.replace(prev, stamp_ns=12 * 10**9), 0.0) == ""
    assert "frame_id" in reset_reason(prev, dataclasses.replace(prev, frame_id="right"), 1.0)
    assert "size" in reset_reason(prev, dataclasses.replace(prev, size=(48, 64)), 1.0)
    assert is_duplicate(prev, prev)
    assert not is_duplicate(FrameKey(0, "", (1, 1)), FrameKey(0, "", (1, 1)))


def test_stats_snapshot():
    stats = NodeStats()
    stats.count("received", 3)
    stats.count("dropped")
    stats.reject("encoding")
    stats.reject("encoding")
    stats.reject("step")
    for ms in (10.0, 20.0, 30.0):
        stats.frame_done(ms, ms / 2, memory_reset=ms == 10.0)
    snap = stats.snapshot()
    assert (snap["received"], snap["processed"], snap["dropped"]) == (3, 3, 1)
    assert (snap["rejected"], snap["rejected.encoding"], snap["rejected.step"]) == (3, 2, 1)
    assert snap["latency_ms.p50"] == pytest.approx(20.0) and snap["memory_resets"] == 1
    assert snap["latency_ms.max"] == 30.0
    stats.reset()
    assert stats.snapshot()["processed"] == 0


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    settings = settings_from_values({"model.checkpoint": str(tiny_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 1,
                                     "detection.score_threshold": 0.0})
    return FrameProcessor(load_predictor(settings)), settings


def _frame(sec: int, nanosec: int = 0, size=(96, 128), frame_id="cam") -> PendingFrame:
    pixels = np.random.default_rng(sec).integers(0, 256, size + (3,), dtype=np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    return PendingFrame(msg, False, time.monotonic())


def test_processor_builds_every_output(processor):
    proc, settings = processor
    proc.restart()
    out = proc.process(_frame(5), settings, fps=30.0)
    assert set(out.messages) == {"mask", "part_mask", "mask_color", "overlay", "detections",
                                 "activity", "scene", "instruments", "instrument_markers"}
    parts = out.messages["part_mask"]  # the tiny model has a part head
    assert (parts.encoding, parts.width, parts.height, parts.step) == ("mono8", 128, 96, 128)
    assert max(bytes(parts.data)) < len(proc.predictor.spec.model.part_classes)
    scene = out.messages["scene"]
    assert scene.memory_reset and scene.memory_reset_reason == "first frame"
    assert (scene.mask.width, scene.mask.height) == (128, 96)
    for msg in out.messages.values():
        for part in getattr(msg, "markers", [msg]):  # a MarkerArray: each marker's header
            assert part.header.stamp.sec == 5 and part.header.frame_id == "cam"
    assert len(out.messages["detections"].detections) > 0  # threshold 0: boxes exist
    assert proc.process(_frame(5), settings) is None  # duplicate stamp
    later = proc.process(_frame(5, 33_000_000), settings).messages["scene"]
    assert not later.memory_reset and later.sequence == 1
    rewound = proc.process(_frame(1), settings).messages["scene"]
    assert rewound.memory_reset and "backwards" in rewound.memory_reset_reason
    status = proc.status()
    assert status["device"] == "cpu" and status["has_detection"] and status["local_size"] >= 1
    infos = proc.label_infos(scene.header, settings)
    assert infos["detection"].class_map[0].class_id == 1
    assert [c.class_name for c in infos["parts"].class_map] == [
        "background", "shaft", "wrist", "claspers"]


def test_processor_rejects_bad_frames_and_honours_publish_flags(processor):
    proc, settings = processor
    bad = _frame(9)
    bad.msg.encoding = "yuv422"
    with pytest.raises(ImageFormatError):
        proc.process(bad, settings)
    only_scene = dataclasses.replace(settings, publish_mask=False, publish_part_mask=False,
                                     publish_mask_color=False,
                                     publish_overlay=False, publish_detections=False,
                                     publish_activity=False, publish_instruments=False,
                                     publish_instrument_markers=False)
    assert set(proc.process(_frame(10), only_scene).messages) == {"scene"}


def test_load_predictor_errors_and_memory_override(tiny_checkpoint, tmp_path):
    base = {"model.device": "cpu", "model.warmup_steps": 0}
    with pytest.raises(ConfigError, match="empty"):
        load_predictor(settings_from_values(base))
    with pytest.raises(CheckpointError, match="not found"):
        load_predictor(settings_from_values({**base, "model.checkpoint": str(tmp_path / "no.pt")}))
    predictor = load_predictor(settings_from_values({
        **base, "model.checkpoint": str(tiny_checkpoint), "memory.override": True,
        "memory.tau": 2, "memory.alpha": -0.5}))
    assert predictor.spec.model.memory.tau == 2 and predictor.spec.model.memory.alpha == -0.5


def test_instrument_tips_come_from_the_claspers_of_the_part_mask(processor):
    from surg_perception.predictor import FrameResult
    from surg_perception.ros.instrument_stream import InstrumentStream

    types = np.zeros((96, 128), np.uint8)
    types[40:56, 20:61] = 1  # one instrument, its right end farther from the border
    parts = np.zeros_like(types)
    parts[40:56, 20:31], parts[40:56, 31:41], parts[40:56, 41:61] = 3, 2, 1  # claspers left
    empty = np.zeros((0, 4), np.float32)

    def tip(part_mask):
        result = FrameResult(types, None, empty, np.zeros(0, np.float32), np.zeros(0, np.int64),
                             None, {}, {}, part_mask)
        (found,) = InstrumentStream(processor[0].predictor).step(result, None, stamp=0.0)
        return found.instance.tip_2d

    assert tip(None)[0] > 55  # without parts: the end away from the border
    assert tip(parts)[0] < 25  # with parts: the claspers' end, whatever the border says
