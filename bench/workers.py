"""Wall time of a fixed number of experiments with 1 worker vs 2 workers on the same data.

Usage (from the repo root, on a quiet machine):
    .venv/bin/python bench/workers.py --dataset auto_mpg --iterations 8 [--repeats 1]
Appends a Markdown table to bench/RESULTS-workers.md with the command and the figures.
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


def run_once(dataset: str, target: str, iterations: int, workers: int, executor: str) -> dict:
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
        ]
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True, text=True)
        wall = time.monotonic() - started
        state = json.loads((run_dir / "state.json").read_text())
    singles = [e for e in state["experiments"] if e["spec"]["model"] != "ensemble"]
    scores = [e["result"]["cv_score"] for e in singles if e["result"]["cv_score"] is not None]
    best = min(scores) if state["data"]["metric"]["direction"] == "minimize" else max(scores)
    return {
        "workers": workers,
        "wall_s": wall,
        "experiments": len(singles),
        "best_cv": best,
        "metric": state["data"]["metric"]["name"],
        "names": [e["spec"]["name"] for e in singles],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="auto_mpg")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--executor", default="warm")
    args = parser.parse_args()
    manifest = json.loads((SHARED / "MANIFEST.json").read_text())["datasets"][args.dataset]
    rows = [
        run_once(args.dataset, manifest["target"], args.iterations, workers, args.executor)
        for _ in range(args.repeats)
        for workers in (1, 2)
    ]
    one = [r["wall_s"] for r in rows if r["workers"] == 1]
    two = [r["wall_s"] for r in rows if r["workers"] == 2]
    ratio = (sum(two) / len(two)) / (sum(one) / len(one))
    lines = [
        f"## {args.dataset}: {args.iterations} experiments after the baseline, "
        f"executor {args.executor}",
        "",
        f"Command: `.venv/bin/python bench/workers.py --dataset {args.dataset} "
        f"--iterations {args.iterations} --repeats {args.repeats} --executor {args.executor}`",
        "",
        "| workers | wall s | experiments | best CV |",
        "|---|---|---|---|",
        *[
            f"| {r['workers']} | {r['wall_s']:.1f} | {r['experiments']} | "
            f"{r['best_cv']:.6g} {r['metric']} |"
            for r in rows
        ],
        "",
        f"Wall-time ratio 2 workers / 1 worker: **{ratio:.2f}**",
        "",
        "Experiments (in launch order):",
        "",
        *[f"- {r['workers']} worker(s): {', '.join(r['names'])}" for r in rows],
        "",
    ]
    with (REPO / "bench" / "RESULTS-workers.md").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
