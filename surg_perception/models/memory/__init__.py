"""DMNet temporal dual memory (ELA local + AGA global) with an explicit, exportable state."""

from surg_perception.models.memory.dual_memory import DualMemory
from surg_perception.models.memory.state import MemoryState

__all__ = ["DualMemory", "MemoryState"]
