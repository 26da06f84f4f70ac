"""Incompatible-QoS events on the node's topics: one warning per (topic, policy) with the fix.

DDS never connects a reader and a writer whose QoS policies do not match, and nothing
flows; the classic case is a best-effort camera driver and a reliable subscription. rclpy
reports it as an event on either end: ``requested`` on the node's image subscriptions (a
publisher offers less than the node asks) and ``offered`` on its publishers (a subscriber
asks for more). :class:`QosWatch` turns each into one warning naming the policy and the
parameter that fixes it, and counts every event for ``/diagnostics``.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
import threading
from typing import Any

from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.qos import qos_policy_name_from_kind

INPUT, OUTPUT = "input", "output"  # the node's subscription / the node's publisher


def policy_name(kind: Any) -> str:
    """``QoSPolicyKind.RELIABILITY`` (or its int) -> ``"RELIABILITY"``."""
    try:
        return qos_policy_name_from_kind(kind)
    except (ValueError, KeyError, TypeError):
        return str(kind)


def incompatibility_hint(side: str, topic: str, policy: str, param: str | None,
                         value: str | None) -> str:
    """The warning for one incompatibility: what does not match and which setting fixes it.

    ``param``/``value`` name the node's QoS parameter governing the topic and its value
    (``input.qos`` / ``output.qos``), None for the fixed-QoS topics (LabelInfo, diagnostics).
    """
    if side == INPUT and policy == "RELIABILITY":
        return (f"a publisher on {topic} is best-effort but the node's subscription is "
                f"reliable ({param}={value}): no frames arrive from it; set "
                f"{param}:=best_effort (or sensor_data, which matches any publisher)")
    if side == OUTPUT and policy == "RELIABILITY":
        fix = f"set {param}:=reliable (it serves best-effort subscribers too)" if param else \
            "subscribe reliable"
        return (f"a subscriber of {topic} requests reliable delivery but the node publishes "
                f"best-effort ({param}={value}): it receives nothing; {fix}, or subscribe "
                "best-effort (the sensor-data profile)")
    if side == OUTPUT and policy == "DURABILITY":
        return (f"a subscriber of {topic} requests transient-local durability but the topic is "
                "volatile (only ~/label_info/* is latched): it receives nothing; subscribe "
                "with volatile durability")
    if side == INPUT:
        return (f"a publisher on {topic} offers a {policy} QoS the node's subscription does "
                f"not accept ({param}={value}): no frames arrive from it; compare both ends "
                f"with `ros2 topic info -v {topic}`")
    return (f"a subscriber of {topic} requests a {policy} QoS the node does not offer: it "
            f"receives nothing; compare both ends with `ros2 topic info -v {topic}`")


class QosWatch:
    """Counts incompatible-QoS events and warns once per (topic, policy) through ``warn``.

    Once per (topic, policy) and QoS parameter value: after cleanup, a new ``input.qos`` and
    configure, a mismatch that is still there is reported again.
    """

    def __init__(self, warn: Callable[[str], Any]) -> None:
        self._warn = warn
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._warned: set[tuple[str, str, str | None]] = set()

    def event(self, side: str, topic: str, kind: Any, count: int = 1,
              param: str | None = None, value: str | None = None) -> bool:
        """Record ``count`` events of policy ``kind`` on ``topic``; True when it warned."""
        policy = policy_name(kind)
        with self._lock:
            first = (topic, policy, value) not in self._warned
            self._warned.add((topic, policy, value))
            self._counts[topic, policy] += max(1, count)
        if first:
            self._warn(f"incompatible QoS ({policy}) on {topic}: "
                       + incompatibility_hint(side, topic, policy, param, value))
        return first

    def counts(self) -> dict[str, int]:
        """``qos_incompatible`` (all events) and ``qos_incompatible.<topic>:<POLICY>``."""
        with self._lock:
            items = sorted(self._counts.items())
        stats = {"qos_incompatible": sum(n for _, n in items)}
        stats.update({f"qos_incompatible.{topic}:{policy}": n for (topic, policy), n in items})
        return stats

    def subscription_events(self, topic: str, param: str, value: str
                            ) -> SubscriptionEventCallbacks:
        """Event callbacks for an image subscription on ``topic`` (QoS from ``param``)."""
        return SubscriptionEventCallbacks(incompatible_qos=lambda info: self.event(
            INPUT, topic, info.last_policy_kind, info.total_count_change, param, value))

    def publisher_events(self, topic: str, param: str | None = None,
                         value: str | None = None) -> PublisherEventCallbacks:
        """Event callbacks for an output publisher on ``topic`` (QoS from ``param``)."""
        return PublisherEventCallbacks(incompatible_qos=lambda info: self.event(
            OUTPUT, topic, info.last_policy_kind, info.total_count_change, param, value))


__all__ = ["INPUT", "OUTPUT", "QosWatch", "incompatibility_hint", "policy_name"]
