"""Run generated scripts in children forked from a warm "zygote" that has the libraries loaded.

A fresh interpreter pays seconds to import pandas, scikit-learn and the boosting libraries
before an experiment does any work. ``WarmExecutor`` pays that once: it lazily starts one
persistent zygote process (with one-thread variables, which OpenMP and OpenBLAS read when they
load), the zygote imports the libraries and then forks one child per request. A child that asks
for more threads resizes the pools through threadpoolctl before its script runs, so one zygote
serves every thread count (a second zygote would cost seconds of both cores at start-up). The
child gets the same isolation as under ``LocalExecutor``: it calls ``os.setsid()`` (its own
process group, so a timeout kills everything it started), sets ``RLIMIT_AS``, changes to the
experiment folder, sends fds 0/1/2 to ``/dev/null``, ``stdout.txt`` and ``stderr.txt``, and runs
the standalone script with ``runpy.run_path(script, run_name="__main__")``. The script stays a
standalone file: ``python experiment.py`` still reproduces it.

Fork safety: the zygote only imports. It never runs a fit, so no OpenMP or BLAS thread pool is
started before a fork (OpenBLAS and Arrow's jemalloc register their own fork handlers for the
threads they create at load time). Each child reseeds NumPy's global generator, as a fresh
interpreter would; ``random`` reseeds itself after a fork.

Protocol: JSON lines over the zygote's stdin and stdout (duplicated to private fds at start, so
stray prints from libraries cannot corrupt it). The executor sends ``{"id", "script",
"workdir", "env", "limit_bytes"}``; the zygote answers ``{"id", "pid"}`` once the child has its
own session, and ``{"id", "returncode"}`` when it has reaped it (or ``{"id", "error"}`` if the
fork failed). One zygote serves concurrent requests from several threads: a lock guards the
writes, and a reader thread routes each reply to the waiting request by id. The executor
enforces the timeout by killing the child's process group.

The memory limit: the zygote's address space already holds every preloaded library, which a
fresh process would map only for what the script imports. A child's ``RLIMIT_AS`` is therefore
``memory_limit_mb`` plus the address space that the preloading added to the zygote, so the
limit keeps meaning "memory for the experiment" (looser than under ``LocalExecutor`` by the
size of the preloaded libraries the script does not use, about 0.3 GB).

If the zygote dies or misbehaves (no reply, a broken pipe), the request restarts it once and
tries again with the time left; if that fails too, the request runs under ``LocalExecutor``.
A zygote that cannot start twice in a row makes the executor fall back for good.

Differences from a fresh interpreter that a script could notice: the environment is the one the
zygote started with (plus the thread variables); modules are already imported (module-level
state set at import time is shared); the hash seed is the zygote's. The generated scripts
depend on none of these. ``start(wait=False)`` preloads in the background;
``cancel_all()`` kills the running children; ``close()`` (also run at exit) stops the zygote.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import queue
import resource
import runpy
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.execution.contract import (
    STDERR_NAME,
    STDOUT_NAME,
    kill_process_group,
    memory_limit_bytes,
    outcome_from_files,
    thread_environment,
)
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.log import get_logger
from ml_autopilot.process_exit import exit_code, finish

logger = get_logger("execution")

#: What the zygote imports before it forks: the modules the experiment template imports, the
#: catalog's estimator modules, and joblib (scikit-learn's parallel helpers use it).
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "sklearn",
    "sklearn.metrics",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.naive_bayes",
    "sklearn.neighbors",
    "sklearn.svm",
    "sklearn.tree",
    "lightgbm",
    "xgboost",
    "catboost",
    "joblib",
)
BOOT = "from ml_autopilot.execution.warm import zygote_main; zygote_main()"
SPAWN_TIMEOUT = 30.0  # seconds for the zygote to answer a request with the child's pid
KILL_GRACE = 10.0  # seconds for the zygote to report a killed child
CLOSE_GRACE = 5.0  # seconds for the zygote to exit after its stdin closes
POLL_SECONDS = 0.05  # child polling interval where pidfd_open is unavailable
LOG_TAIL_CHARS = 2000


class ZygoteError(RuntimeError):
    """The zygote died or misbehaved; ``child_seconds`` is how long a lost child had run."""

    def __init__(self, message: str, child_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.child_seconds = child_seconds


# ---- the executor side -------------------------------------------------------------------


class WarmExecutor(Executor):
    """Runs each script in a child forked from a zygote that has the ML libraries imported."""

    def __init__(
        self,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        startup_timeout: float = 180.0,
        fallback: Executor | None = None,
    ) -> None:
        self.preload = tuple(preload)
        self.startup_timeout = startup_timeout
        self.fallback = fallback or LocalExecutor()
        self._slot = _Slot()  # the zygote, once started
        self._lock = threading.Lock()
        self._start_failures = 0
        self._live: set[int] = set()  # pids of the children running now
        self._live_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_slot, self._slot, self._lock)

    # ---- public ------------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Start the zygote now instead of on the first request.

        With ``wait=False`` it starts in the background (the preloading overlaps with whatever
        the caller does next); the first ``run`` waits for it to be ready."""
        if not wait:
            threading.Thread(target=self.start, daemon=True).start()
            return
        with contextlib.suppress(ZygoteError):
            self._zygote()

    def zygote_pid(self) -> int | None:
        """The pid of the running zygote, if there is one."""
        zygote = self._slot.zygote
        return zygote.pid if zygote is not None and not zygote.dead else None

    @property
    def fallen_back(self) -> bool:
        """Whether the zygote failed to start twice in a row, so every request runs locally."""
        return self._start_failures >= 2

    def run(self, request: ExecutionRequest) -> ExecutionOutcome:
        if self.fallen_back:
            return self.fallback.run(request)
        spent = 0.0
        failed: _Zygote | None = None
        for attempt in (1, 2):
            try:
                zygote = self._zygote(replacing=failed)
            except ZygoteError as error:
                logger.warning("warm zygote did not start (attempt %d): %s", attempt, error)
                if self.fallen_back:
                    logger.warning("the warm executor runs every script locally from now on")
                    break
                continue
            try:
                return self._run_once(zygote, request, request.timeout - spent)
            except ZygoteError as error:
                if zygote.closed:  # closed by its owner: the script was stopped, not lost
                    return ExecutionOutcome(
                        status="failed",
                        duration=spent + error.child_seconds,
                        error="stopped: the executor was closed while the script ran",
                    )
                spent += error.child_seconds
                failed = zygote
                logger.warning("warm zygote failed (attempt %d): %s", attempt, error)
        logger.warning("running %s with the local executor instead", request.script)
        return self.fallback.run(replace(request, timeout=max(request.timeout - spent, 0.1)))

    def cancel_all(self) -> None:
        """Kill every script running now, with its process group (each ``run`` then returns)."""
        with self._live_lock:
            pids = list(self._live)
        for pid in pids:
            kill_process_group(pid)
        self.fallback.cancel_all()

    def close(self) -> None:
        """Stop every zygote (their running children are killed); a later ``run`` starts a new
        one. Also done when the executor is garbage-collected and at interpreter exit."""
        _close_slot(self._slot, self._lock)

    def __enter__(self) -> WarmExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- zygotes -----------------------------------------------------------------------
    def _zygote(self, replacing: _Zygote | None = None) -> _Zygote:
        """The live zygote; started, or restarted in place of ``replacing``."""
        with self._lock:
            current = self._slot.zygote
            if current is not None and not current.dead and current is not replacing:
                return current
            if current is not None:
                current.close()
                self._slot.zygote = None
            try:
                zygote = _Zygote(self.preload, self.startup_timeout)
            except ZygoteError:
                self._start_failures += 1
                raise
            self._start_failures = 0
            self._slot.zygote = zygote
            return zygote

    # ---- one request -------------------------------------------------------------------
    def _run_once(
        self, zygote: _Zygote, request: ExecutionRequest, timeout: float
    ) -> ExecutionOutcome:
        message = {
            "script": str(request.script),
            "workdir": str(Path(request.workdir).absolute()),
            "env": thread_environment(request.n_threads),
            "limit_bytes": memory_limit_bytes(request) + zygote.preload_bytes,
        }
        request_id, replies = zygote.submit(message)
        pid: int | None = None
        try:
            pid = _await_pid(zygote, replies)
            started = time.perf_counter()
            with self._live_lock:
                self._live.add(pid)
            returncode, timed_out = _await_exit(replies, pid, timeout, started)
        finally:
            zygote.release(request_id)
            if pid is not None:
                with self._live_lock:
                    self._live.discard(pid)
        duration = time.perf_counter() - started
        return outcome_from_files(returncode, timed_out, duration, request)


def _await_pid(zygote: _Zygote, replies: queue.Queue[dict[str, Any]]) -> int:
    try:
        reply = replies.get(timeout=SPAWN_TIMEOUT)
    except queue.Empty:
        zygote.kill()
        raise ZygoteError(f"no answer from the zygote within {SPAWN_TIMEOUT:.0f} s") from None
    if "pid" not in reply:
        raise ZygoteError(reply.get("error") or f"the zygote exited: {zygote.log_tail()}")
    return int(reply["pid"])


def _await_exit(
    replies: queue.Queue[dict[str, Any]], pid: int, timeout: float, started: float
) -> tuple[int, bool]:
    """The child's return code and whether it was killed for the timeout."""
    try:
        reply = replies.get(timeout=max(timeout, 0.1))
    except queue.Empty:
        kill_process_group(pid)
        return _returncode_after_kill(replies), True
    except BaseException:  # Ctrl+C or an exit: never leave the child behind
        kill_process_group(pid)
        raise
    if "returncode" not in reply:
        kill_process_group(pid)
        seconds = time.perf_counter() - started
        raise ZygoteError("the zygote died while the script ran", child_seconds=seconds)
    return int(reply["returncode"]), False


def _returncode_after_kill(replies: queue.Queue[dict[str, Any]]) -> int:
    try:
        reply = replies.get(timeout=KILL_GRACE)
    except queue.Empty:
        return -9
    return int(reply.get("returncode", -9))


@dataclass
class _Slot:
    """Holds the executor's zygote; shared with the finalizer, which must not hold the
    executor itself."""

    zygote: _Zygote | None = None


def _close_slot(slot: _Slot, lock: threading.Lock) -> None:
    with lock:
        if slot.zygote is not None:
            slot.zygote.closed = True  # its scripts are stopped, not to be run again
            slot.zygote.close()
            slot.zygote = None


class _Zygote:
    """One zygote process, and the thread that routes its replies to waiting requests."""

    def __init__(self, preload: Sequence[str], startup_timeout: float) -> None:
        self.dead = False
        self.closed = False  # closed by the executor's owner: its children stopped on purpose
        self.preload_bytes = 0
        # the zygote's stderr; lives as long as the zygote, closed in close()
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix="ml-autopilot-zygote-")  # noqa: SIM115
        self._pending: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._ready: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.process = self._spawn(preload)
        self.pid = self.process.pid
        self._reader = threading.Thread(
            target=self._read_replies, name=f"zygote-{self.pid}", daemon=True
        )
        self._reader.start()
        self._await_ready(startup_timeout)

    def _spawn(self, preload: Sequence[str]) -> subprocess.Popen[bytes]:
        env = os.environ.copy()
        env.update(thread_environment(1))  # each child sets its own pools' sizes
        try:
            return subprocess.Popen(
                [sys.executable, "-c", BOOT, *preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            self._log.close()
            raise ZygoteError(f"cannot start the zygote: {error}") from error

    def _await_ready(self, timeout: float) -> None:
        started = time.perf_counter()
        try:
            reply = self._ready.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            self.close()
            raise ZygoteError(f"the zygote did not start within {timeout:.0f} s") from None
        if not reply.get("ready"):
            log = self.log_tail()
            self.close()
            code = self.process.returncode
            raise ZygoteError(f"the zygote exited while starting (exit code {code}): {log}")
        self.preload_bytes = int(reply.get("preload_bytes", 0))
        if reply.get("failed"):
            logger.warning("the zygote could not preload %s", ", ".join(reply["failed"]))
        logger.debug(
            "zygote %d ready in %.1f s (%d OS threads, %.0f MB preloaded)",
            self.pid,
            time.perf_counter() - started,
            reply.get("threads", 0),
            self.preload_bytes / 2**20,
        )

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("zygote %d wrote a bad reply; stopping it", self.pid)
                self.kill()
                break
            self._route(reply)
        self._mark_dead()

    def _route(self, reply: dict[str, Any]) -> None:
        if "ready" in reply:
            self._ready.put(reply)
            return
        with self._lock:
            replies = self._pending.get(reply.get("id", -1))
        if replies is not None:
            replies.put(reply)

    def _mark_dead(self) -> None:
        with self._lock:
            self.dead = True
            for replies in self._pending.values():
                replies.put({"dead": True})
        self._ready.put({"dead": True})
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=CLOSE_GRACE)

    def submit(self, message: dict[str, Any]) -> tuple[int, queue.Queue[dict[str, Any]]]:
        """Send one request; its replies arrive on the returned queue."""
        with self._lock:
            if self.dead:
                raise ZygoteError(f"the zygote is not running: {self.log_tail()}")
            request_id = next(self._ids)
            replies: queue.Queue[dict[str, Any]] = queue.Queue()
            self._pending[request_id] = replies
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(_encode({"id": request_id, **message}))
                self.process.stdin.flush()
            except (OSError, ValueError) as error:
                del self._pending[request_id]
                raise ZygoteError(f"cannot reach the zygote: {error}") from error
        return request_id, replies

    def release(self, request_id: int) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            return self._log.read().decode(errors="replace")[-LOG_TAIL_CHARS:].strip()
        return ""

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> None:
        """Close the zygote's stdin (it kills its children and exits), then make sure."""
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        self._reader.join(timeout=CLOSE_GRACE)
        with contextlib.suppress(OSError):
            self._log.close()


# ---- the zygote side ---------------------------------------------------------------------


def zygote_main() -> None:
    """Entry point of the zygote process (started by ``WarmExecutor``, never by hand)."""
    requests_fd, replies_fd = _take_protocol_fds()
    if sys.path and sys.path[0] == "":  # no `-c` working-directory entry, as for a script
        del sys.path[0]
    before = _address_space()
    failed = _preload(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    _send(
        replies_fd,
        {
            "ready": True,
            "pid": os.getpid(),
            "threads": _os_threads(),
            "preload_bytes": max(_address_space() - before, 0),
            "failed": failed,
        },
    )
    _Server(requests_fd, replies_fd).serve()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: the executor is waiting for the exit


def _take_protocol_fds() -> tuple[int, int]:
    """Move the protocol pipes off fds 0/1; stray prints go to the zygote's log instead."""
    requests_fd, replies_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests_fd, replies_fd


def _preload(modules: Sequence[str]) -> list[str]:
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # an optional library may be missing or broken
            sys.stderr.write(f"zygote: cannot import {name}: {error!r}\n")
            failed.append(name)
    return failed


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def _send(fd: int, message: dict[str, Any]) -> None:
    data = _encode(message)
    while data:
        data = data[os.write(fd, data) :]


class _Server:
    """The zygote's loop: fork a child per request, report pids and exit codes; no threads."""

    def __init__(self, requests_fd: int, replies_fd: int) -> None:
        self.requests_fd = requests_fd
        self.replies_fd = replies_fd
        self.selector = selectors.DefaultSelector()
        self.selector.register(requests_fd, selectors.EVENT_READ, None)
        self.children: dict[int, tuple[int, int | None]] = {}  # pid -> (request id, pidfd)
        self.buffer = b""

    def serve(self) -> None:
        try:
            while self._step():
                pass
        except BrokenPipeError:  # the executor is gone
            pass
        finally:
            self._stop_children()

    def _step(self) -> bool:
        polling = not hasattr(os, "pidfd_open")
        timeout = POLL_SECONDS if polling and self.children else None
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                if not self._read_requests():
                    return False
            else:
                self._reap(key.data)
        if polling:
            self._poll_children()
        return True

    def _read_requests(self) -> bool:
        chunk = os.read(self.requests_fd, 65536)
        if not chunk:
            return False
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                sys.stderr.write(f"zygote: bad request {line[:200]!r}\n")
                continue
            self._spawn(message)
        return True

    def _spawn(self, message: dict[str, Any]) -> None:
        ready_read, ready_write = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            os.close(ready_read)
            os.close(ready_write)
            _send(self.replies_fd, {"id": message["id"], "error": f"fork failed: {error}"})
            return
        if pid == 0:
            os.close(ready_read)
            _child_main(message, ready_write, self._private_fds())
        os.close(ready_write)
        while os.read(ready_read, 1):  # returns b"" once the child has its own session
            pass
        os.close(ready_read)
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, pid)
        self.children[pid] = (message["id"], pidfd)
        _send(self.replies_fd, {"id": message["id"], "pid": pid})

    def _private_fds(self) -> list[int]:
        fds = [self.requests_fd, self.replies_fd, getattr(self.selector, "fileno", lambda: -1)()]
        fds += [pidfd for _, pidfd in self.children.values() if pidfd is not None]
        return [fd for fd in fds if fd >= 0]

    def _reap(self, pid: int) -> None:
        _, status = os.waitpid(pid, 0)
        self._report(pid, status)

    def _poll_children(self) -> None:
        for pid in list(self.children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._report(pid, status)

    def _report(self, pid: int, status: int) -> None:
        request_id, pidfd = self.children.pop(pid)
        if pidfd is not None:
            self.selector.unregister(pidfd)
            os.close(pidfd)
        returncode = os.waitstatus_to_exitcode(status)
        _send(self.replies_fd, {"id": request_id, "returncode": returncode})

    def _stop_children(self) -> None:
        for pid in list(self.children):
            kill_process_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


# ---- the child side ----------------------------------------------------------------------


def _child_main(message: dict[str, Any], ready_fd: int, private_fds: list[int]) -> None:
    """Become the experiment: never returns, always leaves through ``os._exit``."""
    code = 1
    try:
        os.setsid()
        os.close(ready_fd)  # the zygote may now report the pid: killpg(pid) reaches this group
        for fd in private_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        _enter_workdir(message)
        code = _run_script(message["script"])
    except BaseException:  # a setup failure: report it wherever stderr points
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _enter_workdir(message: dict[str, Any]) -> None:
    """chdir, redirect the standard fds, set the environment, argv, path, seed and limit."""
    os.chdir(message["workdir"])
    _redirect(0, os.devnull, os.O_RDONLY)
    _redirect(1, STDOUT_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, STDERR_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.environ.update(message["env"])
    _size_thread_pools(message["env"])
    script = message["script"]
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    _reseed()
    limit = message.get("limit_bytes")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _size_thread_pools(env: dict[str, str]) -> None:
    """Give the OpenMP libraries the zygote loaded the request's thread count.

    They read their variables when the zygote imported them (with one thread), so a child that
    asks for more sets the pools through threadpoolctl (scikit-learn's own dependency)."""
    omp = int(env.get("OMP_NUM_THREADS", "1"))
    if omp == 1:  # as imported; BLAS always keeps its one thread (see ``threads``)
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=omp, user_api="openmp")


def _redirect(target: int, path: str, flags: int) -> None:
    fd = os.open(path, flags, 0o644)
    os.dup2(fd, target)
    os.close(fd)


def _reseed() -> None:
    """Fresh entropy for NumPy's global generator, as a new interpreter would have."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        with contextlib.suppress(Exception):
            numpy.random.seed()


def _run_script(script: str) -> int:
    """Run the script as ``__main__``; the exit code a fresh interpreter would give."""
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = exit_code(stop.code)
    except BaseException as error:
        _print_traceback(error, script)
        code = 1
    finish()  # what a normal interpreter exit does before its teardown
    return code


def _print_traceback(error: BaseException, script: str) -> None:
    """The traceback from the script's first frame on, without runpy's and ours."""
    tb = error.__traceback__
    path = os.path.abspath(script)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != path:
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__)
