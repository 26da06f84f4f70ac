"""The test probe's service calls survive a reply that never comes (test/support/ros_process).

Fast DDS drops a service response when the server has not yet matched the client's reader
(test_signals once waited 180 s for a change_state reply that way). Here a server in this
process never sends its first reply of each service, for real: its coroutine callback waits
on a future nobody completes, so rclpy never sends that response.
"""

from __future__ import annotations

import threading

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest

from support.ros_process import Probe

pytestmark = pytest.mark.ros

GOAL = {Transition.TRANSITION_CONFIGURE: ("inactive", State.PRIMARY_STATE_INACTIVE),
        Transition.TRANSITION_ACTIVATE: ("active", State.PRIMARY_STATE_ACTIVE)}


class ForgetfulServer:
    """change_state and get_state of ``name``; the first request of each is never answered
    (the transition itself is made). ``requests`` counts what arrived, per service."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.callback_groups import ReentrantCallbackGroup
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.task import Future

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.state = ("unconfigured", State.PRIMARY_STATE_UNCONFIGURED)
        self.requests = {"change_state": 0, "get_state": 0}
        # rclpy polls a parked callback (a busy thread until close) and keeps its group
        # busy: a reentrant group, and a probe that gives up waiting quickly
        self._never = Future()
        group = ReentrantCallbackGroup()
        self.node.create_service(ChangeState, f"/{name}/change_state", self._change,
                                 callback_group=group)
        self.node.create_service(GetState, f"/{name}/get_state", self._get,
                                 callback_group=group)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    async def _change(self, request, response):
        self.requests["change_state"] += 1
        self.state = GOAL[request.transition.id]
        response.success = True
        if self.requests["change_state"] == 1:
            await self._never  # the reply is lost
        return response

    async def _get(self, request, response):
        self.requests["get_state"] += 1
        response.current_state.label, response.current_state.id = self.state
        if self.requests["get_state"] == 1:
            await self._never
        return response

    def close(self) -> None:
        self._never.set_result(None)  # the parked callbacks end (their replies go nowhere)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(5)


@pytest.fixture
def server_and_probe():
    server, probe = ForgetfulServer("forgetful"), Probe("forgetful_probe")
    probe.resend_s = 0.5
    yield server, probe
    probe.close()
    server.close()


def test_lost_replies_are_recovered_without_resending_a_transition(server_and_probe):
    server, probe = server_and_probe
    # get_state: the first reply is lost, the re-sent request is answered
    assert probe.state("forgetful") == "unconfigured"
    assert server.requests["get_state"] == 2
    # change_state: sent once; the lost reply is replaced by get_state's confirmation
    assert probe.change_state("forgetful", Transition.TRANSITION_CONFIGURE, timeout=60.0)
    assert server.requests["change_state"] == 1
    assert probe.state("forgetful") == "inactive"
    # a later transition's reply arrives as usual, over the same kept client
    assert probe.change_state("forgetful", Transition.TRANSITION_ACTIVATE, timeout=60.0)
    assert server.requests["change_state"] == 2
    assert probe.state("forgetful") == "active"
    assert len(probe.recovered) == 2, probe.recovered
