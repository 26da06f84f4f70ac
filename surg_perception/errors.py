"""Typed errors raised by surg_perception.

Every error says what is wrong and, where possible, what to do about it. Callers
(the CLI, the lifecycle node) catch :class:`SurgPerceptionError` and report its
message; nothing in the library uses ``assert`` on user input.
"""


class SurgPerceptionError(Exception):
    """Base class for all errors this package raises on purpose."""


class ConfigError(SurgPerceptionError, ValueError):
    """A configuration file or value is invalid (unknown key, wrong type, bad range)."""


class CheckpointError(SurgPerceptionError):
    """A checkpoint is missing, unreadable, unsafe or does not match the model."""


class ImageFormatError(SurgPerceptionError, ValueError):
    """An image (array or message) cannot be interpreted: encoding, size or data."""


class DatasetError(SurgPerceptionError):
    """A dataset file is missing, mismatched or malformed; the message names the file."""


class BagError(SurgPerceptionError):
    """A rosbag is missing a topic, has an unknown type, or is truncated/corrupt."""
