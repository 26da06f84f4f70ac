"""Numbers agree: each printed or plotted number comes from one measurement.

prune's Fig. 9 (distinct styles, the report's latencies), model-info's memory GFLOPs (table =
footer, rows add up), render's frame count (tiles actually drawn) and evaluate's warning for
degenerate metrics.
"""

import math
import re

import pytest

from surg_perception.cli import main
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.evaluation.report import degenerate_warnings
from surg_perception.model_info import format_info, model_info
from surg_perception.pruning.report import fig9_figure


def _history():
    metrics = ("binary_dice", "type_dice", "map50", "activity_accuracy", "loss")
    return [{"weights_kept": kept, "latency_ms": ms,
             "metrics": {name: 0.5 + 0.1 * i for i, name in enumerate(metrics)}}
            for kept, ms in ((1.0, 20.1), (0.8, 19.0), (0.6, 18.5))]


def test_fig9_lines_have_distinct_styles_and_the_reported_latencies():
    import matplotlib.pyplot as plt

    history = _history()
    fig = fig9_figure(history, "binary_dice", "cpu")
    try:
        latency_axes, metric_axes = fig.axes
        lines = latency_axes.get_lines() + metric_axes.get_lines()
        styles = [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in lines]
        assert len(lines) == 5  # latency + four metrics (the loss is not drawn)
        assert len({color for color, _, _ in styles}) == len(styles)
        assert len({(dash, marker) for _, dash, marker in styles}) == len(styles)
        assert list(latency_axes.get_lines()[0].get_ydata()) == [20.1, 19.0, 18.5]
        assert latency_axes.get_ylabel().startswith("latency on cpu")
        assert latency_axes.get_ylim()[0] == 0  # a ratio reads true only from zero
        assert metric_axes.get_ylim() == (0, 1.05)
    finally:
        plt.close(fig)


def _row(table: str, name: str) -> float:
    return float(re.search(rf"^{name}\s.*?([\d.]+)$", table, re.MULTILINE).group(1))


def test_model_info_memory_gflops_equal_in_table_and_footer(tiny_config_path):
    from surg_perception.config import load_spec

    spec = load_spec(tiny_config_path)
    info = model_info(spec, (256, 320))  # enough FLOPs for three decimals to differ
    table = format_info(info)
    footer = re.search(r"memory overhead .*, ([\d.]+) GFLOPs", table)
    assert _row(table, "memory") == float(footer.group(1)) > 0
    parts = ("encoder", "seg_decoder", "det_head", "activity_head", "hog_head", "memory")
    shown = sum(_row(table, name) for name in parts)
    shown += _row(table, "other") if re.search(r"^other\s", table, re.MULTILINE) else 0.0
    assert shown == pytest.approx(_row(table, "total"), abs=0.004)  # rows rounded to 0.001


def test_degenerate_metrics_are_named():
    scores = {"frames": 4, "map50": 0.0, "activity_accuracy": math.nan, "activity_f1": None,
              "box_fill_on": {"binary_dice": 0.7, "binary_iou": 0.6, "type_dice": 0.0,
                              "type_iou": 0.0, "hausdorff": 0.0}}
    warnings = degenerate_warnings(scores, "box_fill_on")
    assert len(warnings) == 2
    assert warnings[0].startswith("type Dice, type IoU, mAP@0.5 are 0")
    assert "Hausdorff" not in warnings[0]  # 0 px is a perfect Hausdorff distance
    assert warnings[1].startswith("activity acc, activity F1: no value, the frames have no "
                                  "ground truth")
    healthy = {**scores, "map50": 0.4, "activity_accuracy": 0.5, "activity_f1": 0.5,
               "box_fill_on": {**scores["box_fill_on"], "type_dice": 0.5, "type_iou": 0.4}}
    assert degenerate_warnings(healthy) == []
    assert degenerate_warnings({**healthy, "frames": 0})[0].startswith("no frame was scored")


def test_render_counts_the_tiles_it_draws_and_says_when_a_bag_has_no_outputs(tmp_path, capsys):
    write_synth_dataset(tmp_path / "data", SynthConfig(sequences=1, frames=5, size=(128, 96)))
    bag = tmp_path / "seq.mcap"
    assert main(["endovis2bag", str(tmp_path / "data" / "instrument_dataset_1"), str(bag)]) == 0
    capsys.readouterr()
    assert main(["render", str(bag), "--out", str(tmp_path / "strip.png"), "--frames", "3"]) == 0
    out = capsys.readouterr().out
    assert "(3 tile(s) from 5 frame(s))" in out
    assert "has no apmtl_node output topics" in out and "process-bag" in out
