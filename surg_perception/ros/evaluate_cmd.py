"""``surg-perception evaluate``: :mod:`surg_perception.evaluation.cli` with the instruments.

The evaluation may not import ``ros/`` (it sits on a lower floor), but ``--instruments``
runs the node's :class:`~surg_perception.ros.instrument_stream.InstrumentStream`; so the
command is registered here and hands
:func:`~surg_perception.ros.instrument_eval.evaluate_instruments` to the evaluation, as
``bench_cli`` hands the bench its ROS message stage. Nothing here imports rclpy: the
command runs on machines without ROS.
"""

from __future__ import annotations

import argparse

from surg_perception.evaluation import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from surg_perception.ros.instrument_eval import evaluate_instruments

    return cli.run(args, instruments=evaluate_instruments)
