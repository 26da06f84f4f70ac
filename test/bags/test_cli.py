"""The command modules' add_arguments/run pairs (the lead registers them in cli.py)."""

import argparse

import pytest

from surg_perception.bags import convert, render
from surg_perception.errors import BagError


def _args(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_endovis2bag_default_output_name_is_stable(synth_sequence, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _args(convert, [str(synth_sequence), "--no-progress", "--storage", "sqlite3"])
    assert convert.run(args) == 0
    out = tmp_path / "instrument_dataset_1_sqlite3"
    assert (out / "metadata.yaml").is_file()
    with pytest.raises(BagError, match="--force"):
        convert.run(args)
    assert convert.run(_args(convert, [str(synth_sequence), "--no-progress", "--storage",
                                       "sqlite3", "--force"])) == 0


def test_render_cli_writes_a_strip_and_rejects_other_suffixes(synth_bag, tmp_path):
    assert render.run(_args(render, [str(synth_bag), "--out", str(tmp_path / "s.png")])) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(BagError, match=".mp4"):
        render.run(_args(render, [str(synth_bag), "--out", str(tmp_path / "s.gif")]))


def test_endovis2bag_to_a_mcap_name_writes_one_file_and_says_what(synth_sequence, tmp_path,
                                                                  capsys):
    out = tmp_path / "seq1.mcap"
    assert convert.run(_args(convert, [str(synth_sequence), str(out), "--no-progress"])) == 0
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == ["seq1.mcap"]
    printed = capsys.readouterr().out
    assert f"wrote {out}: {out}\n" in printed
    assert "  /jhu_daVinci/left/image_raw: 4 message(s)" in printed
    assert "  /jhu_daVinci/left/ground_truth/mask: 4 message(s)" in printed
