"""The `autopilot` command: run, predict, status. The CLI alone writes to the console."""

from __future__ import annotations

import json
import logging
import select
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from ml_autopilot import control
from ml_autopilot.catalog.metrics import relative_improvement
from ml_autopilot.config import (
    FOLDS,
    LARGE_TABLE_FOLDS,
    LARGE_TABLE_ROWS,
    SECONDS_PER_1000_ROWS_FOR_5_FOLDS,
    RunConfig,
)
from ml_autopilot.errors import AutopilotError, UserError
from ml_autopilot.launch import take_started
from ml_autopilot.log import LOGGER_NAME
from ml_autopilot.process_exit import exit_code, leave
from ml_autopilot.state import (
    ExperimentRecord,
    ExperimentSpec,
    ResearchDirection,
    SessionState,
    load_state,
)
from ml_autopilot.status import status_dict
from ml_autopilot.tracking.base import Tracker
from ml_autopilot.tracking.deferred import DeferredTracker

if TYPE_CHECKING:
    from ml_autopilot.execution.base import Executor
    from ml_autopilot.session import Session

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ML Autopilot: an autonomous machine-learning experimentation engine.",
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


#: Below this a run cannot work: start-up (~2-3 s) and the time kept for the final refit and the
#: report (9 s before any experiment has run) leave the baseline nothing (a 12 s budget gave it
#: 0.1 s, and the run failed after 6 s).
MIN_TIME_BUDGET = 15.0


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def _setup_logging(run_dir: Path | None, verbose: bool) -> None:
    for noisy in ("mlflow", "alembic", "distributed", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG)
    logger.handlers.clear()
    handler = RichHandler(console=err_console, show_path=False, show_time=False)
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.addHandler(handler)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(run_dir / "autopilot.log", encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        file_handler.setLevel(logging.DEBUG)
        logger.addHandler(file_handler)


class ConsoleListener:
    """Prints a live line per experiment with time used and left."""

    def phase(self, state: SessionState, message: str) -> None:
        console.print(f"[bold cyan]{state.phase:>10}[/] {message}")

    def experiment_started(self, state: SessionState, iteration: int, spec: ExperimentSpec) -> None:
        console.print(
            f"[dim]   start {spec.name} ({spec.model}): {spec.hypothesis}[/]",
            soft_wrap=True,
        )

    def experiment_finished(self, state: SessionState, record: ExperimentRecord) -> None:
        result = record.result
        used = state.elapsed_seconds
        left = max(0.0, state.config.time_budget - used)
        clock = f"[dim]{used:6.0f}s used, {left:6.0f}s left[/]"
        head = f"   #{record.iteration:<3} {record.spec.name[:32]:<32} {record.spec.model:<22}"
        if result.status != "success":
            console.print(
                f"{head} [red]{result.status:>10}[/] {clock}  {result.error or ''}", soft_wrap=True
            )
            return
        line = f"{head} {result.cv_score:>10.5g} ± {result.cv_std or 0:.3g}"
        analysis = record.analysis
        best_cmp = (
            next((c for c in analysis.comparisons if c.reference == "best"), None)
            if (analysis)
            else None
        )
        if best_cmp and best_cmp.pct_change is not None:
            word = "better" if best_cmp.better else "worse"
            line += f" ({abs(best_cmp.pct_change):.2f}% {word} than best)"
        if analysis and analysis.is_new_best:
            line += " [bold green]new best[/]"
        console.print(f"{line}  {clock}")


def _print_summary(state: SessionState) -> None:
    data, final = state.data, state.final
    best = state.best() if data else None
    table = Table(title="ML Autopilot summary", show_header=False)
    table.add_row("Run folder", state.config.output_dir)
    if data:
        table.add_row(
            "Task / metric", f"{data.task} / {data.metric.name} ({data.metric.direction})"
        )
    table.add_row("Experiments", str(len(state.experiments)))
    table.add_row("Stopped because", state.termination_reason or "-")
    if best:
        baseline = state.experiments[0]
        gain = ""
        if baseline.result.cv_score is not None and best.result.cv_score is not None:
            pct = 100 * relative_improvement(
                best.result.cv_score, baseline.result.cv_score, state.metric.direction
            )
            gain = f" ({pct:+.1f}% vs baseline)"
        table.add_row("Best (CV)", f"{best.spec.name}: {best.result.cv_score:.5g}{gain}")
    if final and final.status == "success":
        table.add_row("Holdout score", f"{final.holdout_score:.5g} ({final.name})")
        table.add_row("Model", f"{final.model_path or '-'} ({state.saved_model_rows()})")
    elif final:
        table.add_row("Final model", f"[red]failed[/]: {final.error}")
    report_dir = Path(state.config.output_dir) / "report"
    if (report_dir / "report.md").is_file():
        table.add_row("Report", str(report_dir / "report.md"))
    if (report_dir / "dashboard.html").is_file():
        table.add_row("Dashboard", str(report_dir / "dashboard.html"))
    table.add_row("State", str(Path(state.config.output_dir) / "state.json"))
    table.add_row("Scripts", str(Path(state.config.output_dir) / "experiments"))
    table.add_row("Time used", f"{state.elapsed_seconds:.0f} s of {state.config.time_budget:g} s")
    console.print(table)


def process_started() -> float:
    """This process's start on the monotonic clock: start-up counts against the budget."""
    import psutil

    age = max(0.0, time.time() - psutil.Process().create_time())
    return time.monotonic() - age


def _default_output_dir(data: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{data.stem}-{stamp}"


STORE_WAIT_SECONDS = 120.0
PLANNER_HELP = "auto (LLM when a key or base URL is set), optimizer (offline) or llm"
CONFIG_ALIASES = {"data": "data_path", "constraints": "constraints_path"}
# no square brackets: the help is Rich markup, which takes "[...]" for a tag and drops it
FOLDS_HELP = (
    f"cross-validation folds (default {FOLDS}; {LARGE_TABLE_FOLDS} from {LARGE_TABLE_ROWS:,} "
    f"search rows when the budget is under {SECONDS_PER_1000_ROWS_FOR_5_FOLDS:g} s "
    "per 1,000 of them)"
)
PLATEAU_HELP = "stop after N experiments without 0.5% gain (0: never)"


@app.command()
def run(
    data: Annotated[Path | None, typer.Argument(help="CSV or Parquet table")] = None,
    target: Annotated[str | None, typer.Option(help="target column")] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression")] = None,
    metric: Annotated[
        str | None, typer.Option(help="rmse, mae, r2, f1, accuracy, roc_auc, log_loss")
    ] = None,
    constraints: Annotated[Path | None, typer.Option(help="constraints Markdown file")] = None,
    max_iterations: Annotated[int, typer.Option(help="experiments after the baseline")] = 20,
    time_budget: Annotated[
        float, typer.Option(help="seconds for the whole run (at least 15)")
    ] = 3600.0,
    plateau: Annotated[int, typer.Option(help=PLATEAU_HELP)] = 3,
    target_score: Annotated[float | None, typer.Option(help="stop once CV reaches this")] = None,
    holdout: Annotated[float, typer.Option(help="private holdout fraction")] = 0.2,
    refit_full: Annotated[
        bool,
        typer.Option(
            "--refit-full/--no-refit-full",
            help="save the chosen recipe refit on all rows (holdout included) once the holdout "
            "is scored; --no-refit-full saves the scored model",
        ),
    ] = True,
    folds: Annotated[
        int | None,
        typer.Option(help=FOLDS_HELP),
    ] = None,
    output_dir: Annotated[Path | None, typer.Option(help="run folder (RUN_DIR)")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    experiment_timeout: Annotated[float | None, typer.Option(help="cap per experiment, s")] = None,
    planner: Annotated[str, typer.Option(help=PLANNER_HELP)] = "auto",
    llm_model: Annotated[
        str | None, typer.Option(help="provider:model, e.g. google-gla:gemini-3-flash-preview")
    ] = None,
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    ] = None,
    llm_budget: Annotated[int | None, typer.Option(help="tokens the LLM may use")] = None,
    llm_temperature: Annotated[float, typer.Option(help="LLM sampling temperature")] = 1.0,
    llm_thinking: Annotated[str, typer.Option(help="off, low, medium or high")] = "high",
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: RUN_DIR/mlflow.db)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="experiments at once (default: number of cores)")
    ] = None,
    executor: Annotated[str, typer.Option(help="warm (default), local or dask")] = "warm",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler, e.g. tcp://HOST:8786 (with --executor dask)")
    ] = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="ask what next after each direction closes")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log details")] = False,
    resume: Annotated[Path | None, typer.Option(help="continue the run in RUN_DIR")] = None,
) -> None:
    """Run the autopilot on a table until a stopping rule fires."""
    options = {CONFIG_ALIASES.get(k, k): v for k, v in locals().items() if v is not None}
    run_dir = resume or output_dir or (_default_output_dir(data) if data else None)
    early = _early_executor(executor) if resume is None else None
    try:
        try:
            session = (
                _resume(resume, verbose) if resume else _create(options, run_dir, verbose, early)
            )
        except BaseException:
            if early is not None:
                early.close()
            raise
        if interactive:
            session.interact = ask_after_direction
        session.interrupted = catch_interrupts()
        try:
            state = session.run()
        finally:
            session.executor.close()
    except UserError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        err_console.print(
            f"Interrupted; state saved. Resume with: autopilot run --resume {run_dir}"
        )
        raise typer.Exit(130) from None
    except AutopilotError as exc:
        raise _fail(str(exc), code=1) from None
    _print_summary(state)
    if state.phase != "done":
        raise typer.Exit(1)


def catch_interrupts() -> threading.Event:
    """Ctrl+C sets the returned flag as well as raising KeyboardInterrupt.

    The exception alone can be lost: a compiled (Cython) module being imported at that moment
    writes it off as "unraisable" and the run went on to the end, exit 0. The session checks
    the flag at each turn of its loop and raises it again. Where SIGINT is ignored (a
    background job), it stays ignored."""
    flag = threading.Event()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return flag

    def interrupt(signum: int, frame: object) -> None:
        flag.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    sys.unraisablehook = _quiet_lost_interrupts(sys.unraisablehook)
    # what Cython says besides, when the interrupt hit its import-time patch of collections.abc
    warnings.filterwarnings("ignore", "Cython module failed to patch", RuntimeWarning)
    return flag


def _quiet_lost_interrupts(
    default: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], object]:
    """An unraisable hook that logs a swallowed KeyboardInterrupt (the session raises it again
    from its flag) instead of printing a traceback; anything else goes to ``default``."""

    def hook(unraisable: sys.UnraisableHookArgs) -> object:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            logging.getLogger(LOGGER_NAME).debug("Ctrl+C swallowed in %r", unraisable.object)
            return None
        return default(unraisable)

    return hook


def _resume(run_dir: Path, verbose: bool) -> Session:
    from ml_autopilot.execution.factory import make_executor
    from ml_autopilot.session import Session

    _setup_logging(run_dir, verbose)
    state = load_state(run_dir)
    session = Session(
        state,
        started=process_started(),
        listener=ConsoleListener(),
        tracker=_tracker(state.config),
        executor=make_executor(state.config),
    )
    console.print(
        f"ML Autopilot: resuming {run_dir} at phase {state.phase} with "
        f"{len(state.experiments)} experiment(s) done; planner {state.planner_name}"
    )
    return session


def _early_executor(kind: str) -> Executor | None:
    """The default warm executor, started before the heavy imports of a run: its zygote
    imports the ML libraries (~2 s) while this process imports its own and loads the data.
    The ``autopilot`` command starts it even before this module loads (``launch``)."""
    started = take_started()
    if kind != "warm":
        if started is not None:
            started.close()
        return None
    if started is not None:
        return started
    from ml_autopilot.execution.factory import start_warm_executor

    return start_warm_executor()


def _create(
    options: dict[str, object], run_dir: Path | None, verbose: bool, executor: Executor | None
) -> Session:
    from ml_autopilot.execution.factory import make_executor
    from ml_autopilot.session import Session

    if options.get("data_path") is None or options.get("target") is None:
        raise UserError("Give a data file and --target (or --resume RUN_DIR).")
    values = {k: v for k, v in options.items() if k in RunConfig.model_fields}
    values["output_dir"] = str(run_dir)
    values["data_path"] = str(values["data_path"])
    if values.get("constraints_path") is not None:
        values["constraints_path"] = str(values["constraints_path"])
    config = _validated_config(values)
    if config.time_budget < MIN_TIME_BUDGET:  # new runs only: old states still load
        raise UserError(
            f"--time-budget: {config.time_budget:g} s is too short; give at least "
            f"{MIN_TIME_BUDGET:g} s (start-up and the final refit and report need ~12 s)"
        )
    _setup_logging(run_dir, verbose)
    session = Session.create(
        config,
        started=process_started(),
        listener=ConsoleListener(),
        tracker=_tracker(config),
        executor=executor or make_executor(config),
    )
    console.print(
        f"ML Autopilot: planner {_planner_line(session.state)}; run folder {config.output_dir}"
    )
    return session


def _planner_line(state: SessionState) -> str:
    config = state.config
    if state.planner_name != "llm":
        return "[bold]optimizer[/] (built in, offline)"
    where = f" at {config.llm_base_url}" if config.llm_base_url else ""
    return f"[bold]llm[/] ({config.llm_model or 'default model'}{where})"


def _tracker(config: RunConfig) -> Tracker:
    """MLflow tracking, set up in the background once the session's first experiments run."""

    def build() -> Tracker:
        from ml_autopilot.tracking.mlflow_tracker import MlflowTracker

        for noisy in ("mlflow", "alembic"):  # MLflow resets its loggers when imported
            logging.getLogger(noisy).setLevel(logging.ERROR)
        tracker = MlflowTracker(config.tracking_uri)
        # create the store once the data has loaded, so a bad input leaves no store behind
        loaded = Path(config.output_dir) / "data" / "train.parquet"
        deadline = time.monotonic() + STORE_WAIT_SECONDS
        while not loaded.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if loaded.exists():
            tracker.warm_up(Path(config.output_dir))
        return tracker

    return DeferredTracker(build)


def _validated_config(values: dict[str, object]) -> RunConfig:
    try:
        return RunConfig(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        field = {"data_path": "data", "constraints_path": "constraints"}.get(field, field)
        raise UserError(f"--{field.replace('_', '-')}: {first['msg']}") from None


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="run folder")],
    data: Annotated[Path, typer.Argument(help="CSV or Parquet table to predict")],
    out: Annotated[Path, typer.Option(help="where to write the predictions CSV")] = Path(
        "predictions.csv"
    ),
) -> None:
    """Predict with the best model of a finished run."""
    from ml_autopilot.predict import predict_file

    try:
        rows = predict_file(run_dir, data, out)
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(f"Wrote {rows} predictions to {out}")


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="run folder")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show a run's phase, experiments and best so far."""
    try:
        state = load_state(run_dir)
    except UserError as exc:
        raise _fail(str(exc)) from None
    info = status_dict(state)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    table = Table(title=f"Run {state.run_id}: phase {state.phase}")
    for column in ("#", "name", "model", "status", "CV score", "s", "planner"):
        table.add_column(column)
    for exp in info["experiments"]:
        score = "-" if exp["cv_score"] is None else f"{exp['cv_score']:.5g}"
        table.add_row(
            str(exp["iteration"]),
            exp["name"],
            exp["model"],
            exp["status"],
            score,
            f"{exp['duration']:.1f}",
            exp["planner"],
        )
    console.print(table)
    _print_summary(state)


INTERACTIVE_TIMEOUT = 30.0


def ask_after_direction(direction: ResearchDirection | None) -> str | None:
    """Ask at the terminal what to do next; carry on by itself after a timeout."""
    if direction is None or not sys.stdin.isatty():
        return None
    learnt = " ".join(direction.learnings)
    console.print(f"[bold]Direction closed:[/] {direction.name}. {learnt}")
    console.print(
        f"continue / stop / or type a direction to try "
        f"(continuing in {INTERACTIVE_TIMEOUT:.0f} s): ",
        end="",
    )
    ready, _, _ = select.select([sys.stdin], [], [], INTERACTIVE_TIMEOUT)
    if not ready:
        console.print("continuing")
        return None
    answer = sys.stdin.readline().strip()
    return answer or None


@app.command()
def steer(
    run_dir: Annotated[Path, typer.Argument(help="run folder of a running session")],
    instruction: Annotated[str, typer.Argument(help='e.g. "avoid svc" or "try an ensemble"')],
) -> None:
    """Send an instruction to a running session; it acts on it at its next design step."""
    try:
        count = control.send_steer(run_dir, instruction)
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Sent instruction #{count}; the session acknowledges it in its output, state and report."
    )


@app.command()
def stop(run_dir: Annotated[Path, typer.Argument(help="run folder of a running session")]) -> None:
    """Ask a running session to finish: no new experiments, final refit, report."""
    try:
        control.request_stop(run_dir)
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(
        "Stop requested; the session finishes its running experiments, refits the "
        "best model and writes the report."
    )


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="run folder")]) -> None:
    """Write the report, plots and dashboard of a run again, from its state."""
    try:
        state = load_state(run_dir)
    except UserError as exc:
        raise _fail(str(exc)) from None
    from ml_autopilot.reporting.build import build_all

    written = build_all(state, run_dir)
    for key in ("report", "dashboard"):
        if key in written:
            console.print(f"{key.capitalize()}: {written[key]}")
    plots = [p for k, p in written.items() if k.startswith("plot:")]
    console.print(f"{len(plots)} plot(s) in {run_dir / 'report' / 'plots'}")


@app.command()
def dashboard(run_dir: Annotated[Path, typer.Argument(help="run folder")]) -> None:
    """Write the run's self-contained interactive HTML dashboard and print its path."""
    try:
        state = load_state(run_dir)
    except UserError as exc:
        raise _fail(str(exc)) from None
    from ml_autopilot.reporting.dashboard import write_dashboard

    console.print(f"Dashboard: {write_dashboard(state, run_dir)} (open it in a browser)")


@app.command()
def ui(
    run_dir: Annotated[Path, typer.Argument(help="run folder")],
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 5000,
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the run's store (Ctrl+C stops it)."""
    try:
        load_state(run_dir)
    except UserError as exc:
        raise _fail(str(exc)) from None
    from ml_autopilot.tracking import ui as mlflow_ui

    url, process = mlflow_ui.start_ui(run_dir, port=port)
    console.print(f"MLflow UI: {url} (Ctrl+C to stop)")
    try:
        process.wait()
    except KeyboardInterrupt:
        mlflow_ui.stop_ui(process)


def main() -> NoReturn:
    """The console entry point (``autopilot``, ``python -m ml_autopilot``).

    The command's exit status is kept; the process then ends through ``process_exit.leave``
    (exit handlers run, no interpreter teardown: 1.3 s after a run)."""
    try:
        app(prog_name="autopilot")
        code = 0
    except SystemExit as stop:
        code = exit_code(stop.code)
    leave(code)
