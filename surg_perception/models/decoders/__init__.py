"""Segmentation decoders."""
