"""How a person reaches a running session: `autopilot steer` and `autopilot stop`.

Both write small files under ``<run_dir>/control/`` that the session reads at its next design
step: ``steer.jsonl`` (one JSON line per instruction, appended) and ``stop`` (its presence asks
the session to finish gracefully). The session is the only writer of the state; these files are
the only thing other processes write into a run folder.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ml_autopilot.errors import UserError
from ml_autopilot.state import STATE_FILE, utc_now

CONTROL_DIR = "control"
STEER_FILE = "steer.jsonl"
STOP_FILE = "stop"
MAX_STEER_CHARS = 2000


def _control_dir(run_dir: Path) -> Path:
    if not (Path(run_dir) / STATE_FILE).is_file():
        raise UserError(f"No run found in {run_dir}: {STATE_FILE} is missing.")
    folder = Path(run_dir) / CONTROL_DIR
    folder.mkdir(exist_ok=True)
    return folder


def send_steer(run_dir: Path, text: str) -> int:
    """Append an instruction for the session; returns how many have been sent so far."""
    text = text.strip()
    if not text:
        raise UserError('Say what the session should do, e.g. "avoid svc".')
    if len(text) > MAX_STEER_CHARS:
        raise UserError(f"Keep the instruction under {MAX_STEER_CHARS} characters.")
    path = _control_dir(run_dir) / STEER_FILE
    line = json.dumps({"text": text, "sent_at": utc_now()}) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return len(read_steering(run_dir))


def read_steering(run_dir: Path, since: int = 0) -> list[str]:
    """Instructions sent so far, from the ``since``-th on (complete lines only)."""
    path = Path(run_dir) / CONTROL_DIR / STEER_FILE
    if not path.is_file():
        return []
    texts: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            texts.append(str(json.loads(line)["text"])[:MAX_STEER_CHARS])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a torn or foreign line is ignored, never executed
    return texts[since:]


def request_stop(run_dir: Path) -> Path:
    """Ask the session to stop launching experiments and finish (refit, report)."""
    path = _control_dir(run_dir) / STOP_FILE
    path.write_text(utc_now() + "\n", encoding="utf-8")
    return path


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / CONTROL_DIR / STOP_FILE).is_file()


def clear_stop(run_dir: Path) -> None:
    """Forget an honoured stop request, so a later resume is not stopped by it again."""
    (Path(run_dir) / CONTROL_DIR / STOP_FILE).unlink(missing_ok=True)
