"""Pool the published-protocol scores of several evaluation reports (e.g. the four folds).

``python -m surg_perception.evaluation.pool reports/fold*/report.json [--row box_fill_on]``
prints one table row per report, the four-fold result over the pooled frames (every frame
counts once, whichever fold it was validated in) and the plain mean of the reports' rows.
The published code we read evaluates one set of frames at a time; papers do not say which of
the two aggregates they print, so both are given. Pooling is exact: reports keep the sums
and counts of ``protocol.ProtocolAccumulator``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys

from surg_perception.errors import ConfigError, SurgPerceptionError
from surg_perception.evaluation.protocol import ProtocolAccumulator
from surg_perception.evaluation.report import protocol_table

ROWS = ("box_fill_off", "box_fill_on")


def _row(path: Path, row: str) -> dict:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read an evaluation report ({err})") from err
    protocol = report.get("overall", {}).get("protocol", {})
    if row not in protocol:
        raise ConfigError(f"{path}: no protocol row {row!r}; re-run surg-perception evaluate")
    return protocol[row]


def _mean(values: list) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def pool(paths: list[Path], row: str = "box_fill_on") -> dict[str, dict]:
    """Table rows: each report (labelled by its folder), ``pooled frames``, ``mean of reports``."""
    if not paths:
        raise ConfigError("pass at least one report.json")
    rows: dict[str, dict] = {}
    for path in paths:
        label = path.parent.name if path.parent.name not in rows else str(path.parent)
        rows[label or str(path)] = _row(path, row)
    names = list(next(iter(rows.values()))["class_iou"])
    pooled = ProtocolAccumulator(len(names))
    for summary in rows.values():
        pooled.merge_state(summary["state"])
    mean = {key: _mean([r[key] for r in rows.values()])
            for key in ("challenge_iou", "iou", "mc_iou")}
    mean["class_iou"] = {n: _mean([r["class_iou"].get(n) for r in rows.values()]) for n in names}
    return {**rows, "pooled frames": pooled.summary(names), "mean of reports": mean}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surg_perception.evaluation.pool",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", type=Path, nargs="+", help="report.json files")
    parser.add_argument("--row", choices=ROWS, default="box_fill_on",
                        help="which mask to pool (default: box_fill_on)")
    args = parser.parse_args(argv)
    try:
        print("\n".join(protocol_table(pool(args.reports, args.row))))
    except SurgPerceptionError as exc:
        print(f"pool: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
