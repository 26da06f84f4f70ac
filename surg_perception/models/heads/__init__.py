"""Task heads: SSD multibox, activity classification, HOG regression (training only)."""
