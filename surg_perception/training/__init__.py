"""Training: the ATO schedule, multi-task losses, the clip loop, DDP and the ``train`` command."""
