"""Run the systems under test as subprocesses, with the exact commands of BENCHMARK.md.

autopilot: ``autopilot run ...`` then ``autopilot predict ...`` (product environment, .venv)
FLAML:     ``bench/.venv/bin/python bench/run_flaml.py ...`` (its own environment, bench/.venv)

The wall time of a system is that of all its commands together. A system that exits non-zero,
or runs past a hard cap far beyond the budget, is a failed run, never an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
AUTOPILOT = ROOT / ".venv" / "bin" / "autopilot"
AUTOPILOT_PYTHON = ROOT / ".venv" / "bin" / "python"
FLAML_PYTHON = BENCH / ".venv" / "bin" / "python"
RUN_FLAML = BENCH / "run_flaml.py"
SYSTEMS = ("autopilot", "flaml")
TASK_OF = {"binary": "classification", "multiclass": "classification", "regression": "regression"}

# Distributions whose versions are reported, per import name (xgboost may ship as xgboost-cpu).
PACKAGES = {
    "ml_autopilot": ("ml-autopilot",),
    "flaml": ("flaml",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "catboost": ("catboost",),
    "sklearn": ("scikit-learn",),
    "pandas": ("pandas",),
    "numpy": ("numpy",),
}


@dataclass
class Job:
    """One system on one dataset split at one budget."""

    system: str
    train: Path
    test_x: Path
    target: str
    task: str  # binary, multiclass or regression
    metric: str
    budget: float
    out_dir: Path  # per system and budget; wiped before the run

    @property
    def predictions(self) -> Path:
        return self.out_dir / "preds.csv"

    @property
    def run_dir(self) -> Path:
        return self.out_dir / "run"

    @property
    def log(self) -> Path:
        return self.out_dir / "output.log"

    @property
    def hard_cap(self) -> float:
        """Kill a system after this many seconds in all (far past the 1.1 x S + 15 s limit)."""
        return 2.0 * self.budget + 120.0


@dataclass
class SystemRun:
    """What running a system gave: wall time, exit status and the commands."""

    commands: list[str] = field(default_factory=list)
    command_times: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    epoch_span: tuple[float, float] = (0.0, 0.0)
    error: str | None = None


def commands(job: Job) -> list[list[str]]:
    """The exact command lines of the system, in order."""
    task = TASK_OF[job.task]
    budget = f"{job.budget:g}"
    if job.system == "autopilot":
        return [
            [str(AUTOPILOT), "run", str(job.train), "--target", job.target, "--task", task,
             "--metric", job.metric, "--time-budget", budget, "--output-dir", str(job.run_dir)],
            [str(AUTOPILOT), "predict", str(job.run_dir), str(job.test_x),
             "--out", str(job.predictions)],
        ]  # fmt: skip
    return [
        [str(FLAML_PYTHON), str(RUN_FLAML), str(job.train), "--target", job.target, "--task", task,
         "--metric", job.metric, "--time-budget", budget, "--out", str(job.predictions),
         "--test", str(job.test_x)],
    ]  # fmt: skip


def run_system(job: Job) -> SystemRun:
    """Run the system's commands one after the other; stop at the first failure."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    run = SystemRun()
    started, started_epoch = time.monotonic(), time.time()
    for argv in commands(job):
        run.commands.append(shlex.join(argv))
        begun = time.monotonic()
        run.error = run_command(
            argv, job.log, cwd=job.out_dir, timeout=job.hard_cap - (begun - started)
        )
        run.command_times.append(round(time.monotonic() - begun, 3))
        if run.error:
            break
    run.wall_time = time.monotonic() - started
    run.epoch_span = (started_epoch, time.time())
    return run


def run_command(argv: list[str], log: Path, cwd: Path, timeout: float) -> str | None:
    """Run one command in its own process group, output appended to log; None if it succeeded."""
    with log.open("a") as sink:
        sink.write(f"$ {shlex.join(argv)}\n")
        sink.flush()
        try:
            process = subprocess.Popen(
                argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as error:
            return f"could not start {argv[0]}: {error}"
        try:
            code = process.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return f"{_name(argv)} killed at the hard cap of the system ({timeout:.0f} s left)"
    return None if code == 0 else f"{_name(argv)} exited with code {code}"


def _name(argv: list[str]) -> str:
    return f"{Path(argv[0]).name} {Path(argv[1]).name}"


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the process group the harness started for this command."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def autopilot_stats(run_dir: Path, run: SystemRun, budget: float) -> dict:
    """Experiments, and the wall time not spent fitting or predicting models.

    Each generated script reports the wall-clock span of every fit + predict (one per CV fold,
    one per refit and holdout prediction), and the permutation importance the span of each
    prediction of the final model, and the predict command logs the span of its prediction
    (``predictions.jsonl`` in the run folder). Their union, clipped to the run's wall clock, is
    the model time: overlapping experiments count once. Non-model time is the rest of the wall
    time of both commands (start-up, planning, code generation, process start, logging, the
    report, and the predict command's start-up, reading and writing).
    """
    from ml_autopilot.state import SessionState  # the product env only (not FLAML's)
    from ml_autopilot.timing import covered_seconds, prediction_spans, session_model_spans

    state_file = run_dir / "state.json"
    if not state_file.is_file():
        return {"state": "missing"}
    state = SessionState.model_validate_json(state_file.read_text())
    spans = session_model_spans(state) + prediction_spans(run_dir)
    model_seconds = covered_seconds(spans, *run.epoch_span)
    # The spans are wall-clock (epoch) times, so the share is taken on the same clock. The
    # monotonic wall time can fall behind it when the machine is paused (a 2026-11-22 adult run:
    # 140 s of wall clock, 123 s monotonic); the gap is recorded.
    epoch_seconds = run.epoch_span[1] - run.epoch_span[0]
    non_model = max(epoch_seconds - model_seconds, 0.0)
    return {
        "epoch_span": [round(run.epoch_span[0], 3), round(run.epoch_span[1], 3)],  # bench/gaps.py
        "clock_gap_seconds": round(epoch_seconds - run.wall_time, 3),
        "n_experiments": len(state.experiments),
        "n_successful": len(state.successful()),
        "planner": state.planner_name,
        "termination_reason": state.termination_reason,
        "final_model": state.final.name if state.final else None,
        "model_seconds": round(model_seconds, 3),
        "non_model_seconds": round(non_model, 3),
        "non_model_share_of_budget": round(non_model / budget, 4),
    }


PROBE_LOOP = 20_000_000  # about 0.5-0.8 s of pure Python on the 2-core machine


def speed_probe() -> float:
    """Seconds a fixed pure-Python loop takes now: a yardstick for timings taken at different
    times on a shared machine (on 2026-11-22 the same loop took 0.69-0.89 s, then 0.87-1.10 s
    an hour later, and every command's overhead grew with it)."""
    started = time.perf_counter()
    sum(range(PROBE_LOOP))
    return round(time.perf_counter() - started, 3)


def env_versions(python: Path) -> dict:
    """Versions of the reported packages in the environment of that interpreter."""
    code = f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import systems; "
    code += "print(json.dumps(systems.local_versions()))"
    try:
        done = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as error:
        return {"error": f"{python}: {error}"}


def local_versions() -> dict:
    """Versions of the reported packages in this interpreter's environment (None: absent)."""
    import platform

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name, distributions in PACKAGES.items():
        versions[name] = _first_version(distributions)
    return versions


def _first_version(distributions: tuple[str, ...]) -> str | None:
    for distribution in distributions:
        try:
            found = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
        return found if distribution == distributions[0] else f"{found} ({distribution})"
    return None


def git_commit() -> dict:
    """The autopilot's git commit, and whether its code (src/, pins) differs from it."""
    try:
        head = _git("rev-parse", "HEAD")
        changed = _git("status", "--porcelain", "--", "src", "pyproject.toml", "uv.lock")
    except (OSError, subprocess.SubprocessError) as error:
        return {"commit": None, "error": str(error)}
    return {"commit": head, "dirty": bool(changed), "changed_files": len(changed.splitlines())}


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()
