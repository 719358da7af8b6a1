"""The final model as an MLflow pyfunc model, and how it is logged to a session's parent run.

``AutopilotPyfuncModel`` wraps the run's own ``model.pkl`` bundle (logged as the
artifact ``bundle``) and predicts through ``ml_autopilot.predict.predict_frame``, so MLflow
serves exactly what ``autopilot predict`` writes: a ``prediction`` column and, for
classification, one probability column per class. Loading it needs ``ml_autopilot`` importable
(the class is pickled by reference).

The signature's input schema covers the columns the model reads, typed from the raw training
table: float columns are ``double``, text columns ``string``, and anything MLflow would refuse to
convert safely (integers that become floats once a value is missing, booleans) ``Any``; the
model converts every column itself. Extra columns (the target, ID-like columns) are ignored by
MLflow's schema enforcement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow.parquet as pq
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

from ml_autopilot.model_file import load_bundle
from ml_autopilot.predict import predict_frame

MODEL_NAME = "model"
BUNDLE_ARTIFACT = "bundle"
SIGNATURE_ROWS = 20
EXAMPLE_ROWS = 5
# What the saved pipeline can need at prediction time: its import name, then the distributions
# that provide it, in order of preference.
REQUIREMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sklearn", ("scikit-learn",)),
    ("pandas", ("pandas",)),
    ("numpy", ("numpy",)),
    ("lightgbm", ("lightgbm",)),
    ("xgboost", ("xgboost-cpu", "xgboost")),
    ("catboost", ("catboost",)),
    ("mlflow", ("mlflow",)),
)
_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
# While logging: no uv.lock of the current directory inside the model, no progress bars.
_QUIET_ENV = {"MLFLOW_UV_AUTO_DETECT": "false", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


class AutopilotPyfuncModel(PythonModel):
    """A finished run's pipeline behind MLflow's pyfunc interface."""

    def load_context(self, context: PythonModelContext) -> None:
        self._bundle: dict[str, Any] = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Same frame as ``predict_frame``: label (or value) and per-class probabilities."""
        return predict_frame(self._bundle, pd.DataFrame(model_input))


def pip_requirements() -> list[str]:
    """Pinned requirements of the installed libraries a saved pipeline may need."""
    pinned = []
    for _, alternatives in REQUIREMENTS:
        for name in alternatives:
            try:
                pinned.append(f"{name}=={version(name)}")
                break
            except PackageNotFoundError:
                continue
    return pinned


def model_columns(bundle: dict[str, Any]) -> list[str]:
    """The raw columns the bundle's pipeline reads, in its order."""
    return [*bundle["numeric_columns"], *bundle["categorical_columns"]]


def read_rows(path: Path, columns: list[str], rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of some columns of a Parquet file, without reading all of it."""
    parquet = pq.ParquetFile(path)
    batch = next(parquet.iter_batches(batch_size=rows, columns=columns), None)
    if batch is None:
        return pd.read_parquet(path, columns=columns)
    return batch.to_pandas()[columns]


def column_type(series: pd.Series) -> DataType | AnyType:
    """The MLflow type a raw column is declared with (see the module docstring)."""
    if pd.api.types.is_float_dtype(series.dtype):
        return DataType.double
    if pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype):
        return DataType.string
    return AnyType()


def input_schema(raw: pd.DataFrame) -> Schema:
    """Every column the model reads is required; missing values are allowed in each."""
    return Schema([ColSpec(column_type(raw[c]), c, required=True) for c in raw.columns])


def model_signature(bundle: dict[str, Any], raw: pd.DataFrame) -> ModelSignature:
    """Input schema from the raw rows; output schema from the model's predictions on them."""
    outputs = infer_signature(predict_frame(bundle, raw)).inputs
    return ModelSignature(inputs=input_schema(raw), outputs=outputs)


@contextmanager
def fluent_run(tracking_uri: str, run_id: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``tracking_uri`` and the run ``run_id``, then restore.

    ``log_model`` only logs into the active run of the global tracking URI. Both are set here
    and put back afterwards (including the ``MLFLOW_TRACKING_URI`` variable, which
    ``set_tracking_uri`` overwrites). Leaving the run marks it FINISHED: the caller sets the
    status it wants. uv project detection is off meanwhile (the current directory's
    ``uv.lock`` never ends up inside the model), and so are artifact progress bars.
    """
    saved_uri = getattr(tracking_utils, "_tracking_uri", None)
    saved_env = {name: os.environ.get(name) for name in (_TRACKING_URI_ENV, *_QUIET_ENV)}
    os.environ.update(_QUIET_ENV)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
            yield
    finally:
        mlflow.set_tracking_uri(saved_uri)  # type: ignore[arg-type]  # None unsets it
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def prepare_model_logging() -> None:
    """Spare ``log_model`` its slowest step. MLflow checks the given requirements against the
    installed packages through a map of import names to distributions, which it builds by
    reading the metadata of every installed distribution: 0.4-1 s of CPU, under the lock the
    session's other threads need. Our requirements are pinned to the installed versions of a
    known list, so the map is set to that list (MLflow's own cache, a private name: a later
    MLflow without it builds its map as before). It also resolves, once, the run-context tags
    MLflow gives the logged model (the git commit of the installed command among them: an
    import of GitPython and a ``git`` process, 0.3 s), which MLflow keeps for the process."""
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils import requirements_utils

    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", False) is None:
        requirements_utils._MODULES_TO_PACKAGES = {  # type: ignore[attr-defined]
            module: list(packages) for module, packages in REQUIREMENTS
        }
    resolve_tags()


def log_pyfunc_model(bundle_path: Path, train_path: Path, tracking_uri: str, run_id: str) -> str:
    """Log the bundle as a pyfunc model of the run ``run_id``; returns the model's URI."""
    bundle = load_bundle(bundle_path)  # our own artifact, written by the run's final script
    raw = read_rows(train_path, model_columns(bundle), SIGNATURE_ROWS)
    signature = model_signature(bundle, raw)
    with fluent_run(tracking_uri, run_id):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=AutopilotPyfuncModel(),
            artifacts={BUNDLE_ARTIFACT: str(bundle_path)},
            signature=signature,
            input_example=raw.head(EXAMPLE_ROWS),
            pip_requirements=pip_requirements(),
        )
    return info.model_uri
