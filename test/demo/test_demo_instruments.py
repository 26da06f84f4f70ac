"""``make demo STEREO=1``'s instrument scoring: recorded InstrumentArray bytes -> tip errors.

The arrays are built from the generator's ground truth of a small stereo video (boxes of the
true masks, true 2D and 3D tips) with the node's own message classes, serialised by rclpy
as on the wire and written to a bag as the recorder does. The demo must score them with
zero tip errors, count the one id switch planted, skip the frame the node "dropped", and
print the scores in its summary.
"""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")

from geometry_msgs.msg import Point  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from vision_msgs.msg import BoundingBox2D, Point2D  # noqa: E402

from surg_perception.bags.storage import BagWriter  # noqa: E402
from surg_perception.config import load_spec  # noqa: E402
from surg_perception.demo import recipe  # noqa: E402
from surg_perception.demo import summary as demo_summary  # noqa: E402
from surg_perception.evaluation.instruments import mask_box, read_sequence_truth  # noqa: E402
from surg_perception.msg import Instrument, InstrumentArray  # noqa: E402
from surg_perception.ros import demo_live as demo  # noqa: E402

FRAMES, DROPPED, SWITCH_AT = 8, 3, 5
T0, PERIOD = 1_700_000_000_000_000_000, 66_666_667
TYPE = "surg_perception/msg/InstrumentArray"


def _array(record: dict, masks: dict, stamp: int, t: int) -> InstrumentArray:
    array = InstrumentArray(header=demo._header(stamp, demo.FRAME_ID), stereo=True)
    for k, gt in enumerate(record["instruments"]):
        x0, y0, x1, y1 = mask_box(masks[gt["folder"]])
        box = BoundingBox2D(size_x=x1 - x0, size_y=y1 - y0)
        box.center.position.x, box.center.position.y = (x0 + x1) / 2, (y0 + y1) / 2
        track = k + 1 + (10 if k == 0 and t >= SWITCH_AT else 0)  # one planted id switch
        both = gt["tip_in_view"]["left"] and gt["tip_in_view"]["right"]
        array.instruments.append(Instrument(
            track_id=track, class_id=gt["type_id"], box=box,
            tip_2d=Point2D(x=gt["tip_2d"]["left"][0], y=gt["tip_2d"]["left"][1]),
            tip_3d=Point(x=gt["tip_3d"][0], y=gt["tip_3d"][1], z=gt["tip_3d"][2]),
            tip_3d_valid=both, tip_3d_reason="ok" if both else "no_match"))
    return array


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-instruments")
    video = recipe.synth_data(root, "video", 1, FRAMES, (320, 256), recipe.VIDEO_SEED,
                              stereo=True)
    seq = video / "instrument_dataset_1"
    truth = read_sequence_truth(seq)
    stamps = [T0 + t * PERIOD for t in range(FRAMES)]
    with BagWriter(root / "bag") as writer:
        for t, (frame, stamp) in enumerate(zip(truth, stamps)):
            if t != DROPPED:
                msg = _array(frame.record, frame.masks, stamp, t)
                writer.write(demo.INSTRUMENTS_TOPIC, TYPE, stamp + 10**6, serialize_message(msg))
    arrays = demo_summary.recorded_scenes(root / "bag", demo.INSTRUMENTS_TOPIC)
    return root, video, arrays, stamps


def test_recorded_truth_scores_zero_errors_and_the_planted_switch(recorded):
    _, video, arrays, stamps = recorded
    scores = demo_summary.score_instruments_video(arrays, stamps, video / "instrument_dataset_1")
    assert scores["frames"] == FRAMES - 1 and scores["stereo_arrays"] == FRAMES - 1
    assert scores["tip_2d_px"]["n"] > 0 and scores["tip_2d_px"]["median"] == pytest.approx(0.0)
    assert scores["tip_3d_mm"]["n"] > 0
    assert scores["tip_3d_mm"]["median"] == pytest.approx(0.0, abs=1e-9)
    assert scores["mot"]["id_switches"] == 1 and scores["mot"]["fp"] == 0
    assert scores["mot"]["fn"] == 0 and scores["mot"]["mota"] < 1.0


def test_the_summary_prints_tip_errors_and_id_switches(recorded, tiny_config_path, capsys):
    root, video, arrays, stamps = recorded
    spec = load_spec(tiny_config_path)
    truths = recipe.load_video(video, spec)
    scores = demo_summary.score_video([], stamps, truths, spec.model)
    instruments = demo_summary.score_instruments_video(arrays, stamps,
                                                       video / "instrument_dataset_1")
    live = {"stamps": stamps, "diagnostics": {}, "counts": {demo.INSTRUMENTS_TOPIC: 7},
            "node_exit": 0}
    about = {"model": "tiny", "checkpoint": "-", "train_config": "tiny.yaml",
             "train_set": recipe.TRAIN_SET, "score_threshold": 0.5,
             "video": {"frames": FRAMES, "size": (320, 256), "seed": 7, "sequence": 1,
                       "path": str(video), "stereo": True}}
    summary = demo_summary.summarise(live, [], scores, about, root, instruments)
    demo_summary.print_summary(summary)
    printed = capsys.readouterr().out
    assert "instruments (stereo)   : 7 frames, 7 with a stereo pair" in printed
    assert "2D tip error: median 0.00 px" in printed and "3D tip error at 5-15 cm" in printed
    assert "tracks: 1 id switches" in printed
    assert np.isclose(summary["instruments"]["tip_2d_px"]["median"], 0.0)
    assert (root / "summary.json").is_file()
