"""Track ids over a generated stream: persistence, occlusion, leaving the view, reset."""

import cv2
import numpy as np
import pytest

from surg_perception.errors import ConfigError
from surg_perception.instruments import Tracker, TrackerConfig, extract_instances

H, W = 120, 160


def frame(*tools):
    """Type mask with one bar per (class, x of the tip, y) from the left border."""
    types = np.zeros((H, W), np.uint8)
    for cls, x, y in tools:
        cv2.line(types, (0, y), (x, y), cls, 9)
    return extract_instances(types)


def ids(tracked):
    return {t.instance.class_id: t.track_id for t in tracked}


def test_ids_persist_while_instruments_move_and_ages_count():
    tracker = Tracker()
    first = ids(tracker.update(frame((1, 60, 30), (2, 70, 90))))
    for step in range(1, 6):
        out = tracker.update(frame((1, 60 + 4 * step, 30 + step), (2, 70 - 3 * step, 90)))
        assert ids(out) == first
    assert sorted(t.age_frames for t in out) == [5, 5] and {t.hits for t in out} == {6}


def test_a_short_occlusion_keeps_the_id_a_long_one_does_not():
    tracker = Tracker(TrackerConfig(max_age_frames=3))
    (a,) = tracker.update(frame((3, 80, 60)))
    for _ in range(3):
        assert tracker.update(frame()) == []
    (b,) = tracker.update(frame((3, 84, 60)))
    assert b.track_id == a.track_id
    for _ in range(4):
        tracker.update(frame())
    (c,) = tracker.update(frame((3, 84, 60)))
    assert c.track_id not in (a.track_id,)  # a new id, never the old one


def test_reentry_near_where_it_left_keeps_the_id_by_distance():
    tracker = Tracker(TrackerConfig(max_age_frames=10))
    (a,) = tracker.update(frame((5, 40, 60)))
    tracker.update(frame())
    tracker.update(frame())
    (b,) = tracker.update(frame((5, 12, 62)))  # re-enters: IoU with the old box is small
    assert b.track_id == a.track_id


def test_classes_must_agree_and_seconds_limit_the_age():
    tracker = Tracker(TrackerConfig(max_age_s=0.1))
    (a,) = tracker.update(frame((1, 60, 60)), stamp=0.0)
    (b,) = tracker.update(frame((2, 60, 60)), stamp=0.03)
    assert b.track_id != a.track_id
    (c,) = tracker.update(frame((2, 62, 60)), stamp=0.5)  # lost for 0.47 s > max_age_s
    assert c.track_id not in (a.track_id, b.track_id)


def test_reset_forgets_tracks_and_never_reuses_ids_unless_asked():
    tracker = Tracker()
    seen = {t.track_id for t in tracker.update(frame((1, 60, 30), (2, 60, 90)))}
    tracker.reset()
    assert tracker.tracks == ()
    again = {t.track_id for t in tracker.update(frame((1, 60, 30), (2, 60, 90)))}
    assert not again & seen and max(again) == 4
    tracker.reset(restart_ids=True)
    assert {t.track_id for t in tracker.update(frame((1, 60, 30)))} == {1}


def test_box_iou_mode_and_config_errors():
    tracker = Tracker(TrackerConfig(use_masks=False))
    (a,) = tracker.update(frame((4, 90, 60)))
    (b,) = tracker.update(frame((4, 95, 62)))
    assert a.track_id == b.track_id
    with pytest.raises(ConfigError):
        TrackerConfig(min_iou=0.0)
