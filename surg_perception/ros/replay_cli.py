"""``surg-perception replay``'s command line: parsed without ROS, published by ``ros.replay``.

rclpy loads only when a bag is played, so ``replay --help`` stays fast and works without ROS.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from surg_perception.bags.replay import parse_remaps, schedule, select_topics
from surg_perception.bags.storage import BagReader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception replay``."""
    parser.add_argument("bag", type=Path, help="bag folder, .mcap or .db3")
    parser.add_argument("--topic", action="append", dest="topics",
                        help="topic to play (repeatable; default: every image topic except "
                        "the ground truth)")
    parser.add_argument("--ground-truth", action="store_true",
                        help="also play the ground-truth topics (<ns>/ground_truth/*)")
    parser.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    parser.add_argument("--start", type=float, default=0.0, help="skip this many seconds")
    parser.add_argument("--loop", action="store_true", help="play again and again")
    parser.add_argument("--remap", action="append", default=[], metavar="OLD:=NEW",
                        help="rename a topic (repeatable)")
    parser.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="before playing, wait up to this long for a subscriber per topic "
                        "(playing starts as soon as every topic has one)")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception replay``; returns the exit status."""
    from surg_perception.ros.replay import RawPublisher, play  # rclpy: only when playing

    remaps = parse_remaps(args.remap)
    with BagReader(args.bag) as reader:
        topics = select_topics(reader, args.topics, args.ground_truth)
    publisher = RawPublisher({remaps.get(t, t): m for t, m in topics.items()}, qos=args.qos)
    try:
        if args.wait_for_subscribers > 0 and not publisher.wait_for_subscribers(
                args.wait_for_subscribers):
            print(f"warning: no subscriber after {args.wait_for_subscribers:g} s on "
                  f"{', '.join(publisher.without_subscribers())}; playing anyway",
                  file=sys.stderr)
        count = play(schedule(args.bag, list(topics), args.rate, args.start, args.loop, remaps),
                     publisher)
    finally:
        publisher.close()
    print(f"published {count} message(s) on {', '.join(remaps.get(t, t) for t in topics)}")
    return 0
