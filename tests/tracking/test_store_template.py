"""The cached empty MLflow store: made by the first new store, copied into every later one,
and thrown away when MLflow refuses it. Real SQLite stores opened by real MLflow clients."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ml_autopilot.tracking import store_template
from ml_autopilot.tracking.mlflow_tracker import _new_client
from ml_autopilot.tracking.ui import store_uri

MARKER = "marker_of_the_template"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(store_template.CACHE_ENV, str(folder))
    return folder


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def experiment_ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT experiment_id FROM experiments")]


def a_run_logs(client: MlflowClient, run_dir: Path) -> None:
    experiment = client.create_experiment("e", artifact_location=(run_dir / "art").as_uri())
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "cv_score", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"cv_score": 0.5}


def test_the_first_new_store_leaves_an_empty_template_and_later_stores_are_copies_of_it(
    cache: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    a_run_logs(_new_client(store_uri(first)), first)

    template = store_template.template_path()
    assert template.parent == cache and template.is_file()
    assert experiment_ids(template) == []  # no default experiment: its location is per store
    assert "alembic_version" in tables(template)
    with sqlite3.connect(template) as connection:  # to tell a copy from a store made anew
        connection.execute(f"CREATE TABLE {MARKER} (x INTEGER)")

    client = _new_client(store_uri(second))
    assert MARKER in tables(second / "mlflow.db")
    default = client.get_experiment("0")  # made by MLflow for this store, not the first
    assert str(first) not in default.artifact_location
    a_run_logs(client, second)
    assert experiment_ids(first / "mlflow.db") == [0, 1]  # the first store is its own


def test_an_existing_store_is_opened_as_it_is(cache: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a_run_logs(_new_client(store_uri(run_dir)), run_dir)
    before = (run_dir / "mlflow.db").read_bytes()
    assert not store_template.seed(run_dir / "mlflow.db")
    assert (run_dir / "mlflow.db").read_bytes() == before


def test_a_template_of_another_schema_is_deleted_and_the_store_made_from_scratch(
    cache: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch.db"
    MlflowClient(f"sqlite:///{scratch}").search_experiments()  # a store MLflow made itself
    with sqlite3.connect(scratch) as connection:  # ... with the schema of an older MLflow
        connection.execute("UPDATE alembic_version SET version_num = '0a8213491aaa'")
    template = store_template.template_path()
    template.parent.mkdir(parents=True)
    scratch.rename(template)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    client = _new_client(store_uri(run_dir))  # not copied: made from scratch
    a_run_logs(client, run_dir)
    assert template.is_file()  # the store made from scratch is the new template
    with sqlite3.connect(template) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision != ("0a8213491aaa",)


def test_only_a_new_absolute_sqlite_file_is_seeded(cache: Path, tmp_path: Path) -> None:
    assert store_template.sqlite_file("http://127.0.0.1:5000") is None
    assert store_template.sqlite_file("sqlite:///relative.db") is None
    assert store_template.sqlite_file(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert not store_template.seed(tmp_path / "a.db")  # no template yet
    assert not (tmp_path / "a.db").exists()


def test_without_a_home_folder_the_store_is_made_as_mlflow_makes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (store_template.CACHE_ENV, "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: _no_home()))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a_run_logs(_new_client(store_uri(run_dir)), run_dir)


def _no_home() -> Path:
    raise RuntimeError("Could not determine home directory.")
