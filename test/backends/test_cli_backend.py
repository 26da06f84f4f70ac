"""``--backend`` on evaluate, process-bag and bench: parsed, validated, passed on."""

import pytest

from surg_perception.cli import build_parser

ARGS = {"evaluate": ["ckpt.pt", "--data", "d", "--out", "o"],
        "process-bag": ["in.mcap", "out.mcap", "--checkpoint", "ckpt.pt"],
        "bench": []}


@pytest.mark.parametrize("command", sorted(ARGS))
def test_backend_flag_parses_and_rejects_unknown_names(command):
    parser = build_parser(command)
    chosen = parser.parse_args([command, *ARGS[command], "--backend", "onnxruntime"])
    default = parser.parse_args([command, *ARGS[command]])
    assert _backends(chosen, command) == ("onnxruntime",)
    assert _backends(default, command) == ("eager",)
    with pytest.raises(SystemExit):
        parser.parse_args([command, *ARGS[command], "--backend", "torchscript"])


def _backends(args, command):
    """The bench takes a comma list (``--backends``, alias ``--backend``); the others one name."""
    return args.backends if command == "bench" else (args.backend,)
