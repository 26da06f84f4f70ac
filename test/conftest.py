"""Shared test set-up: keep DDS on this machine and isolate concurrent test runs.

Every test process gets its own ROS domain (so two pytest runs on one machine never see each
other's topics), discovery limited to localhost (no multicast leaves the machine) and Fast
DDS's UDP transport only.
Child processes started by tests inherit these variables.
"""

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
# Fast DDS over UDP on localhost only: its shared-memory transport locks port files in
# /dev/shm, and under load a participant started right after another exited sometimes failed
# "open_and_lock_file" and stayed undiscovered for minutes (the signal loop's stall,
# cf. eProsima/Fast-DDS#2003). Over UDP every test still crosses real DDS.
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
# Tiny models on a 2-core machine: one intra-op thread per process avoids oversubscription
# when a test process and a node process compute at once (set before torch is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_config_path() -> Path:
    return REPO_ROOT / "config" / "models" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    """An untrained tiny model's checkpoint (seeded): enough for ROS and reliability tests."""
    import torch

    from surg_perception.checkpoint import save_checkpoint
    from surg_perception.config import load_spec
    from surg_perception.models.registry import build_model

    torch.manual_seed(0)
    spec = load_spec(tiny_config_path)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    return save_checkpoint(path, build_model(spec.model).eval(), spec)


@pytest.fixture(scope="session")
def oracle_checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    """The untrained tiny model at 256x320, for tests whose ORACLE network replaces it
    (``test/ros/instruments_oracle.py``): the checkpoint fixes the spec, not the outputs."""
    import dataclasses

    from surg_perception.checkpoint import save_checkpoint
    from surg_perception.config import load_spec
    from surg_perception.models.registry import build_model

    spec = load_spec(tiny_config_path)
    spec = dataclasses.replace(spec, preprocess=dataclasses.replace(spec.preprocess,
                                                                    input_size=(256, 320)))
    path = tmp_path_factory.mktemp("checkpoint") / "oracle.pt"
    return save_checkpoint(path, build_model(spec.model).eval(), spec)


# Module scope, not session: each node process (~0.85 GB, a DDS participant publishing
# /diagnostics every second) and each probe (a participant with its executor thread in this
# process) ends with the test module that made it. Session-scoped, they all lived to the end
# of the run: the later ROS modules (the signal loop among them) ran beside every earlier
# module's nodes.
@pytest.fixture(scope="module")
def start_node(repo_root, tmp_path_factory):
    """``start_node(name, params, entry=None, env=None) -> NodeProcess``; stopped with the
    module."""
    from support.ros_process import NodeProcess

    started: list[NodeProcess] = []

    def start(name: str, params: dict[str, Any], entry: list[str] | None = None,
              env: dict[str, str] | None = None) -> NodeProcess:
        log = tmp_path_factory.mktemp("node") / f"{name}.log"
        process = NodeProcess(repo_root, log, name, params, entry, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def make_probe():
    """``make_probe(name) -> Probe`` (a test-side rclpy node); closed with the module."""
    from support.ros_process import Probe

    probes: list[Probe] = []

    def make(name: str) -> Probe:
        probe = Probe(name)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()
