"""Where a benchmark run's non-model time went: the gaps between its model spans.

The harness counts as model time the union of the spans that a run's scripts, its permutation
importance and its predict command report (``systems.autopilot_stats``); the rest of the wall
time of both commands is non-model time. This lists that rest as gaps, each with the spans on
either side, so that start-up, the pauses between experiments, the end phase and the predict
command's start-up can be told apart.

    .venv/bin/python bench/gaps.py --budget 60
    .venv/bin/python bench/gaps.py --budget 300 --datasets connect-4 --min 0.1

Reads bench/results/<budget>.jsonl and the run folders under bench/work/, so it describes the
last harness run of each dataset. Rows written before the harness recorded each run's epoch span
(2026-11-23) are skipped.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import report
import systems

from ml_autopilot.state import SessionState, load_state
from ml_autopilot.timing import named_model_spans, prediction_spans

START, END = "start", "end"


@dataclass(frozen=True)
class Gap:
    """Non-model seconds [start, end) of a run, from its start, and what lies either side."""

    start: float
    end: float
    after: str
    before: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def labelled_spans(state: SessionState, run_dir: Path) -> list[tuple[float, float, str]]:
    """Every model span of a run (the same ones the harness counts), named, in time order."""
    named = [(start, end, "predict command") for start, end in prediction_spans(run_dir)]
    return sorted(named_model_spans(state) + named)


def find_gaps(spans: list[tuple[float, float, str]], started: float, ended: float) -> list[Gap]:
    """The stretches of [started, ended] that no span covers (spans clipped to it)."""
    gaps: list[Gap] = []
    reached, last = started, START
    for start, end, name in spans:
        start, end = max(start, started), min(end, ended)
        if start >= end:
            continue  # outside the run (a later predict command logs into the same folder)
        if start > reached:
            gaps.append(Gap(reached - started, start - started, last, name))
        if end > reached:
            reached, last = end, name
    if ended > reached:
        gaps.append(Gap(reached - started, ended - started, last, END))
    return gaps


def describe(record: dict, minimum: float) -> list[str]:
    """Lines for one autopilot row: the total, then each gap of at least ``minimum`` s."""
    name, stats = record["dataset"], record.get("autopilot") or {}
    span = stats.get("epoch_span")
    if not span:
        return [f"{name}: no epoch span recorded (a row from before bench/gaps.py)"]
    run_dir = systems.BENCH / "work" / name / f"{record['budget']:g}s" / "autopilot" / "run"
    if not (run_dir / "state.json").is_file():
        return [f"{name}: {run_dir} is gone"]
    gaps = find_gaps(labelled_spans(load_state(run_dir), run_dir), *span)
    small = [g for g in gaps if g.seconds < minimum]
    lines = [
        f"{name}: {sum(g.seconds for g in gaps):.2f} s outside model spans "
        f"(the table's non-model: {stats.get('non_model_seconds')} s); commands "
        f"{', '.join(f'{t:.2f} s' for t in record['command_times'])}"
    ]
    lines += [
        f"  {g.start:7.2f} -> {g.end:7.2f}  {g.seconds:5.2f} s  {g.after} -> {g.before}"
        for g in gaps
        if g.seconds >= minimum
    ]
    rest = sum(g.seconds for g in small)
    lines.append(f"  and {len(small)} gap(s) under {minimum:g} s: {rest:.2f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", required=True, help="a results file's budget label: 60, 300")
    parser.add_argument("--datasets", help="comma-separated names (default: every dataset)")
    parser.add_argument("--min", type=float, default=0.2, help="list gaps of at least this (s)")
    args = parser.parse_args(argv)
    records = report.load_results(systems.BENCH / "results").get(args.budget)
    if not records:
        print(f"no results for budget {args.budget}", file=sys.stderr)
        return 1
    wanted = set(args.datasets.split(",")) if args.datasets else None
    for (dataset, system), record in report.latest(records).items():
        if system == "autopilot" and (wanted is None or dataset in wanted):
            print("\n".join(describe(record, args.min)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
