"""The same-run ratios of a benchmark result (pure functions of its run summaries).

Each ratio compares runs made in one process, interleaved frame by frame (definitions in
``surg_perception/bench/runner.py``'s docstring); None where a comparison was not measured.
"""

from __future__ import annotations

from typing import Any

from surg_perception.bench import stats


def lazy_ratios(lazy: dict[str, Any]) -> dict[str, float | None]:
    sets = lazy.get("sets", {})
    if "all" not in sets:
        return {"lazy_mask_over_all": None}
    return {f"lazy_{name}_over_all": stats.ratio(row["frame_ms"]["p50"],
                                                          sets["all"]["frame_ms"]["p50"])
            for name, row in sets.items() if name != "all"}


def same_run_ratios(ref: dict, comparisons: dict[str, dict], message_info: dict) -> dict[str, Any]:
    """The same-run ratios; None where the comparison was not measured."""
    def stat(run: dict | None, key: str = "step", which: str = "p50") -> float | None:
        if run is None:
            return None
        return run[key][which] if key == "step" else run["stages"][key][which]

    def minus_one(value: float | None) -> float | None:
        return None if value is None else value - 1.0

    pruned, plain = comparisons.get("pruned"), comparisons.get("no_memory")
    return {
        "pruned_over_unpruned": stats.ratio(stat(pruned), stat(ref)),
        "pruned_over_unpruned_network": stats.ratio(stat(pruned, "network"), stat(ref, "network")),
        "pruned_params_over_unpruned": stats.ratio(pruned and pruned["params"], ref["params"]),
        "memory_overhead": minus_one(stats.ratio(stat(ref), stat(plain))),
        # Minimum step times: the least disturbed frames, steadier on a shared host.
        "pruned_over_unpruned_min": stats.ratio(stat(pruned, which="min"), stat(ref, which="min")),
        "memory_overhead_min": minus_one(stats.ratio(stat(ref, which="min"),
                                                     stat(plain, which="min"))),
        "message_over_memcpy": message_info.get("default_malloc", {}).get("ratio"),
        "message_over_memcpy_tuned_malloc": message_info.get("tuned_malloc", {}).get("ratio"),
        **stereo_ratios(ref, comparisons),
    }


def stereo_ratios(ref: dict, comparisons: dict[str, dict]) -> dict[str, float | None]:
    """A stereo pair's network stage (and step) over a mono frame's; empty without --stereo."""
    out: dict[str, float | None] = {}
    for key in ("stereo", "stereo_two_steps"):
        run = comparisons.get(key)
        if run is None:
            continue
        network, mono = run["stages"]["network"], ref["stages"]["network"]
        out[f"{key}_over_mono_network"] = stats.ratio(network["p50"], mono["p50"])
        out[f"{key}_over_mono_network_min"] = stats.ratio(network["min"], mono["min"])
        out[f"{key}_over_mono"] = stats.ratio(run["step"]["p50"], ref["step"]["p50"])
    return out


def backend_speedups(runs: list[dict]) -> dict[str, float | None]:
    """``speedup_<backend>`` = eager step p50 / backend step p50 (same dtype, same run)."""
    eager = {run["dtype"]: run for run in runs if run["backend"] == "eager"}
    out: dict[str, float | None] = {}
    for run in runs:
        ref = eager.get(run["dtype"])
        if run["backend"] == "eager" or ref is None:
            continue
        key = f"speedup_{run['backend']}" + ("" if run["dtype"] == "fp32" else f"_{run['dtype']}")
        out[key] = stats.ratio(ref["step"]["p50"], run["step"]["p50"])
        out[f"{key}_network"] = stats.ratio(ref["stages"]["network"]["p50"],
                                            run["stages"]["network"]["p50"])
        out[f"{key}_min"] = stats.ratio(ref["step"]["min"], run["step"]["min"])
    return out


def memory_module(ref: dict, plain: dict | None) -> dict[str, float] | None:
    """The memory stage: median network time with memory minus without (same run)."""
    if plain is None:
        return None
    with_ms = ref["stages"]["network"]["p50"]
    without_ms = plain["stages"]["network"]["p50"]
    return {"network_ms_with": with_ms, "network_ms_without": without_ms,
            "memory_ms": with_ms - without_ms}
