"""`surg-perception bench`: where every millisecond of a frame goes (JSON + BENCHMARKS.md)."""
