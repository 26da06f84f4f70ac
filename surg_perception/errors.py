"""Typed errors raised by surg_perception.

Every error says what is wrong and, where possible, what to do about it. Library code and
commands raise them; the one place that prints them is ``surg-perception``'s entry point
(:func:`surg_perception.cli.main`: one line on stderr, exit code :attr:`exit_code`), and the
lifecycle node logs them. Nothing in the library uses ``assert`` on user input.
"""

from __future__ import annotations


class SurgPerceptionError(Exception):
    """Base class for all errors this package raises on purpose.

    ``remedy`` (optional) is what to do about it; ``str()`` gives ``message (remedy)``.
    ``exit_code`` is the command-line exit status: 1, a failure while running (a file that
    cannot be read, a bag cut short); :class:`ConfigError` uses 2, like argparse for usage.
    """

    exit_code = 1

    def __init__(self, message: str = "", remedy: str | None = None) -> None:
        super().__init__(message if remedy is None else f"{message} ({remedy})")
        self.remedy = remedy


class ConfigError(SurgPerceptionError, ValueError):
    """A configuration file, option or value is invalid (unknown key, wrong type, bad range)."""

    exit_code = 2


class CheckpointError(SurgPerceptionError):
    """A checkpoint is missing, unreadable, unsafe or does not match the model."""


class ImageFormatError(SurgPerceptionError, ValueError):
    """An image (array or message) cannot be interpreted: encoding, size or data."""


class DatasetError(SurgPerceptionError):
    """A dataset file is missing, mismatched or malformed; the message names the file."""


class BagError(SurgPerceptionError):
    """A rosbag is missing a topic, has an unknown type, or is truncated/corrupt."""
