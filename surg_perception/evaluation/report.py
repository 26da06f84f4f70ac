"""Evaluation reports: JSON (NaN -> null), Markdown tables and the degradation plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# (key, column title) of the main table
COLUMNS = (("binary_dice", "binary Dice"), ("binary_iou", "binary IoU"),
           ("type_dice", "type Dice"), ("type_iou", "type IoU"), ("hausdorff", "Hausdorff px"),
           ("map50", "mAP@0.5"), ("activity_accuracy", "activity acc"),
           ("activity_f1", "activity F1"))
# scores for which 0 is the worst value (Hausdorff: 0 is perfect, so it is not among them)
SCORES = tuple(key for key, _ in COLUMNS if key != "hausdorff")
# metrics followed under corruption: (key, title)
ROBUSTNESS = (("binary_dice", "binary Dice"), ("type_dice", "type Dice"), ("map50", "mAP@0.5"),
              ("activity_accuracy", "activity acc"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, report: dict) -> None:
    """Strict JSON: non-finite numbers become null."""
    path.write_text(json.dumps(_clean(report), indent=2) + "\n")


def fmt(value: Any) -> str:
    """A metric for a table: 3 decimals, or "n/a" for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def row_values(scores: dict, row: str) -> dict[str, Any]:
    """Flatten one box-fill row of a score dict with the row-independent metrics."""
    return {**scores[row], **{k: v for k, v in scores.items() if not isinstance(v, dict)}}


def degenerate_warnings(scores: dict, row: str = "box_fill_on") -> list[str]:
    """Why some numbers of ``scores`` (one box-fill ``row``) say nothing about the model.

    A score of exactly 0 (the model finds none of that target in any frame) and a metric
    without a value (no ground truth for it in these frames, e.g. no boxes or no activity
    labels) are both reported as if they were results; each gets one sentence here.
    """
    values = row_values(scores, row)
    titles = dict(COLUMNS)
    missing = [titles[k] for k, _ in COLUMNS if _missing(values.get(k))]
    zero = [titles[k] for k in SCORES if not _missing(values.get(k)) and values[k] == 0.0]
    warnings = []
    if not scores.get("frames"):
        warnings.append("no frame was scored: check --data, --sequences and --max-frames")
    if zero:
        warnings.append(f"{', '.join(zero)} {'is' if len(zero) == 1 else 'are'} 0 "
                        f"({row.replace('_', ' ')}): the model found none of it in any frame "
                        "(untrained or wrong checkpoint for this data?)")
    if missing:
        warnings.append(f"{', '.join(missing)}: no value, the frames have no ground truth for "
                        f"{'it' if len(missing) == 1 else 'them'} (n/a in the tables)")
    return warnings


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


PROTOCOL_NOTE = (
    "Values in %, definitions of ISINet's evaluation code (also used by MATIS and SurgicalSAM; "
    "`surg_perception/evaluation/protocol.py`). Challenge IoU: per frame, mean IoU over the "
    "classes of the ground truth; frames without ground-truth instruments are skipped. IoU: "
    "per frame, mean IoU over the classes in prediction or ground truth; frames where both are "
    "empty are skipped. Both are then averaged over frames. Per-class IoU: mean over the frames "
    "where the class is in prediction or ground truth (n/a: never). mcIoU: mean of the per-class "
    "IoUs of the classes that occur.")


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal (the papers' style), or "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100.0 * value:.1f}"


def protocol_table(rows: dict[str, dict]) -> list[str]:
    """Markdown lines laid out like the papers: Challenge IoU | IoU | mcIoU | one column per type.

    Args:
        rows: row label -> protocol summary (``protocol.ProtocolAccumulator.summary``).
    """
    names = list(next(iter(rows.values()))["class_iou"]) if rows else []
    header = ["", "Challenge IoU", "IoU", "mcIoU", *names]
    body = [[label, pct(r["challenge_iou"]), pct(r["iou"]), pct(r["mc_iou"]),
             *(pct(r["class_iou"].get(n)) for n in names)] for label, r in rows.items()]
    return markdown_table(header, body)


def protocol_rows(scores: dict) -> dict[str, dict]:
    """The box-fill off/on protocol summaries of a score dict, labelled for a table."""
    protocol = scores.get("protocol") or {}
    return {row.replace("_", " "): protocol[row] for row in ("box_fill_off", "box_fill_on")
            if row in protocol}


def _protocol_section(scores: dict) -> list[str]:
    rows = protocol_rows(scores)
    if not rows:
        return []
    state = next(iter(rows.values()))["state"]
    lines = ["", "## Published protocol (ISINet evaluation code)", "", *protocol_table(rows), "",
             PROTOCOL_NOTE + f" Frames scored: IoU {state['iou_frames']}, Challenge IoU "
             f"{state['challenge_frames']} of {state['frames']}."]
    if "part_iou" in scores["protocol"]:
        lines += ["", f"Part IoU (TernausNet convention): {pct(scores['protocol']['part_iou'])}"]
    return lines


def markdown(report: dict) -> str:
    """The report as Markdown: overall (box-fill off/on), per sequence, timing, robustness."""
    lines = [f"# Evaluation of `{report['checkpoint']}`", "",
             f"Data: `{report['data']}` ({report['overall']['frames']} frames, split "
             f"{report['split']}).", "", "## Overall", ""]
    header = ["", *(title for _, title in COLUMNS)]
    rows = [[row.replace("_", " "), *(fmt(row_values(report["overall"], row).get(k))
                                      for k, _ in COLUMNS)]
            for row in ("box_fill_off", "box_fill_on")]
    lines += markdown_table(header, rows)
    warnings = degenerate_warnings(report["overall"])
    if warnings:
        lines += ["", *(f"**Warning:** {w}." for w in warnings)]
    lines += _protocol_section(report["overall"])
    lines += ["", "## Per sequence (box-fill on)", ""]
    rows = [[name, *(fmt(row_values(s, "box_fill_on").get(k)) for k, _ in COLUMNS)]
            for name, s in report["sequences"].items()]
    lines += markdown_table(["sequence", *header[1:]], rows)
    timing = report["timing"]
    lines += ["", "## Speed", "", f"{fmt(timing.get('fps'))} frames/s on {report['device']} "
              "(batch 1, predictor step incl. pre/post-processing); mean ms per stage: "
              + ", ".join(f"{k[:-3]} {fmt(v)}" for k, v in timing.items() if k.endswith("_ms"))]
    if "robustness" in report:
        lines += ["", "## Robustness (box-fill on)", "", f"Severity 0 = clean. Plot: "
                  f"`{report['robustness']['plot']}`."]
        for key, title in ROBUSTNESS:
            lines += ["", f"### {title}", ""]
            rows = [[name, *(fmt(v.get(key)) for v in by_severity)]
                    for name, by_severity in report["robustness"]["curves"].items()]
            lines += markdown_table(["corruption", *map(str, range(6))], rows)
    if "instruments" in report:
        from surg_perception.evaluation.instrument_report import markdown_lines

        lines += markdown_lines(report["instruments"])
    return "\n".join(lines) + "\n"


def plot_degradation(curves: dict[str, list[dict]], path: Path) -> None:
    """One panel per metric: each corruption's value against severity 0 (clean) .. 5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ROBUSTNESS), figsize=(4 * len(ROBUSTNESS), 3.4),
                             squeeze=False)
    for ax, (key, title) in zip(axes[0], ROBUSTNESS):
        for name, by_severity in curves.items():
            values = [v.get(key) for v in by_severity]
            values = [math.nan if v is None else v for v in values]
            ax.plot(range(len(values)), values, marker="o", label=name)
        ax.set(title=title, xlabel="severity", xticks=range(6))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
