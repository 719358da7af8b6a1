"""Benchmark the autopilot against FLAML, side by side, as ../shared/BENCHMARK.md says.

For each budget and each dataset: make the 75/25 split into bench/work/<dataset>/, run both
systems one after the other (which goes first alternates with the parity of the dataset's index
in MANIFEST.json), score their prediction files, append one JSON line per system to
bench/results/<budget>.jsonl and re-render bench/RESULTS.md.

    .venv/bin/python bench/run_benchmark.py --budgets 60,300
    .venv/bin/python bench/run_benchmark.py --datasets penguins,auto_mpg --budgets 20
    .venv/bin/python bench/run_benchmark.py --budgets 300 --systems autopilot
    .venv/bin/python bench/run_benchmark.py --render-only

With ``--systems autopilot`` only the autopilot runs: its rows are replaced and FLAML's last
run on the same split stays in the table (the report lists every command that contributed).

Needs the product environment (.venv, `make setup`) and FLAML's (bench/setup_flaml.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import report
import scoring
import systems
from split import make_split

BENCH = systems.BENCH
WORK = BENCH / "work"
RESULTS = BENCH / "results"
REPORT = BENCH / "RESULTS.md"
DEFAULT_SHARED = BENCH.parent.parent / "shared"
OVERHEAD_S = 20.0  # rough start-up, split and scoring time per system run, for the estimate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the harness."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="comma-separated names (default: all in MANIFEST)")
    parser.add_argument("--budgets", default="60", help="comma-separated seconds (default: 60)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared folder")
    parser.add_argument(
        "--systems",
        default=",".join(systems.SYSTEMS),
        help=f"comma-separated systems to run (default: {','.join(systems.SYSTEMS)})",
    )
    parser.add_argument(
        "--render-only", action="store_true", help="only re-render RESULTS.md from the jsonl"
    )
    return parser.parse_args(argv)


def load_manifest(shared: Path) -> dict[str, dict]:
    """The datasets of MANIFEST.json, in its order."""
    return json.loads((shared / "datasets" / "MANIFEST.json").read_text())["datasets"]


def selected(manifest: dict[str, dict], names: str | None) -> list[str]:
    """The datasets to run, in manifest order; SystemExit on an unknown name."""
    if not names:
        return list(manifest)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(manifest))
    if unknown:
        raise SystemExit(f"unknown dataset(s): {', '.join(unknown)}; known: {', '.join(manifest)}")
    return [name for name in manifest if name in wanted]


def parse_budgets(text: str) -> list[float]:
    """Budgets in seconds from '60,300'."""
    budgets = [float(part) for part in text.split(",") if part.strip()]
    if not budgets or any(b <= 0 for b in budgets):
        raise SystemExit(f"budgets must be positive seconds, got {text!r}")
    return budgets


def check_environments(which: tuple[str, ...]) -> None:
    """Fail fast, with the fix, when the environment of a system to run is missing."""
    if "autopilot" in which and not systems.AUTOPILOT.exists():
        raise SystemExit(f"{systems.AUTOPILOT} is missing: run `make setup` first")
    if "flaml" in which and not systems.FLAML_PYTHON.exists():
        raise SystemExit(f"{systems.FLAML_PYTHON} is missing: run bench/setup_flaml.sh first")


def machine() -> dict:
    """Cores, memory and CPU of this machine."""
    meminfo = Path("/proc/meminfo")
    ram_kib = 0
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0]  # MemTotal:  NNN kB
        ram_kib = int(first.split()[1])
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "ram_gib": round(ram_kib / 2**20, 1),
        "cpu": cpu,
        "platform": platform.platform(),
    }


def harness_context(argv: list[str]) -> dict:
    """What every record of this invocation shares: command, machine, commit and versions."""
    return {
        "command": shlex.join([_relative(sys.executable), *argv]),
        "started_at": _now(),
        "machine": machine(),
        "autopilot_git": systems.git_commit(),
        "versions": {
            "autopilot": systems.env_versions(systems.AUTOPILOT_PYTHON),
            "flaml": systems.env_versions(systems.FLAML_PYTHON),
        },
    }


def _relative(path: str | Path) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def estimate_seconds(n_datasets: int, budgets: list[float], n_systems: int = 2) -> float:
    """Expected duration: datasets x systems x budget, plus overhead per system run."""
    return sum(n_datasets * n_systems * (budget + OVERHEAD_S) for budget in budgets)


def parse_systems(text: str) -> tuple[str, ...]:
    """The systems to run, in the harness's order; SystemExit on an unknown name."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(systems.SYSTEMS))
    if not wanted or unknown:
        raise SystemExit(f"systems must be among {', '.join(systems.SYSTEMS)}, got {text!r}")
    return tuple(s for s in systems.SYSTEMS if s in wanted)


def run_dataset(
    name: str,
    index: int,
    meta: dict,
    budget: float,
    ctx: dict,
    shared: Path,
    which: tuple[str, ...] = systems.SYSTEMS,
) -> list[dict]:
    """Split one dataset and run the systems on it (alternating order); one record per system."""
    work = WORK / name
    order = which if index % 2 == 0 else tuple(reversed(which))
    try:
        make_split(name, work, shared)
        truth = scoring.read_target(work / "test_y.csv", meta["target"], meta["task"])
        train_y = scoring.read_target(work / "train.csv", meta["target"], meta["task"])
    except Exception as error:  # a broken split fails both systems, not the harness
        return [
            failed_record(name, meta, budget, system, position, f"split: {error}", ctx)
            for position, system in enumerate(order, 1)
        ]
    labels = scoring.class_labels(train_y, truth) if meta["task"] != "regression" else []
    return [
        run_one(name, meta, budget, system, position, (work, truth, labels), ctx)
        for position, system in enumerate(order, 1)
    ]


def run_one(
    name: str, meta: dict, budget: float, system: str, position: int, data: tuple, ctx: dict
) -> dict:
    """Run one system on one dataset, check and score its predictions; never raises."""
    work, truth, labels = data
    job = systems.Job(
        system=system,
        train=work / "train.csv",
        test_x=work / "test_X.csv",
        target=meta["target"],
        task=meta["task"],
        metric=scoring.METRIC_OF_TASK[meta["task"]],
        budget=budget,
        out_dir=work / f"{budget:g}s" / system,
    )
    shutil.rmtree(job.out_dir, ignore_errors=True)
    record = base_record(name, meta, budget, system, position, ctx)
    record.update(speed_probe_seconds=systems.speed_probe(), load_before=list(os.getloadavg()))
    record.update(started_at=_now(), log=_relative(job.log))
    try:
        run = systems.run_system(job)
    except Exception as error:
        run = systems.SystemRun(error=f"harness could not run it: {error!r}")
    record.update(commands=run.commands, command_times=run.command_times, error=run.error)
    record["wall_time"] = round(run.wall_time, 3)
    record["within_budget"] = run.wall_time <= limit(budget)
    if run.error is None:
        record.update(score_predictions(job, truth, labels))
    if system == "autopilot":
        record["autopilot"] = systems.autopilot_stats(job.run_dir, run, budget)
    record["finished_at"] = _now()
    return record


def score_predictions(job: systems.Job, truth: pd.Series, labels: list[str]) -> dict:
    """{'score', 'r2'?} or {'error'} when the file breaks the contract."""
    try:
        frame = scoring.read_predictions(job.predictions, len(truth), job.task, labels)
        scores = scoring.score(frame, truth, job.task, labels)
    except Exception as error:
        return {"error": f"predictions: {error}"}
    return {k: v for k, v in scores.items() if k != "metric"}


def limit(budget: float) -> float:
    """The benchmark's wall-time limit for a budget: 1.1 x S + 15 s."""
    return 1.1 * budget + 15.0


def base_record(
    name: str, meta: dict, budget: float, system: str, position: int, ctx: dict
) -> dict:
    """The fields every record has; a failure until scored."""
    return {
        "dataset": name,
        "task": meta["task"],
        "metric": scoring.METRIC_OF_TASK[meta["task"]],
        "budget": budget,
        "limit": limit(budget),
        "system": system,
        "position": position,
        "started_at": None,
        "finished_at": None,
        "score": None,
        "error": None,
        "wall_time": None,
        "within_budget": False,
        "versions": ctx["versions"][system],
        "harness": {k: v for k, v in ctx.items() if k != "versions"},
    }


def failed_record(
    name: str, meta: dict, budget: float, system: str, position: int, error: str, ctx: dict
) -> dict:
    """A record for a system that could not even start."""
    record = base_record(name, meta, budget, system, position, ctx)
    record.update(error=error, wall_time=0.0, commands=[], finished_at=_now())
    return record


def append(records: list[dict], budget: float) -> None:
    """Append the records to bench/results/<budget>.jsonl."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{budget:g}.jsonl").open("a") as sink:
        for record in records:
            sink.write(json.dumps(record) + "\n")


def write_report(manifest: dict[str, dict]) -> None:
    """Render RESULTS.md from every jsonl file in bench/results/."""
    REPORT.write_text(report.render(report.load_results(RESULTS), list(manifest)))


def describe(record: dict) -> str:
    """One progress line for a finished system run."""
    if record.get("error"):
        result = f"FAILED ({record['error']})"
    else:
        result = f"{record['metric']} {record['score']:.6g}"
    budget = "within budget" if record["within_budget"] else "NOT within budget"
    return f"  {record['system']:<9} {result}, {record['wall_time']:.0f} s, {budget}"


def run(args: argparse.Namespace, manifest: dict[str, dict], argv: list[str]) -> None:
    """Every budget x dataset; results appended and the report re-rendered after each dataset."""
    names, budgets = selected(manifest, args.datasets), parse_budgets(args.budgets)
    which = parse_systems(args.systems)
    check_environments(which)
    minutes = estimate_seconds(len(names), budgets, len(which)) / 60
    print(
        f"{len(names)} dataset(s) x {len(which)} system(s) x budgets {args.budgets}: "
        f"~{minutes:.0f} min"
    )
    ctx = harness_context(argv)
    indices = {name: i for i, name in enumerate(manifest)}
    for budget in budgets:
        for name in names:
            started = time.monotonic()
            print(f"[{budget:g} s] {name}", flush=True)
            records = run_dataset(
                name, indices[name], manifest[name], budget, ctx, args.shared, which
            )
            append(records, budget)
            write_report(manifest)
            for record in records:
                print(describe(record), flush=True)
            print(f"  ({time.monotonic() - started:.0f} s for the dataset)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or only re-render the report)."""
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    manifest = load_manifest(args.shared)
    if not args.render_only:
        run(args, manifest, argv)
    write_report(manifest)
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
