"""`--size H W` everywhere: synth (once W H) reads H W, notes a portrait frame, and keeps the
old order as the explicit `--size-wh W H`."""

import json

import cv2

from surg_perception.cli import main


def _frame(root):
    return cv2.imread(str(root / "instrument_dataset_1" / "left_frames" / "frame000.png"))


def test_synth_size_is_height_then_width(tmp_path, capsys):
    common = ["--sequences", "1", "--frames", "1"]
    assert main(["synth", str(tmp_path / "hw"), "--size", "96", "128", *common]) == 0
    assert _frame(tmp_path / "hw").shape[:2] == (96, 128)
    assert "note:" not in capsys.readouterr().err  # landscape: nothing to say
    readme = (tmp_path / "hw" / "README.txt").read_text()
    assert "--size 96 128" in readme  # the regenerate line uses the new order
    assert json.loads((tmp_path / "hw" / "manifest.json").read_text())["size"] == [128, 96]

    assert main(["synth", str(tmp_path / "wh"), "--size-wh", "128", "96", *common]) == 0
    assert _frame(tmp_path / "wh").tobytes() == _frame(tmp_path / "hw").tobytes()

    assert main(["synth", str(tmp_path / "tall"), "--size", "128", "96", *common]) == 0
    assert _frame(tmp_path / "tall").shape[:2] == (128, 96)
    err = capsys.readouterr().err
    assert "note: --size 128 96 is height 128, width 96" in err and "--size-wh 128 96" in err
