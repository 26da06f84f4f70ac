"""Import a module from ``scripts/`` (not a package) in a test."""

import importlib
from pathlib import Path
import sys
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def import_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module; ``scripts/`` goes on ``sys.path`` so that the
    scripts' imports of each other resolve as when they run."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)
