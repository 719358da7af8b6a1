"""Run generated scripts on Dask workers, with the same isolation as on this machine.

``DaskExecutor`` submits one task per experiment. The task runs on a worker and runs the same
standalone script under ``LocalExecutor`` there: a subprocess in its own process group, killed
with its group at the timeout, under ``RLIMIT_AS``, with the thread variables set. The task
returns the ``ExecutionOutcome``; the driver (the session, the only writer of the run folder)
writes the files the script produced into the request's workdir.

Workers need the same Python environment as the driver (ml_autopilot and the ML libraries);
they do not need the driver's filesystem:

* the task carries the script's text; the generated script names its inputs
  (``TRAIN_PATH``, ``HOLDOUT_PATH``) and its ``OUTPUT_DIR`` by absolute path, so the task runs it
  at the same absolute paths on the worker;
* inputs: the driver reads the ``*_PATH`` literals of the script. A worker that cannot see one
  of them at its absolute path (absent, or an older copy that this executor shipped earlier)
  answers so without running anything; the driver then ships the file (``scatter`` once per
  file, cached by path, size and mtime) and submits again, and the task writes it at the same
  absolute path on the worker. An input is written only where none is present, or over a copy
  this executor shipped before (marked by a ``<name>.ml-autopilot-shipped`` file next to it,
  and given the driver's mtime); a different file already at that path is left alone and
  reported in the log;
* outputs: when the worker sees the driver's copy of the script (same inode, size and mtime),
  it shares the driver's filesystem and the files are already in place. Otherwise the task
  creates the workdir, runs the script, sends every file the script left in it back as bytes
  (``stdout.txt``, ``stderr.txt``, ``oof.npy``, ``model.pkl``...) and removes its copy.

``always_ship=True`` ships the inputs with every task and has every worker send its output
files back, even one that shares the driver's filesystem (for tests, or for workers whose view
of the paths may be stale). ``stats`` counts tasks, resubmissions, shipped inputs and returned
files.

Timeouts: the worker's ``LocalExecutor`` kills the script at ``request.timeout``; the driver
waits ``request.timeout + timeout_margin`` for the task (time queued behind other tasks counts)
and then cancels it and reports a timeout.

Cancelling a Dask task does not stop a running function, so ``cancel_all()`` asks every worker
(``Client.run``) to kill the scripts this executor started there and to refuse its older jobs
that have not started yet, then cancels what is still pending. ``close()`` does the same before
it shuts the client (and the LocalCluster it started) down.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from distributed import Client, Future, LocalCluster

from ml_autopilot.codegen.render import parse_python
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.log import get_logger

logger = get_logger("execution")
SHIPPED_SUFFIX = ".ml-autopilot-shipped"
TIMEOUT_MARGIN = 30.0
CANCEL_GRACE = 5.0  # seconds cancel_all waits for killed tasks to report before cancelling


@dataclass(frozen=True)
class InputFile:
    """An input the script reads, as the driver sees it."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs to run one script; plain data, so it pickles anywhere."""

    script: str
    script_text: str
    script_stat: tuple[int, int, int]  # (inode, size, mtime_ns) of the driver's copy
    workdir: str
    timeout: float
    n_threads: int
    memory_limit_mb: int | None
    inputs: tuple[InputFile, ...]
    always_ship: bool = False
    owner: str = ""  # the driver executor's token: cancel_all kills only its own scripts
    epoch: int = 0  # cancel_all calls before this job was built; older jobs never start


@dataclass(frozen=True)
class NeedInputs:
    """The worker's answer when it cannot see some inputs: nothing ran."""

    paths: tuple[str, ...]
    host: str


@dataclass
class WorkerResult:
    """What one task produced on its worker."""

    outcome: ExecutionOutcome
    host: str
    shared: bool
    files: dict[str, bytes] = field(default_factory=dict)
    materialised: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class DaskStats:
    """Counters for reports and tests."""

    tasks: int = 0
    resubmits: int = 0
    inputs_shipped: int = 0
    files_returned: int = 0
    bytes_returned: int = 0
    driver_timeouts: int = 0


# ---- the driver side ---------------------------------------------------------------------


class DaskExecutor(Executor):
    """Runs each script as a Dask task: a ``LocalExecutor`` subprocess on a worker."""

    local_files = False  # a worker may see none of the run folder

    def __init__(
        self,
        scheduler_address: str | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        *,
        always_ship: bool = False,
        timeout_margin: float = TIMEOUT_MARGIN,
    ) -> None:
        self.always_ship = always_ship
        self.timeout_margin = timeout_margin
        self.stats = DaskStats()
        self._cluster: LocalCluster | None = None
        if scheduler_address is None:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
            self.client = Client(self._cluster, set_as_default=False)
        else:
            self.client = Client(scheduler_address, set_as_default=False)
        self.token = uuid.uuid4().hex
        self._epoch = 0
        self._inflight: set[Future] = set()
        self._shipped: dict[str, tuple[tuple[int, int], Future]] = {}
        self._lock = threading.Lock()  # stats
        self._ship_lock = threading.Lock()  # the shipped-inputs cache
        logger.debug("dask executor on %s", self.client.scheduler.address)

    # ---- public ------------------------------------------------------------------------
    def run(self, request: ExecutionRequest) -> ExecutionOutcome:
        started = time.perf_counter()
        try:
            job = build_job(request, self.always_ship, owner=self.token, epoch=self._epoch)
        except OSError as error:
            return ExecutionOutcome("failed", error=f"cannot read the script: {error}")
        try:
            result = self.run_job(job)
        except TimeoutError:
            return self._driver_timeout(request, started)
        except Exception as error:  # a lost worker, a cancelled task, a task error
            logger.warning("dask task for %s failed: %r", request.script, error)
            return ExecutionOutcome(
                "failed",
                duration=time.perf_counter() - started,
                error=f"the Dask task failed: {type(error).__name__}: {error}",
            )
        try:
            self._record(request, result)
        except OSError as error:
            return replace(result.outcome, status="failed", error=f"cannot write back: {error}")
        return result.outcome

    def cancel_all(self) -> None:
        """Kill this executor's scripts on every worker; tasks submitted earlier that have not
        started yet return at once without running. Each ``run`` in flight then returns."""
        with self._lock:
            self._epoch += 1
            epoch, futures = self._epoch, list(self._inflight)
        with contextlib.suppress(Exception):
            self.client.run(cancel_on_worker, self.token, epoch)
        pending = _wait_done(futures, CANCEL_GRACE)  # their outcomes: killed, or never started
        if pending:
            with contextlib.suppress(Exception):
                self.client.cancel(pending)

    def close(self) -> None:
        """Kill running scripts, shut the client down, and the cluster if this executor
        started one (a script's process group would otherwise outlive its worker)."""
        self.cancel_all()
        with self._ship_lock:
            self._shipped.clear()
        with contextlib.suppress(Exception):
            self.client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_job(self, job: WorkerJob) -> WorkerResult:
        """Run a prepared job: ship the inputs a worker lacks, submit again, return its result.

        Raises what the task raised, or ``TimeoutError`` after ``timeout + timeout_margin``.
        """
        payloads = self.ship_inputs(job.inputs) if job.always_ship else {}
        answer = self._call(job, payloads)
        if isinstance(answer, NeedInputs):
            logger.debug("worker %s lacks %s; shipping", answer.host, ", ".join(answer.paths))
            wanted = [item for item in job.inputs if item.path in answer.paths]
            with self._lock:
                self.stats.resubmits += 1
            answer = self._call(job, {**payloads, **self.ship_inputs(wanted)})
        if isinstance(answer, NeedInputs):
            raise RuntimeError(f"worker {answer.host} still lacks {', '.join(answer.paths)}")
        return answer

    # ---- one request -------------------------------------------------------------------
    def _call(self, job: WorkerJob, payloads: dict[str, Future]) -> WorkerResult | NeedInputs:
        key = f"ml-autopilot-{Path(job.workdir).name}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(run_on_worker, job, payloads, key=key, pure=False)
        with self._lock:
            self.stats.tasks += 1
            self._inflight.add(future)
        try:
            result: WorkerResult | NeedInputs = future.result(
                timeout=job.timeout + self.timeout_margin
            )
        except BaseException:
            with contextlib.suppress(Exception):
                future.cancel()
            raise
        finally:
            with self._lock:
                self._inflight.discard(future)
        return result

    def ship_inputs(self, inputs: Iterable[InputFile]) -> dict[str, Future]:
        """Scattered copies of the driver's input files, one per path, size and mtime.

        Each version of a file is read and scattered once; later calls reuse the future."""
        shipped = {}
        with self._ship_lock:
            for item in inputs:
                version = (item.size, item.mtime_ns)
                cached = self._shipped.get(item.path)
                if cached is None or cached[0] != version:
                    data = Path(item.path).read_bytes()
                    cached = (version, self.client.scatter(data, hash=False))
                    self._shipped[item.path] = cached
                    with self._lock:
                        self.stats.inputs_shipped += 1
                shipped[item.path] = cached[1]
        return shipped

    def _record(self, request: ExecutionRequest, result: WorkerResult) -> None:
        for note in result.notes:
            logger.warning("worker %s: %s", result.host, note)
        if result.files:
            write_back(Path(request.workdir), result.files)
        with self._lock:
            self.stats.files_returned += len(result.files)
            self.stats.bytes_returned += sum(len(data) for data in result.files.values())

    def _driver_timeout(self, request: ExecutionRequest, started: float) -> ExecutionOutcome:
        with self._lock:
            self.stats.driver_timeouts += 1
        waited = request.timeout + self.timeout_margin
        return ExecutionOutcome(
            "timeout",
            duration=time.perf_counter() - started,
            error=f"no result from the Dask worker after {waited:.1f} s (timeout); task cancelled",
        )


def _wait_done(futures: list[Future], timeout: float) -> list[Future]:
    """Wait up to ``timeout`` for the futures to finish; those still pending."""
    deadline = time.monotonic() + timeout
    pending = [future for future in futures if not future.done()]
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = [future for future in pending if not future.done()]
    return pending


def build_job(
    request: ExecutionRequest, always_ship: bool = False, owner: str = "", epoch: int = 0
) -> WorkerJob:
    """The worker job for a request: the script's text and stat, and the inputs it reads."""
    script = Path(request.script).absolute()
    text = script.read_text(encoding="utf-8")
    stat = script.stat()
    return WorkerJob(
        script=str(script),
        script_text=text,
        script_stat=(stat.st_ino, stat.st_size, stat.st_mtime_ns),
        workdir=str(Path(request.workdir).absolute()),
        timeout=request.timeout,
        n_threads=request.n_threads,
        memory_limit_mb=request.memory_limit_mb,
        inputs=tuple(_input_file(path) for path in script_inputs(text) if Path(path).is_file()),
        always_ship=always_ship,
        owner=owner,
        epoch=epoch,
    )


def script_inputs(text: str) -> list[str]:
    """The absolute paths a generated script names in its module-level ``*_PATH`` literals."""
    paths = []
    for node in parse_python(text).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if (
            isinstance(target, ast.Name)
            and target.id.endswith("_PATH")
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and os.path.isabs(value.value)
        ):
            paths.append(value.value)
    return paths


def _input_file(path: str) -> InputFile:
    stat = os.stat(path)
    return InputFile(path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def write_back(workdir: Path, files: dict[str, bytes]) -> None:
    """Write files a worker returned into ``workdir``; identical files are left untouched."""
    root = workdir.resolve()
    for relative, data in files.items():
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            logger.warning("ignoring returned file outside the workdir: %s", relative)
            continue
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# ---- the worker side ---------------------------------------------------------------------

# per driver executor (its token), in each worker process
_WORKER_EXECUTORS: dict[str, LocalExecutor] = {}
_CANCELLED_BEFORE: dict[str, int] = {}  # jobs of an earlier epoch must not start
_WORKER_LOCK = threading.Lock()


def _worker_executor(owner: str) -> LocalExecutor:
    with _WORKER_LOCK:
        return _WORKER_EXECUTORS.setdefault(owner, LocalExecutor())


def _cancelled(job: WorkerJob) -> bool:
    with _WORKER_LOCK:
        return job.epoch < _CANCELLED_BEFORE.get(job.owner, 0)


def cancel_on_worker(owner: str, epoch: int) -> int:
    """Kill the scripts the driver executor ``owner`` runs in this worker process, and keep
    its jobs from epochs before ``epoch`` from starting."""
    with _WORKER_LOCK:
        _CANCELLED_BEFORE[owner] = max(_CANCELLED_BEFORE.get(owner, 0), epoch)
        executor = _WORKER_EXECUTORS.get(owner)
    if executor is not None:
        executor.cancel_all()
    return 0


def run_on_worker(job: WorkerJob, payloads: dict[str, bytes]) -> WorkerResult | NeedInputs:
    """The task: make the inputs and script present, run the script locally, return the files."""
    host = socket.gethostname()
    if _cancelled(job):
        outcome = ExecutionOutcome("failed", error="cancelled before it started")
        return WorkerResult(outcome, host, shared=False)
    states = {item.path: _input_state(item) for item in job.inputs}
    absent = [path for path, state in states.items() if state == "absent"]
    unshipped = tuple(path for path in absent if path not in payloads)
    if unshipped:
        return NeedInputs(unshipped, host)
    notes = [
        f"{path} differs from the driver's copy; left as it is"
        for path, state in states.items()
        if state == "foreign"
    ]
    materialised = [item.path for item in job.inputs if item.path in absent]
    for item in job.inputs:
        if item.path in absent:
            materialise(item, payloads[item.path])
    shared = _sees_driver_script(job)
    created = False if shared else _prepare_workdir(job)
    try:
        outcome = _worker_executor(job.owner).run(_request(job))
        files = collect_files(job) if job.always_ship or not shared else {}
    finally:
        if created:
            shutil.rmtree(job.workdir, ignore_errors=True)
    return WorkerResult(outcome, host, shared, files, materialised, notes)


def _request(job: WorkerJob) -> ExecutionRequest:
    return ExecutionRequest(
        script=Path(job.script),
        workdir=Path(job.workdir),
        timeout=job.timeout,
        n_threads=job.n_threads,
        memory_limit_mb=job.memory_limit_mb,
    )


def _input_state(item: InputFile) -> str:
    """``ready``: the driver's file (or our copy of it); ``absent``: missing or our stale copy;
    ``foreign``: some other file at that path, which is not ours to replace."""
    path = Path(item.path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "absent"
    if (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns):
        return "ready"
    return "absent" if _marker(path).exists() else "foreign"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + SHIPPED_SUFFIX)


def materialise(item: InputFile, data: bytes) -> None:
    """Write a shipped input at its absolute path, atomically, with the driver's mtime."""
    path = Path(item.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    temporary.write_bytes(data)
    os.utime(temporary, ns=(item.mtime_ns, item.mtime_ns))
    os.replace(temporary, path)
    _marker(path).write_text(json.dumps({"size": item.size, "mtime_ns": item.mtime_ns}))


def _sees_driver_script(job: WorkerJob) -> bool:
    try:
        stat = os.stat(job.script)
    except OSError:
        return False
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns) == job.script_stat


def _prepare_workdir(job: WorkerJob) -> bool:
    """Create the workdir and the script on a worker without the driver's filesystem.

    Returns whether the workdir was created here (and should be removed afterwards)."""
    workdir = Path(job.workdir)
    created = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    script = Path(job.script)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(job.script_text, encoding="utf-8")
    return created


def collect_files(job: WorkerJob) -> dict[str, bytes]:
    """Every regular file in the workdir except the script, by path relative to the workdir."""
    workdir, script = Path(job.workdir), Path(job.script)
    files: dict[str, bytes] = {}
    for path in sorted(workdir.rglob("*")):
        if path.is_file() and not path.is_symlink() and path != script:
            files[path.relative_to(workdir).as_posix()] = path.read_bytes()
    return files
