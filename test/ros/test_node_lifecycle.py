"""Lifecycle of apmtl_node in its own process, driven through the lifecycle services."""

from lifecycle_msgs.msg import Transition
import pytest

pytestmark = pytest.mark.ros

NODE = "apmtl_lifecycle_test"
IMAGE_TOPIC = "/lifecycle_test/image"
START_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def node(start_node, tmp_path_factory):
    missing = tmp_path_factory.mktemp("missing") / "missing.pt"
    process = start_node(NODE, {
        "model.checkpoint": str(missing), "model.device": "cpu", "model.warmup_steps": 1,
        "input.image_topic": IMAGE_TOPIC, "input.compressed_topic": "",
    })
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture(scope="module")
def probe(make_probe, node):
    probe = make_probe("lifecycle_probe")
    probe.wait_for(lambda: node.alive() and NODE in probe.node.get_node_names(), "the node",
                   START_TIMEOUT_S)
    return probe


def _cycle(probe, *transitions):
    for transition in transitions:
        assert probe.change_state(NODE, transition), f"transition {transition} failed"


def test_missing_checkpoint_fails_then_recovers(node, probe, tiny_checkpoint):
    assert probe.state(NODE) == "unconfigured"
    assert not probe.change_state(NODE, Transition.TRANSITION_CONFIGURE)
    assert probe.state(NODE) == "unconfigured"
    failures = [line for line in node.log().splitlines() if "configure failed" in line]
    assert len(failures) == 1 and "not found" in failures[0]
    # The fix: set the path (allowed while unconfigured) and configure again.
    result = probe.set_parameters(NODE, model__checkpoint=str(tiny_checkpoint))[0]
    assert result.successful, result.reason
    assert probe.change_state(NODE, Transition.TRANSITION_CONFIGURE)
    assert probe.state(NODE) == "inactive"


def _unconfigured_with_checkpoint(probe, checkpoint):
    """Bring the node to unconfigured with a good checkpoint (tests also run alone)."""
    if probe.state(NODE) == "inactive":
        _cycle(probe, Transition.TRANSITION_CLEANUP)
    assert probe.set_parameters(NODE, model__checkpoint=str(checkpoint))[0].successful


def test_parameters_while_configured(node, probe, tiny_checkpoint):
    _unconfigured_with_checkpoint(probe, tiny_checkpoint)
    _cycle(probe, Transition.TRANSITION_CONFIGURE)
    refused = probe.set_parameters(NODE, model__device="cuda")[0]
    assert not refused.successful and "cleanup" in refused.reason
    assert "deactivate" not in refused.reason  # inactive: cleanup is all it takes
    assert probe.set_parameters(NODE, detection__score_threshold=0.6)[0].successful
    out_of_range = probe.set_parameters(NODE, detection__nms_threshold=1.5)[0]
    assert not out_of_range.successful
    _cycle(probe, Transition.TRANSITION_CLEANUP)
    assert probe.state(NODE) == "unconfigured"


def test_twenty_cycles_leak_no_threads_or_endpoints(node, probe, tiny_checkpoint):
    _unconfigured_with_checkpoint(probe, tiny_checkpoint)
    full_cycle = (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE,
                  Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP)
    graph = probe.node
    for _ in range(2):  # warm-up: executor threads and middleware pools are created lazily
        _cycle(probe, *full_cycle)
    baseline = node.thread_count()
    for index in range(20):
        _cycle(probe, Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE)
        if index in (0, 19):
            probe.wait_for(lambda: graph.count_subscribers(IMAGE_TOPIC) == 1, "the subscription")
            probe.wait_for(lambda: graph.count_publishers(f"/{NODE}/scene") == 1, "the publisher")
        _cycle(probe, Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP)
    assert probe.state(NODE) == "unconfigured"
    probe.wait_for(lambda: graph.count_subscribers(IMAGE_TOPIC) == 0, "no subscription left")
    probe.wait_for(lambda: graph.count_publishers(f"/{NODE}/scene") == 0, "no publisher left")
    after = node.thread_count()
    print(f"threads: baseline {baseline}, after 20 cycles {after}")
    assert after <= baseline, f"{after} threads after 20 cycles, {baseline} before"
