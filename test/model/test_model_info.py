"""model_info: parameter and FLOP accounting, and its command line."""

from __future__ import annotations

import json

from surg_perception.model_info import main, model_info


def test_tiny_info(tiny):
    info = model_info(tiny, (64, 96))
    params = info["params"]
    parts = ("encoder", "seg_decoder", "det_head", "activity_head", "hog_head", "memory")
    assert sum(params[p] for p in parts) == params["total"]
    assert params["inference"] == params["total"] - params["hog_head"]
    assert info["gflops"]["total"] > info["gflops"]["encoder"] > 0
    assert info["gflops"]["hog_head"] == 0  # training-only head: not run in eval
    assert info["memory"]["params"] == params["memory"] and info["memory"]["gflops"] > 0
    assert info["num_priors"] > 0


def test_cli_json_and_table(specs, capsys):
    assert main([str(specs.config_dir / "tiny.yaml"), "--size", "64", "96", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_size"] == [64, 96]
    assert main([str(specs.config_dir / "tiny.yaml")]) == 0
    assert "prior boxes" in capsys.readouterr().out
    assert main(["missing.yaml"]) == 2
    assert "not found" in capsys.readouterr().err
