"""Shared test set-up: keep DDS on this machine and isolate concurrent test runs.

Every test process gets its own ROS domain (so two pytest runs on one machine never see each
other's topics) and discovery limited to localhost (no multicast leaves the machine).
Child processes started by tests inherit these variables.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
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
