"""The node's own ``autostart`` (what runs without launch) activates once: an operator's
deactivate sticks (issue 15). Real node process, real lifecycle services."""

import time

from lifecycle_msgs.msg import Transition
import pytest

pytestmark = pytest.mark.ros

NODE = "apmtl_autostart_test"
STAYS_S = 5.0  # how long the node must stay inactive (polled, not slept)


def test_deactivate_after_autostart_sticks(start_node, make_probe, tiny_checkpoint):
    node = start_node(NODE, {"model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
                             "model.warmup_steps": 1, "autostart": True,
                             "input.image_topic": "/autostart_test/image",
                             "input.compressed_topic": ""})
    probe = make_probe("autostart_probe")
    probe.wait_node(node, "active")
    assert probe.change_state(NODE, Transition.TRANSITION_DEACTIVATE)
    polls = 0
    deadline = time.monotonic() + STAYS_S
    while time.monotonic() < deadline:
        assert probe.state(NODE) == "inactive", f"re-activated after {polls} polls"
        polls += 1
    assert polls > 0
    assert probe.change_state(NODE, Transition.TRANSITION_ACTIVATE)  # and it still works
    assert probe.state(NODE) == "active"
    assert node.stop() == 0, node.log()
