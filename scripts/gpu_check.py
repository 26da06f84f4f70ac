"""The prepared GPU check (issue 17 item 5): every CUDA path of the package in one command.

Run through ``scripts/gpu_check.sh`` (any Python with torch; the repo root on PYTHONPATH).
Each check (``gpu_check_cases.CHECKS``) runs in its own child process under a time budget, so
a crash, a hang or a CUDA error in one is reported as that check's failure and the others
still run; the JSON + Markdown report is rewritten after every check, so even a run killed
from outside leaves the checks done so far. ``--dry-run`` lists the checks and why each
would skip on this machine, runs none and writes the report with every check skipped.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import contextlib
import dataclasses
import datetime
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

import gpu_check_cases as cases

SCHEMA = "surg_perception.gpu_check/1"
TOTAL_BUDGET_S = 475.0  # the "under 8 minutes on one GPU", less start-up
MIN_START_S = 10.0  # a check is not started with less than this left of the total


@dataclasses.dataclass
class Result:
    """One check's verdict: ``status`` pass | fail | skip, ``reason`` always says why."""

    name: str
    title: str
    status: str
    reason: str
    seconds: float = 0.0
    budget_s: float = 0.0
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def run_in_child(check: cases.Check, budget_s: float, work: Path,
                 report_dir: Path | None = None) -> Result:
    """Run ``check`` in a fresh Python (own CUDA context) killed after ``budget_s``; its
    output goes to ``<report_dir>/logs/<name>.log``."""
    out = work / f"{check.name}.result.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", check.name,
           "--result", str(out), "--work", str(work), "--out", str(report_dir or work)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # its compile workers too
    try:
        log, _ = proc.communicate(timeout=budget_s)
        reason = ""
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        reason = f"ran past its {budget_s:g} s budget (killed)"
    seconds = time.monotonic() - start
    if report_dir is not None:
        (report_dir / "logs").mkdir(parents=True, exist_ok=True)
        (report_dir / "logs" / f"{check.name}.log").write_text(log or "")
    if not reason and not out.is_file():
        reason = f"the check's process exited with {proc.returncode} and no result"
    if reason:
        return Result(check.name, check.title, "fail", reason, seconds, budget_s,
                      {"log_tail": _tail(log)})
    data = json.loads(out.read_text())
    if data["status"] == "fail":
        data["details"].setdefault("log_tail", _tail(log))
    return Result(check.name, check.title, data["status"], data["reason"], seconds, budget_s,
                  data["details"])


def _tail(text: str | None, chars: int = 3000) -> str:
    return (text or "")[-chars:]


def child_main(name: str, result_path: Path, work: Path, out: Path) -> int:
    """In the child: run one check, write its verdict (a raised error is a fail)."""
    check = cases.CHECKS_BY_NAME[name]
    try:
        status, reason, details = check.run(work, out)
    except Exception as exc:  # noqa: BLE001 - any error is this check's failure, reported
        status, reason = "fail", f"{type(exc).__name__}: {exc}"[:500]
        details = {"traceback": traceback.format_exc()[-3000:]}
    result_path.write_text(json.dumps({"status": status, "reason": reason,
                                       "details": details}, indent=1, default=str))
    return 0


def run_checks(checks: Sequence[cases.Check], report: Callable[[list[Result]], None],
               execute: Callable[[cases.Check, float], Result], dry_run: bool = False,
               total_s: float = TOTAL_BUDGET_S) -> list[Result]:
    """Every check in order, each isolated by ``execute``; ``report`` after each one.

    A check that cannot run here (``check.skip_reason()``) is skipped with the reason; in a
    dry run every check is skipped, with the reason it would skip or "would run". An error
    escaping ``execute`` is that check's failure, never the end of the run.
    """
    results: list[Result] = []
    deadline = time.monotonic() + total_s
    for check in checks:
        why = check.skip_reason()
        left = deadline - time.monotonic()
        if dry_run:
            result = Result(check.name, check.title, "skip", f"dry run: {why or 'would run'}",
                            budget_s=check.budget_s)
        elif why:
            result = Result(check.name, check.title, "skip", why, budget_s=check.budget_s)
        elif left < MIN_START_S:
            result = Result(check.name, check.title, "skip", f"the run's {total_s:.0f} s "
                            "were spent before this check", budget_s=check.budget_s)
        else:
            result = _guarded(execute, check, min(check.budget_s, left))
        results.append(result)
        print(f"[gpu_check] {result.status:4} {result.name}: {result.reason}", flush=True)
        report(results)
    return results


def _guarded(execute: Callable[[cases.Check, float], Result], check: cases.Check,
             budget_s: float) -> Result:
    start = time.monotonic()
    try:
        return execute(check, budget_s)
    except Exception as exc:  # noqa: BLE001 - the runner itself must not stop here
        return Result(check.name, check.title, "fail", f"runner error: {type(exc).__name__}: "
                      f"{exc}"[:500], time.monotonic() - start, budget_s,
                      {"traceback": traceback.format_exc()[-3000:]})


def write_report(out_dir: Path, results: list[Result], header: dict[str, Any]) -> None:
    """``report.json`` and ``report.md`` under ``out_dir`` (rewritten whole each time)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    data = {**header, "summary": counts, "checks": [dataclasses.asdict(r) for r in results]}
    (out_dir / "report.json").write_text(json.dumps(data, indent=2, default=str))
    lines = [f"# GPU check ({header['date']})", "", f"Command: `{header['command']}`", "",
             f"Machine: {header['machine']}", "",
             f"Summary: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip"
             + (" (dry run)" if header["dry_run"] else ""), "",
             "| check | status | s (budget) | reason |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.status} | {r.seconds:.1f} ({r.budget_s:.0f}) | "
              f"{r.reason.replace('|', '/')} |" for r in results]
    for r in results:
        if r.details:
            lines += ["", f"## {r.name}: {r.title}", "", "```json",
                      json.dumps(r.details, indent=1, default=str), "```"]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="list the checks and why each would skip here; run none")
    parser.add_argument("--out", default="runs/gpu_check", help="report folder")
    parser.add_argument("--only", help="comma list of check names (default: all)")
    parser.add_argument("--total-s", type=float, default=TOTAL_BUDGET_S,
                        help=f"time for the whole run (default {TOTAL_BUDGET_S:.0f} s)")
    parser.add_argument("--work", help="scratch folder for checkpoints, backend caches and "
                        "engines (default: a temporary one, deleted after the run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, Path(args.result), Path(args.work), Path(args.out))
    checks = cases.select(args.only)
    print(f"[gpu_check] {len(checks)} checks" + (" (dry run: none runs)" if args.dry_run
                                                 else ""), flush=True)
    for check in checks:
        print(f"[gpu_check]   {check.name} ({check.budget_s:.0f} s): {check.title}", flush=True)
    header = {"schema": SCHEMA, "dry_run": args.dry_run,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["scripts/gpu_check.sh", *sys.argv[1:]]),
              "machine": cases.machine_summary()}
    out = Path(args.out)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    if not args.dry_run:  # fresh: the cache checks must see a first load export
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    try:
        results = run_checks(checks, lambda rs: write_report(out, rs, header),
                             lambda check, budget: run_in_child(check, budget, work, out),
                             args.dry_run, args.total_s)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"[gpu_check] report: {args.out}/report.json, {args.out}/report.md", flush=True)
    return int(any(r.status == "fail" for r in results))


if __name__ == "__main__":
    sys.exit(main())
