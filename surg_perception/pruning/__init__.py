"""GADP: global attention dynamic pruning of the AP-MTL encoder (``surg-perception prune``).

``attention`` trains squeeze-excite gates on the frozen network and collects per-channel
statistics, ``gadp`` masks and fine-tunes round by round, ``surgery`` removes the masked
channels physically (every consumer shrinks) and returns a model that rebuilds from its
``channel_widths``.
"""
