"""Reusable layers: L2Norm, Skip-scSE, SSD extra blocks."""
