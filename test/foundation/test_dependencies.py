"""Declared dependencies equal imported ones (setup.cfg extras, requirements/base.in, package.xml).

The package's imports are read with ``ast`` (nothing is imported). Module-level imports of a
unit must be covered by the base requirements plus the extras that unit needs
(``UNIT_EXTRAS``); an import inside a function (an optional path, e.g. TensorRT or the
EndoARSS backbone file) must be declared in some extra. Conversely every declared
distribution is imported somewhere, or is in ``RUNTIME_ONLY`` with its reason.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path
import re
import sys
import xml.etree.ElementTree as ET

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "surg_perception"

# import name -> distribution name, where the two differ
DIST_OF = {"cv2": "opencv-python-headless", "yaml": "pyyaml", "skimage": "scikit-image",
           "PIL": "pillow", "torch_pruning": "torch-pruning", "mcap_ros2": "mcap-ros2-support"}
# unit (top-level module or subpackage; models/endoarss on its own) -> extras it needs
UNIT_EXTRAS = {
    "training": {"train"}, "evaluation": {"train"}, "pruning": {"train", "prune"},
    "bags": {"bags"}, "ros": {"bags"},  # ros/process_bag.py and replay read bags
    "export": {"export"}, "endoarss": {"endoarss"},
}
# declared, never imported by name: why they are needed
RUNTIME_ONLY = {
    "pycocotools": "torchmetrics' MeanAveragePrecision backend (evaluation)",
    "tensorboard": "imported by torch.utils.tensorboard (training/logs.py)",
}
# base.in entries that are tooling or ROS, not package imports
ENV_ONLY = {"setuptools", "wheel", "atheris", "catkin-pkg", "colcon-common-extensions",
            "ruff"}  # ruff: the linter of test/foundation/test_lint.py
ROS_PREFIXES = ("ros-jazzy-", "ros-rmw-")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(lines: str) -> set[str]:
    names = set()
    for line in lines.splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(_norm(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def _setup_cfg() -> tuple[set[str], dict[str, set[str]]]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    base = _requirement_names(parser["options"]["install_requires"])
    extras = {name: _requirement_names(value)
              for name, value in parser["options.extras_require"].items()}
    return base, extras


def _unit(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts[:2] == ("models", "endoarss"):
        return "endoarss"
    return parts[0].removesuffix(".py")


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Top-level names imported at module level (TYPE_CHECKING blocks excluded) and lazily."""
    module_level, lazy = set(), set()

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                (lazy if inside else module_level).add(name.split(".")[0])
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return module_level, lazy


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n != "surg_perception"}


def _ros_names() -> set[str]:
    root = ET.parse(REPO / "package.xml").getroot()
    return {e.text.strip() for tag in ("exec_depend", "depend") for e in root.iter(tag)}


def _package_imports() -> dict[str, tuple[set[str], set[str]]]:
    units: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        top, lazy = _imports(ast.parse(path.read_text()))
        known = units.setdefault(_unit(path), (set(), set()))
        known[0].update(_third_party(top))
        known[1].update(_third_party(lazy))
    return units


def test_module_level_imports_are_in_the_units_extras():
    base, extras = _setup_cfg()
    ros = _ros_names()
    problems = []
    for unit, (top, _) in _package_imports().items():
        allowed = base.union(*(extras[e] for e in UNIT_EXTRAS.get(unit, ())))
        for name in sorted(top):
            if unit == "ros" and name in ros:
                continue
            if _norm(DIST_OF.get(name, name)) not in allowed:
                problems.append(f"{unit} imports {name} at module level; declare "
                                f"{DIST_OF.get(name, name)} in {sorted(UNIT_EXTRAS.get(unit, ()))}"
                                " or install_requires")
    assert problems == []


def test_every_import_is_declared_somewhere():
    base, extras = _setup_cfg()
    declared = base.union(*extras.values())
    ros = _ros_names()
    missing = sorted(
        f"{unit}: {name}" for unit, (top, lazy) in _package_imports().items()
        for name in top | lazy
        if _norm(DIST_OF.get(name, name)) not in declared and name not in ros)
    assert missing == []


def test_every_declared_distribution_is_used():
    base, extras = _setup_cfg()
    imported = {_norm(DIST_OF.get(n, n)) for top, lazy in _package_imports().values()
                for n in top | lazy}
    test_imports = set()
    for path in (REPO / "test").rglob("*.py"):
        top, lazy = _imports(ast.parse(path.read_text()))
        test_imports |= {_norm(DIST_OF.get(n, n)) for n in top | lazy}
    runtime = {_norm(n) for n in RUNTIME_ONLY}
    package_unused = sorted(base.union(*(v for k, v in extras.items() if k != "test"))
                            - imported - runtime)
    assert package_unused == []
    assert sorted(extras["test"] - test_imports - {"pytest-timeout"}) == []  # a pytest plugin


def test_base_in_lists_exactly_the_declared_distributions():
    base, extras = _setup_cfg()
    declared = base.union(*extras.values()) - {"tensorrt"}  # TensorRT comes with the CUDA stack
    listed = _requirement_names((REPO / "requirements" / "base.in").read_text())
    listed = {n for n in listed if not n.startswith(ROS_PREFIXES)} - ENV_ONLY
    assert sorted(declared - listed) == [] and sorted(listed - declared) == []


def test_ros_imports_are_package_xml_dependencies():
    ros = _ros_names()
    top, lazy = _package_imports()["ros"]
    ros_like = {n for n in top | lazy if n.endswith("_msgs") or n.startswith(("rcl", "launch"))}
    assert sorted(ros_like - ros) == []
