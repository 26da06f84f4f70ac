"""Evaluation: segmentation, detection and activity metrics, robustness, reports."""
