"""``scripts/gadp_profile.py``: the stage-wise keep fractions, the surgery-built variants, the
per-block hooks, and the table / Amdahl arithmetic on hand-made numbers."""

import pytest

from surg_perception.models.channels import read_channel_widths
from surg_perception.models.registry import build_model

from support.scripts import import_script


@pytest.fixture(scope="module")
def gp():
    return import_script("gadp_profile")


def test_keep_parses_uniform_and_stagewise(gp):
    assert gp.Keep.parse("0.75") == gp.Keep(0.75, 0.75)
    assert gp.Keep.parse("0.55/0.85") == gp.Keep(0.55, 0.85)
    assert gp.Keep.parse("0.5").label == "keep 0.50"
    assert "stages 1-4" in gp.Keep.parse("0.4/0.9").label


def _measured(gp, enc, dec, other, network, rounds):
    blocks = [gp.Block("enc", ("encoder",), True), gp.Block("dec", ("seg_decoder",), False)]
    ms = {"enc": enc, "dec": dec, gp.OTHER: other, "network": network,
          "preprocess": 1.0, "postprocess": 4.0}
    flops = {"enc": int(enc * 1e9), "dec": int(dec * 1e9), gp.OTHER: 0}
    return blocks, gp.Measured({"enc": int(enc * 1e6), "dec": 2_000_000}, flops, ms, ms,
                               rounds)


def test_summary_gives_the_amdahl_floor_and_the_needed_prunable_ratio(gp):
    blocks, base = _measured(gp, 80.0, 20.0, 0.0, 100.0, [100.0, 110.0, 90.0])
    _, pruned = _measured(gp, 20.0, 20.0, 0.0, 40.0, [40.0, 55.0, 45.0])
    out = gp.summary(base, pruned, blocks, goal=0.55)
    assert out["network_ratio"] == pytest.approx(0.4)
    assert out["network_ratio_paired"] == pytest.approx(0.5)  # ratios 0.4, 0.5, 0.5
    assert out["prunable_ratio"] == pytest.approx(0.25)
    assert out["fixed_ratio"] == pytest.approx(1.0)
    assert out["floor"] == pytest.approx(0.2)
    assert out["needed_prunable_ratio"] == pytest.approx((55.0 - 20.0) / 80.0)
    assert out["params_kept"] == pytest.approx(22.0 / 82.0)


def test_table_rows_sum_groups_and_use_the_measured_network(gp):
    blocks, base = _measured(gp, 80.0, 20.0, 2.0, 100.0, [100.0])
    _, pruned = _measured(gp, 20.0, 20.0, 2.0, 44.0, [44.0])
    rows = {row[0]: row for row in gp.table_rows(base, pruned, blocks)}
    assert rows["= prunable blocks"][4:] == ["80.0 -> 20.0", "0.250"]
    assert rows["= blocks GADP does not narrow"][4:] == ["22.0 -> 22.0", "1.000"]
    assert rows["= network"][4:] == ["100.0 -> 44.0", "0.440"]
    assert rows["= step (pre + network + post)"][4:] == ["105.0 -> 49.0", "0.467"]
    assert rows[gp.OTHER][2] == "-"
    table = gp.markdown(["a", "b", "c", "d", "e", "f"], list(rows.values()))
    assert table.splitlines()[1] == "|---|---|---|---|---|---|"


def test_stagewise_prune_narrows_each_unit_by_its_fraction(gp, tiny_spec):
    spec = gp.sized_spec(tiny_spec, (64, 96))
    model, pruned_spec = gp.prune_by_stage(spec, gp.Keep(0.5, 0.75), seed=0)
    base = gp.seeded_model(spec, 0)
    paths = base.encoder.conv_paths
    full, got = dict(read_channel_widths(base)), dict(read_channel_widths(model))
    early = [n for n in full if paths[n].split(".")[0] in gp.EARLY_STAGES]
    assert early and len(early) < len(full)
    for name in full:  # a residual group's members share one width and one stage
        fraction = 0.5 if name in early else 0.75
        assert got[name] == max(1, round(fraction * full[name])), name
    assert dict(pruned_spec.model.channel_widths) == got
    assert sum(p.numel() for p in build_model(pruned_spec.model).parameters()) == \
        sum(p.numel() for p in model.parameters())


def test_every_block_is_timed_and_flops_add_up(gp, tiny_spec):
    spec = gp.sized_spec(tiny_spec, (64, 96))
    model = gp.seeded_model(spec, 0)
    blocks = gp.model_blocks(model)
    variant = gp.Variant("unpruned", spec, model, blocks)
    gp.run_interleaved([variant], frames=2, warmup=1, seed=0)
    assert len(variant.samples) == 2
    for sample in variant.samples:
        assert {b.name for b in blocks} <= set(sample)  # each block's hook fired
    flops = gp.block_flops(spec, blocks)
    assert flops[gp.OTHER] >= 0
    assert all(flops[b.name] > 0 for b in blocks)
    assert [b.prunable for b in blocks if b.name.startswith("decoder")] == [False] * 5
    assert all(b.prunable for b in blocks if b.name.startswith("encoder.stage"))
