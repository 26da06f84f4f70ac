"""``surg-perception prune`` end to end on tiny synthetic data: a smaller checkpoint that
loads, runs and matches the in-memory pruned model, with the report and the Fig. 9 plot."""

import argparse
import json

import pytest
import torch

from surg_perception.checkpoint import load_model, save_checkpoint
from surg_perception.cli import main
from surg_perception.errors import ConfigError
from surg_perception.models.registry import build_model
from surg_perception.pruning import cli


def test_prune_writes_a_smaller_loadable_checkpoint(tiny_spec, synth_root, repo_root,
                                                    tmp_path):
    torch.manual_seed(0)
    source = save_checkpoint(tmp_path / "model.pt", build_model(tiny_spec.model), tiny_spec)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "pruned"
    args = parser.parse_args([str(source), "--data", str(synth_root), "--out", str(out),
                              "--config", str(repo_root / "config" / "prune" / "tiny.yaml")])
    assert cli.run(args) == 0
    report = json.loads((out / "prune_report.json").read_text())
    assert report["after"]["params_m"] < report["before"]["params_m"]
    assert report["after"]["gflops"] < report["before"]["gflops"]
    assert report["reload_max_abs_diff"] == 0.0
    assert [h["round"] for h in report["history"]] == [0, 1]
    # One measurement behind every latency: printed/reported before and after = the plot's
    # first and last points, and the pruned model has the last plotted round's widths.
    history = report["history"]
    assert report["before"]["latency_ms"] == history[0]["latency_ms"] > 0
    assert report["after"]["latency_ms"] == history[-1]["latency_ms"] > 0
    assert report["latency_device"] == "cpu"
    assert (out / "fig9.png").read_bytes()[:4] == b"\x89PNG"
    model, spec = load_model(out / "pruned.pt")
    assert spec.model.channel_widths != tiny_spec.model.channel_widths
    from surg_perception.pruning.surgery import with_widths

    last_round = with_widths(tiny_spec.model, history[-1]["widths"])
    assert dict(last_round.channel_widths) == dict(spec.model.channel_widths)
    with pytest.raises(ConfigError, match="pass --force"):  # the results are kept
        cli.run(args)
    original = sum(p.numel() for p in build_model(tiny_spec.model).parameters())
    assert sum(p.numel() for p in model.parameters()) < original
    output, state = model(torch.zeros(1, 3, *spec.preprocess.input_size))
    assert output.seg_logits.shape[1] == len(spec.model.seg_classes)
    assert state.local_feats.shape[2] == model.memory.channels


def test_prune_reports_a_missing_checkpoint(tmp_path, repo_root, capsys):
    # Through the one entry point: a runtime failure, one line on stderr (was stdout, exit 2).
    assert main(["prune", str(tmp_path / "none.pt"), "--data", str(tmp_path), "--out",
                 str(tmp_path / "o"), "--config",
                 str(repo_root / "config" / "prune" / "tiny.yaml")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
