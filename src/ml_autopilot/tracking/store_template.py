"""An empty MLflow SQLite store, made once per MLflow version and copied for each new store.

Creating a SQLite store runs every one of MLflow's schema migrations: about 2 s of CPU here,
which a run spends beside its first experiments, under the same interpreter lock as the loop
that launches them. A copy of an empty store of the same MLflow version opens in 0.1 s: MLflow
checks its schema revision and creates the default experiment (whose artifact location depends
on the store), and nothing else differs between two fresh stores.

The first store a version of MLflow creates is copied into the cache (``ML_AUTOPILOT_CACHE_DIR``,
else ``$XDG_CACHE_HOME/ml-autopilot``, else ``~/.cache/ml-autopilot``) without its default
experiment. Both copies go through a temporary file and an atomic rename, so a concurrent run
never sees half a file. A template is copied only when its schema revision is the one this
MLflow migrates to (else it is deleted, and the next new store replaces it). Every failure here
only costs the time saved: the store is then created as MLflow does.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from ml_autopilot.atomic_file import write_atomically
from ml_autopilot.log import get_logger

logger = get_logger("tracking")

CACHE_ENV = "ML_AUTOPILOT_CACHE_DIR"
SQLITE_PREFIX = "sqlite:///"
DEFAULT_EXPERIMENT_ID = 0


def cache_dir() -> Path:
    """Where ML Autopilot keeps what it can rebuild: the environment's choice, else XDG's."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ml-autopilot"


def template_path() -> Path:
    """The empty store of the installed MLflow version."""
    import mlflow

    return cache_dir() / f"mlflow-{mlflow.__version__}-empty-store.db"


def sqlite_file(uri: str) -> Path | None:
    """The database file of an ``sqlite:///ABSOLUTE/PATH`` URI; None for any other URI."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = Path(uri[len(SQLITE_PREFIX) :])
    return path if path.is_absolute() and "?" not in uri else None


def seed(db: Path) -> bool:
    """Copy the template to ``db`` when there is no ``db`` and the template has the schema
    this MLflow expects (one that has not is deleted); True if copied."""
    try:
        template = template_path()
        if db.exists() or not template.is_file() or not db.parent.is_dir():
            return False
        if _revision(template) != head_revision():
            logger.debug("MLflow store template of another schema: deleted")
            template.unlink(missing_ok=True)
            return False
        write_atomically(db, lambda temporary: shutil.copyfile(template, temporary))
    except Exception as exc:  # no home folder, a broken file, a changed MLflow: no shortcut
        logger.debug("MLflow store template not copied: %s", exc)
        return False
    return True


def head_revision() -> str | None:
    """The schema revision MLflow migrates a new store to (None if it cannot say)."""
    from mlflow.store.db import utils

    latest = getattr(utils, "_get_latest_schema_revision", None)  # private: may go away
    return None if latest is None else str(latest())


def save(db: Path) -> None:
    """Keep a copy of the store just created at ``db``, less its default experiment, as the
    template (unless there is one already). Call it before anything is logged to ``db``."""
    try:
        template = template_path()
        if template.exists():
            return
        template.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(template, lambda temporary: _empty_copy(db, temporary))
    except Exception as exc:  # an unwritable cache only costs the next run the time
        logger.debug("MLflow store template not saved: %s", exc)


def _revision(db: Path) -> str | None:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _empty_copy(source: Path, target: Path) -> None:
    """A consistent copy of ``source`` (SQLite's backup API) without the default experiment."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("DELETE FROM experiments WHERE experiment_id = ?", (DEFAULT_EXPERIMENT_ID,))
        dst.commit()
    finally:
        src.close()
        dst.close()
