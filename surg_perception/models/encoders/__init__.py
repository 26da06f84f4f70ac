"""Encoders with one output contract (:class:`~.base.EncoderFeatures`)."""
