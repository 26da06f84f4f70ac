"""The full evaluation: clean scores, the optional robustness suite, report files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from surg_perception.data.sample import SequenceDataset
from surg_perception.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from surg_perception.evaluation.evaluate import evaluate
from surg_perception.evaluation.report import (
    ROBUSTNESS,
    markdown,
    plot_degradation,
    row_values,
    write_json,
)
from surg_perception.predictor import Predictor


def _robust_metrics(overall: dict) -> dict[str, float]:
    values = row_values(overall, "box_fill_on")
    return {key: values.get(key) for key, _ in ROBUSTNESS}


def robustness(predictor: Predictor, dataset: SequenceDataset, clean: dict,
               max_frames: int | None, seed: int) -> dict[str, list[dict]]:
    """Corruption name -> metrics at severity 0 (clean) .. 5, box-fill on.

    Frame ``i`` is corrupted with seed ``seed + i``: the same noise for every model.
    """
    curves = {}
    for name in CORRUPTIONS:
        curves[name] = [_robust_metrics(clean)]
        for severity in SEVERITIES:
            def transform(image, index, name=name, severity=severity):
                return corrupt(image, name, severity, seed + index)

            result = evaluate(predictor, dataset, transform, max_frames)
            curves[name].append(_robust_metrics(result["overall"]))
    return curves


def run_evaluation(predictor: Predictor, dataset: SequenceDataset, out: Path,
                   corruptions: bool = False, max_frames: int | None = None, seed: int = 0,
                   meta: dict | None = None, memory: bool = True,
                   instruments: Callable[[Predictor], dict] | None = None) -> dict:
    """Evaluate, write ``report.json`` + ``report.md`` (+ ``degradation.png``) under ``out``.

    ``memory=False`` clears the temporal memory before every frame (see ``evaluate``).
    ``instruments``: scores the stereo instruments of ``predictor`` (``report["instruments"]``;
    the command hands in ``ros.instrument_eval.evaluate_instruments`` bound to the data).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": "", "data": "", "split": "all", "device": str(predictor.device),
              "memory": "on" if memory else "off", **(meta or {})}
    report.update(evaluate(predictor, dataset, max_frames=max_frames, progress=True,
                           memory=memory))
    if corruptions:
        curves = robustness(predictor, dataset, report["overall"], max_frames, seed)
        plot = out / "degradation.png"
        plot_degradation(curves, plot)
        report["robustness"] = {"seed": seed, "plot": plot.name, "curves": curves}
    if instruments is not None:
        report["instruments"] = instruments(predictor)
    write_json(out / "report.json", report)
    (out / "report.md").write_text(markdown(report))
    return report
