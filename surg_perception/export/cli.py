"""``surg-perception export CHECKPOINT --out step.onnx [--tensorrt --engine-cache DIR]``.

Exports the inference step to ONNX, checks it against eager PyTorch with onnxruntime on the
CPU over ``--verify-frames`` consecutive frames (state fed back), and optionally builds a
TensorRT FP16 engine (cached; ``--rebuild`` forces a new build). ``--out`` naming a folder
(existing, or ending with ``/``) writes ``<folder>/<checkpoint name>.onnx``; an existing file
is replaced only with ``--force``. Both are checked before the export starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from surg_perception.cli_checks import checkpoint_file, output_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint to export")
    parser.add_argument("--out", required=True,
                        help="ONNX file to write, or a folder (existing or ending with /) to "
                             "write <checkpoint name>.onnx into")
    parser.add_argument("--force", action="store_true", help="replace an existing ONNX file")
    parser.add_argument("--opset", type=int, default=None,
                        help="ONNX opset (default: export.onnx.OPSET, 17)")
    parser.add_argument("--verify-frames", type=int, default=3,
                        help="frames compared with onnxruntime (0 = skip the check)")
    parser.add_argument("--tensorrt", action="store_true", help="also build a TensorRT engine")
    parser.add_argument("--engine-cache", default="engines", help="TensorRT engine cache dir")
    parser.add_argument("--rebuild", action="store_true", help="rebuild a cached engine")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``surg-perception export``; raises typed errors (printed by the CLI)."""
    checkpoint = checkpoint_file(args.checkpoint)
    out = output_file(args.out, f"{Path(checkpoint).stem}.onnx", args.force)
    from surg_perception.checkpoint import load_model
    from surg_perception.export.onnx import ATOL, OPSET, RTOL, export_onnx, verify_onnx

    model, spec = load_model(checkpoint, "cpu")
    path = export_onnx(model, spec, out, args.opset or OPSET)
    print(f"wrote {path}")
    if args.verify_frames > 0:
        worst = verify_onnx(path, model, spec, args.verify_frames)
        print(f"onnxruntime matches PyTorch over {args.verify_frames} frames: max abs "
              f"difference {worst:.3g} (tolerance atol {ATOL}, rtol {RTOL})")
    if args.tensorrt:
        from surg_perception.export.tensorrt import build_engine

        build_engine(path, args.engine_cache, rebuild=args.rebuild)
    return 0
