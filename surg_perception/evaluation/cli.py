"""``surg-perception evaluate CKPT --data ROOT --out DIR [--fold F --split val] [--corruptions]``.

Writes ``DIR/report.json`` and ``DIR/report.md`` (and, with ``--corruptions``,
``DIR/degradation.png``): Dice/IoU (binary and type, box-fill off and on), Hausdorff,
mAP@0.5, activity accuracy / macro F1, FPS, per sequence and overall, and the published
protocol (ISINet's Challenge IoU, IoU, mcIoU and per-class IoU; ``--protocol`` also prints
its table). ``--test-labels DIR`` scores the EndoVis 2017 test release (``--data`` = the test
frames, ``DIR`` = ``instrument_2017_test``). ``--instruments`` (a ``synth --stereo`` dataset)
adds the model's stereo instruments: 2D/3D tip errors by depth, id switches per instrument per
300 frames, MOTA/IDF1 (``ros/instrument_eval.py``, handed in by ``ros/evaluate_cmd.py``).
Pool several reports (the four folds) with
``python -m surg_perception.evaluation.pool DIR*/report.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import sys

from surg_perception.backends import BACKENDS
from surg_perception.cli_checks import check_device, check_results_folder, checkpoint_file
from surg_perception.errors import ConfigError

SPLITS = ("all", "train", "val")
# what run_evaluation writes into --out: an earlier evaluation is refused without --force
REPORT_FILES = ("report.json", "report.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint (model.pt) to evaluate")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root in the EndoVis 2017 layout (instrument_dataset_<k>)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier evaluation's report in --out")
    parser.add_argument("--split", choices=SPLITS, default="all",
                        help="all sequences, or the train/val side of --fold (default: all)")
    parser.add_argument("--fold", type=int, default=None, help="cross-validation fold (0..3)")
    parser.add_argument("--sequences", type=int, nargs="+", default=None,
                        help="sequence numbers to evaluate (instead of --split/--fold)")
    parser.add_argument("--test-labels", type=Path, default=None,
                        help="EndoVis 2017 test ground truth (instrument_2017_test); --data is "
                             "then the test frames root")
    parser.add_argument("--protocol", action="store_true",
                        help="print the published-protocol table (Challenge IoU | IoU | mcIoU | "
                             "per-class IoU) as in ISINet / MATIS / SurgicalSAM")
    parser.add_argument("--instruments", action="store_true",
                        help="also score the stereo instruments (2D/3D tips, id switches, "
                             "MOTA/IDF1) on a `surg-perception synth --stereo` dataset")
    parser.add_argument("--corruptions", action="store_true",
                        help="also run the robustness suite (7 corruptions x 5 severities)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="first N frames of each sequence only (quick runs)")
    parser.add_argument("--memory", choices=("on", "off"), default="on",
                        help="off: clear the temporal memory before every frame (the same "
                             "weights judged frame by frame; default: on)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16 (CUDA only)")
    parser.add_argument("--backend", choices=BACKENDS, default="eager",
                        help="network runtime: eager, onnxruntime or tensorrt (exported "
                             "once, cached next to the checkpoint)")
    parser.add_argument("--seed", type=int, default=0, help="corruption seed")


def _dataset(args: argparse.Namespace, spec):
    from surg_perception.data import EndoVis17Dataset
    from surg_perception.data.endovis17 import mask_target, wants_parts

    if args.split != "all" and args.fold is None:
        raise ConfigError(f"--split {args.split} needs --fold")
    if args.sequences is not None and (args.fold is not None or args.split != "all"):
        raise ConfigError("pass either --sequences or --split/--fold, not both")
    if args.test_labels is not None:
        from surg_perception.data.endovis17_test import EndoVis17TestDataset

        if args.fold is not None:
            raise ConfigError("--test-labels reads the test release, which has no folds; "
                              "drop --fold/--split")
        return EndoVis17TestDataset(args.data, args.sequences, labels=args.test_labels,
                                    target=mask_target(spec), frame_size=None,
                                    parts=None if wants_parts(spec) else False)
    # The model's own crop rule, as the Predictor applies it to camera frames.
    kwargs = {"crop": spec.preprocess.crop, "border_threshold": spec.preprocess.border_threshold,
              "parts": wants_parts(spec)}  # part labels for a part head's part IoU
    if args.fold is not None:
        kwargs.update(fold=args.fold, split="val" if args.split == "all" else args.split)
    return EndoVis17Dataset(args.data, args.sequences, target=mask_target(spec),
                            frame_size=None, **kwargs)


def run(args: argparse.Namespace, instruments: Callable | None = None) -> int:
    """``instruments``: ``evaluate_instruments(predictor, root, sequences, max_frames)``, the
    node's instrument stream (``ros/``, which this floor may not import) for --instruments."""
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be >= 1, got {args.max_frames}")
    checkpoint = checkpoint_file(args.checkpoint)
    check_device(args.device)
    check_results_folder(args.out, REPORT_FILES, args.force, "evaluation results")
    if args.instruments and instruments is None:
        raise ConfigError("--instruments needs the node's instrument stream",
                          remedy="run it as `surg-perception evaluate`")
    if args.instruments and (args.fold is not None or args.test_labels is not None):
        raise ConfigError("--instruments scores a synthetic stereo dataset's sequences",
                          remedy="use --sequences (or all of them), not --fold/--test-labels")
    from surg_perception.evaluation.report import (
        degenerate_warnings,
        fmt,
        protocol_rows,
        protocol_table,
    )
    from surg_perception.evaluation.suite import run_evaluation
    from surg_perception.predictor import Predictor

    predictor = Predictor.from_checkpoint(checkpoint, device=args.device, dtype=args.dtype,
                                          backend=args.backend)
    dataset = _dataset(args, predictor.spec)
    split = "all" if args.fold is None and args.sequences is None else (
        f"sequences {args.sequences}" if args.sequences else f"fold {args.fold} {args.split}")
    if args.test_labels is not None:
        split = f"test release ({args.test_labels}), {split}"
    report = run_evaluation(predictor, dataset, args.out, corruptions=args.corruptions,
                            max_frames=args.max_frames, seed=args.seed,
                            memory=args.memory == "on",
                            instruments=None if not args.instruments else (
                                lambda p: instruments(p, args.data, args.sequences,
                                                      args.max_frames)),
                            meta={"checkpoint": str(args.checkpoint), "data": str(args.data),
                                  "split": split, "device": args.device,
                                  "backend": args.backend})
    from surg_perception.evaluation.evaluate import published_row

    row = published_row(predictor.spec.postprocess)  # what the node publishes
    on = report["overall"][row]
    print(f"binary Dice {fmt(on['binary_dice'])}, type Dice {fmt(on['type_dice'])}, "
          f"mAP@0.5 {fmt(report['overall']['map50'])} (SSD boxes "
          f"{fmt(report['overall'].get('map50_ssd'))}, with instance boxes "
          f"{fmt(report['overall'].get('map50_instance_boxes'))}), "
          f"{report['timing']['fps']:.1f} FPS "
          f"({row}, memory {args.memory}); "
          f"report: {args.out / 'report.md'}")
    if args.protocol:
        print("\n".join(protocol_table(protocol_rows(report["overall"]))))
    if "instruments" in report:
        from surg_perception.evaluation.instrument_report import summary_lines

        print("instruments (stereo): " + "\n  ".join(summary_lines(report["instruments"])))
    for warning in degenerate_warnings(report["overall"], row):
        print(f"surg-perception evaluate: warning: {warning}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m surg_perception.evaluation.cli``: ``surg-perception evaluate``."""
    from surg_perception.cli import main as cli_main

    return cli_main(["evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
