"""Wall time of a fixed number of experiments with 1 worker vs 2 workers on the same data.

Usage (from the repo root, on a quiet machine):
    .venv/bin/python bench/workers.py --dataset auto_mpg --iterations 8 [--seeds 1,2,3]
Each seed is one paired comparison: the same split, folds and planner seed with 1 and with 2
workers. Quality is compared per seed on the best CV score (ensembles included) and on the
final model's holdout score. Appends a Markdown table to bench/RESULTS-workers.md with the
command and the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


def run_once(
    dataset: str, target: str, iterations: int, workers: int, executor: str, seed: int
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [
            str(REPO / ".venv" / "bin" / "autopilot"),
            "run",
            str(SHARED / f"{dataset}.csv"),
            "--target",
            target,
            "--output-dir",
            str(run_dir),
            "--max-iterations",
            str(iterations),
            "--plateau",
            "1000",
            "--time-budget",
            "3000",
            "--workers",
            str(workers),
            "--planner",
            "optimizer",
            "--seed",
            str(seed),
        ]
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True, text=True)
        wall = time.monotonic() - started
        state = json.loads((run_dir / "state.json").read_text())
    singles = [e for e in state["experiments"] if e["spec"]["model"] != "ensemble"]
    scores = [
        e["result"]["cv_score"] for e in state["experiments"] if e["result"]["cv_score"] is not None
    ]
    minimize = state["data"]["metric"]["direction"] == "minimize"
    return {
        "workers": workers,
        "seed": seed,
        "wall_s": wall,
        "experiments": len(singles),
        "best_cv": min(scores) if minimize else max(scores),
        "holdout": (state.get("final") or {}).get("holdout_score"),
        "minimize": minimize,
        "metric": state["data"]["metric"]["name"],
        "names": [e["spec"]["name"] for e in singles],
    }


def _gain(one: float | None, two: float | None, minimize: bool) -> float | None:
    """Relative change of 2 workers against 1 worker, positive when 2 workers did better."""
    if one is None or two is None or one == 0:
        return None
    return (one - two) / abs(one) if minimize else (two - one) / abs(one)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="auto_mpg")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--seeds", default="42", help="comma-separated seeds, one pair each")
    parser.add_argument("--executor", default="warm")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    manifest = json.loads((SHARED / "MANIFEST.json").read_text())["datasets"][args.dataset]
    rows = [
        run_once(args.dataset, manifest["target"], args.iterations, workers, args.executor, seed)
        for seed in seeds
        for workers in (1, 2)
    ]
    one = [r for r in rows if r["workers"] == 1]
    two = [r for r in rows if r["workers"] == 2]
    ratio = sum(r["wall_s"] for r in two) / sum(r["wall_s"] for r in one)
    minimize = rows[0]["minimize"]
    cv_gains = [_gain(a["best_cv"], b["best_cv"], minimize) for a, b in zip(one, two, strict=True)]
    holdout_gains = [
        _gain(a["holdout"], b["holdout"], minimize) for a, b in zip(one, two, strict=True)
    ]

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    lines = [
        f"## {args.dataset}: {args.iterations} experiments after the baseline, "
        f"executor {args.executor}, seeds {args.seeds}",
        "",
        f"Command: `.venv/bin/python bench/workers.py --dataset {args.dataset} "
        f"--iterations {args.iterations} --seeds {args.seeds} --executor {args.executor}`",
        "",
        f"| seed | wall s, 1 worker | wall s, 2 workers | best CV {rows[0]['metric']}, 1 / 2 "
        "| CV change | holdout, 1 / 2 | holdout change |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {a['seed']} | {a['wall_s']:.1f} | {b['wall_s']:.1f} | "
            f"{a['best_cv']:.6g} / {b['best_cv']:.6g} | {_pct(cg)} | "
            f"{_num(a['holdout'])} / {_num(b['holdout'])} | {_pct(hg)} |"
            for a, b, cg, hg in zip(one, two, cv_gains, holdout_gains, strict=True)
        ],
        "",
        f"Wall-time ratio 2 workers / 1 worker (sums over seeds): **{ratio:.2f}**. "
        f"Mean change with 2 workers (positive: better): best CV {_pct(mean(cv_gains))}, "
        f"holdout {_pct(mean(holdout_gains))}.",
        "",
        "Experiments (in launch order):",
        "",
        *[f"- seed {r['seed']}, {r['workers']} worker(s): {', '.join(r['names'])}" for r in rows],
        "",
    ]
    with (REPO / "bench" / "RESULTS-workers.md").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
