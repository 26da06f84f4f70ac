"""Text and Markdown of the instrument scores (:func:`.instruments.score_instruments`).

One wording for every place that shows them: ``evaluate --instruments`` (stdout and
``report.md``), ``make demo STEREO=1``'s summary and ``scripts/instruments_oracle.py``.
"""

from __future__ import annotations


def _f(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _cm(metres: float) -> str:
    return f"{metres * 100:g}"


def _offset_text(scores: dict) -> str:
    off = scores.get("tip_2d_offsets") or {"n": 0}
    if not off["n"]:
        return "2D tip offsets: none"
    return (f"2D tip offset in the true tool's frame: median {_f(off['along_median'])} px along "
            f"the shaft (negative: short of the tip), {_f(off['across_median'])} px across; "
            f"{_f(off['other_end_share'])} of the tips at the tool's other end "
            f"(`evaluation/tip_offsets.py`)")


def summary_lines(scores: dict) -> list[str]:
    """Tip errors (2D, 3D in the depth band and by depth), ids and CLEAR-MOT, one per line."""
    mot, tip2, tip3 = scores["mot"], scores["tip_2d_px"], scores["tip_3d_mm"]
    band = tip3["band_stats"]
    lines = [f"2D tip error: median {_f(tip2['median'])} px, p90 {_f(tip2['p90'])} px "
             f"(n={tip2['n']})",
             _offset_text(scores),
             f"3D tip error at {_cm(tip3['band'][0])}-{_cm(tip3['band'][1])} cm: median "
             f"{_f(band['median'])} mm, p90 {_f(band['p90'])} mm (n={band['n']}); valid 3D "
             f"{_f(scores['valid_3d_rate'])} of tips in both views"]
    for b in tip3["by_depth"]:
        lines.append(f"  depth {_cm(b['depth_m'][0])}-{_cm(b['depth_m'][1])} cm: median "
                     f"{_f(b['median'])} mm (n={b['n']})")
    lines.append(f"tracks: {mot['id_switches']} id switches = "
                 f"{_f(mot['id_switches_per_instrument_300'])} per instrument per 300 frames, "
                 f"{mot['fragmentations']} fragmentations, MOTA {_f(mot['mota'], 3)}, IDF1 "
                 f"{_f(mot['idf1'], 3)} (FP {mot['fp']}, FN {mot['fn']})")
    return lines


def markdown_lines(scores: dict) -> list[str]:
    """The ``## Instruments`` section of ``report.md``."""
    mot, tip3 = scores["mot"], scores["tip_3d_mm"]
    setup = scores.get("setup", {})
    lines = ["", "## Instruments (stereo tips and tracks)", "",
             f"{scores['frames']} frames, {scores['gt_instrument_frames']} instrument-frames"
             f"{', ' + setup['about'] if setup.get('about') else ''}; matched by "
             f"{setup.get('match', 'mask')} IoU >= {setup.get('match_iou', 0.5)} "
             "(`surg_perception/evaluation/instruments.py`).", "",
             "| 2D tip px (median / p90) | 3D tip mm in band (median / p90) | valid 3D | "
             "id switches / instrument / 300 frames | fragmentations | MOTA | IDF1 |",
             "|---|---|---|---|---|---|---|",
             f"| {_f(scores['tip_2d_px']['median'])} / {_f(scores['tip_2d_px']['p90'])} | "
             f"{_f(tip3['band_stats']['median'])} / {_f(tip3['band_stats']['p90'])} | "
             f"{_f(scores['valid_3d_rate'])} | {_f(mot['id_switches_per_instrument_300'])} | "
             f"{mot['fragmentations']} | {_f(mot['mota'], 3)} | {_f(mot['idf1'], 3)} |", "",
             _offset_text(scores) + ".", "",
             "| depth (cm) | 3D tip mm (median) | p90 | n |", "|---|---|---|---|"]
    for b in tip3["by_depth"]:
        lines.append(f"| {_cm(b['depth_m'][0])}-{_cm(b['depth_m'][1])} | {_f(b['median'])} | "
                     f"{_f(b['p90'])} | {b['n']} |")
    return lines
