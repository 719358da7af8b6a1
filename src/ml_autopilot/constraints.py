"""Read the user's Markdown constraints file into a ``Constraints`` record.

The file is written by a person, so the reader is lenient: headings are matched by keyword and
case-insensitively, bullets may be ``-``, ``*`` or absent, pairs may use ``:`` or ``=``, and list
values split on commas, semicolons, "and" and "or". What it recognises becomes structured
fields; everything else is kept verbatim in ``notes`` so that nothing the user wrote is lost.
A recognised key with a value that cannot be used is a ``UserError`` with a one-line message.
Nothing is ever evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ml_autopilot.catalog.metrics import METRICS
from ml_autopilot.errors import UserError
from ml_autopilot.log import get_logger
from ml_autopilot.state import Constraints

log = get_logger("constraints")

MODEL_KEYS: tuple[str, ...] = (
    "linear_regression",
    "ridge",
    "lasso",
    "elastic_net",
    "logistic_regression",
    "gaussian_nb",
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "hist_gradient_boosting",
    "decision_tree",
    "svr",
    "svc",
    "kneighbors",
    "xgboost",
    "lightgbm",
    "catboost",
)

# Aliases are looked up in "compact" form: lower case with every non-alphanumeric removed.
_MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "linearregression": ("linear_regression",),
    "linear": ("linear_regression",),
    "ols": ("linear_regression",),
    "ordinaryleastsquares": ("linear_regression",),
    "ridge": ("ridge",),
    "ridgeregression": ("ridge",),
    "lasso": ("lasso",),
    "lassoregression": ("lasso",),
    "elasticnet": ("elastic_net",),
    "enet": ("elastic_net",),
    "logisticregression": ("logistic_regression",),
    "logistic": ("logistic_regression",),
    "logreg": ("logistic_regression",),
    "gaussiannb": ("gaussian_nb",),
    "naivebayes": ("gaussian_nb",),
    "gaussiannaivebayes": ("gaussian_nb",),
    "nb": ("gaussian_nb",),
    "randomforest": ("random_forest",),
    "randomforests": ("random_forest",),
    "rf": ("random_forest",),
    "extratrees": ("extra_trees",),
    "extratree": ("extra_trees",),
    "extremelyrandomizedtrees": ("extra_trees",),
    "et": ("extra_trees",),
    "gradientboosting": ("gradient_boosting",),
    "gradientboostedtrees": ("gradient_boosting",),
    "gbm": ("gradient_boosting",),
    "gbdt": ("gradient_boosting",),
    "gbt": ("gradient_boosting",),
    "gb": ("gradient_boosting",),
    "histgradientboosting": ("hist_gradient_boosting",),
    "hgb": ("hist_gradient_boosting",),
    "hgbt": ("hist_gradient_boosting",),
    "histgbm": ("hist_gradient_boosting",),
    "decisiontree": ("decision_tree",),
    "decisiontrees": ("decision_tree",),
    "cart": ("decision_tree",),
    "svm": ("svc", "svr"),
    "svms": ("svc", "svr"),
    "supportvectormachine": ("svc", "svr"),
    "supportvectormachines": ("svc", "svr"),
    "svc": ("svc",),
    "svr": ("svr",),
    "knn": ("kneighbors",),
    "kneighbors": ("kneighbors",),
    "kneighbours": ("kneighbors",),
    "knearestneighbors": ("kneighbors",),
    "knearestneighbours": ("kneighbors",),
    "nearestneighbors": ("kneighbors",),
    "nearestneighbours": ("kneighbors",),
    "xgboost": ("xgboost",),
    "xgb": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "lgbm": ("lightgbm",),
    "lgb": ("lightgbm",),
    "catboost": ("catboost",),
    "cb": ("catboost",),
}
_MODEL_SUFFIXES = ("regressor", "classifier", "regression", "model", "models")

_METRIC_ALIASES: dict[str, str] = {
    "rmse": "rmse",
    "rootmeansquarederror": "rmse",
    "mae": "mae",
    "meanabsoluteerror": "mae",
    "r2": "r2",
    "rsquared": "r2",
    "r2score": "r2",
    "coefficientofdetermination": "r2",
    "f1": "f1",
    "f1score": "f1",
    "f1macro": "f1",
    "macrof1": "f1",
    "fscore": "f1",
    "accuracy": "accuracy",
    "acc": "accuracy",
    "rocauc": "roc_auc",
    "auc": "roc_auc",
    "auroc": "roc_auc",
    "rocaucscore": "roc_auc",
    "areaundertheroccurve": "roc_auc",
    "areaunderroccurve": "roc_auc",
    "logloss": "log_loss",
    "crossentropy": "log_loss",
    "logisticloss": "log_loss",
    "binarycrossentropy": "log_loss",
}
_METRIC_KEYS = {
    "primary",
    "primary metric",
    "metric",
    "main metric",
    "target metric",
    "optimise",
    "optimize",
    "optimise for",
    "optimize for",
    "objective",
    "score",
}

_PREFER_KEYS = {
    "preferred",
    "prefer",
    "preferred models",
    "use",
    "try",
    "favour",
    "favor",
    "include",
    "models",
    "candidates",
}
_AVOID_KEYS = {
    "avoid",
    "avoided",
    "exclude",
    "excluded",
    "don't use",
    "do not use",
    "never",
    "never use",
    "skip",
    "no",
    "avoided models",
    "excluded models",
}

_PREPROCESSING_KEYS: dict[str, str] = {
    "imputation": "imputation",
    "impute": "imputation",
    "imputer": "imputation",
    "missing": "imputation",
    "missing values": "imputation",
    "missing value": "imputation",
    "missing value imputation": "imputation",
    "scaling": "scaling",
    "scaler": "scaling",
    "scale": "scaling",
    "feature scaling": "scaling",
    "encoding": "encoding",
    "encoder": "encoding",
    "categorical encoding": "encoding",
    "categoricals": "encoding",
    "categorical": "encoding",
    "target transform": "target_transform",
    "target transformation": "target_transform",
    "target": "target_transform",
}
_PREPROCESSING_VALUES: dict[str, dict[str, str]] = {
    "imputation": {
        "drop": "drop",
        "droprows": "drop",
        "dropna": "drop",
        "mean": "mean",
        "median": "median",
        "mode": "mode",
        "mostfrequent": "mode",
        "constant": "constant",
        "fill": "constant",
        "zero": "constant",
        "iterative": "iterative",
        "mice": "iterative",
        "multivariate": "iterative",
        "none": "none",
        "no": "none",
        "off": "none",
    },
    "scaling": {
        "standard": "standard",
        "standardize": "standard",
        "standardise": "standard",
        "standardscaler": "standard",
        "zscore": "standard",
        "minmax": "minmax",
        "minmaxscaler": "minmax",
        "normalize": "minmax",
        "normalise": "minmax",
        "none": "none",
        "no": "none",
        "off": "none",
    },
    "encoding": {
        "onehot": "onehot",
        "ohe": "onehot",
        "dummy": "onehot",
        "dummies": "onehot",
        "ordinal": "ordinal",
        "label": "ordinal",
        "target": "target",
        "targetencoding": "target",
        "native": "native",
    },
    "target_transform": {
        "log": "log",
        "log1p": "log",
        "logtransform": "log",
        "none": "none",
        "no": "none",
        "off": "none",
    },
}
_ALLOWED_PREPROCESSING: dict[str, tuple[str, ...]] = {
    "imputation": ("drop", "mean", "median", "mode", "constant", "iterative", "none"),
    "scaling": ("standard", "minmax", "none"),
    "encoding": ("onehot", "ordinal", "target", "native"),
    "target_transform": ("log", "none"),
}

_TERMINATION_KEYS: dict[str, str] = {
    "plateau": "plateau",
    "patience": "plateau",
    "target": "target_score",
    "target value": "target_score",
    "target score": "target_score",
    "goal": "target_score",
    "max iterations": "max_iterations",
    "max iteration": "max_iterations",
    "maximum iterations": "max_iterations",
    "max iter": "max_iterations",
    "iterations": "max_iterations",
    "max experiments": "max_iterations",
}

_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(?:[-*+\u2022]|\d+[.)])\s+")
_PAIR = re.compile(r"^([^:=]+?)\s*[:=]\s*(.*)$")
_KEY_GAP = r"[\s_-]+"
_LIST_SPLIT = re.compile(r"\s*(?:[,;/&]|\band\b|\bor\b)\s*", re.IGNORECASE)
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d)"
)

# "metrics", "models", "models:prefer", "models:avoid", "preprocessing", "termination",
# "other" (a heading we do not understand) or "none" (before any section heading).
Section = str


@dataclass
class _Reader:
    """Accumulates what has been understood while the file is read line by line."""

    metric: str | None = None
    preferred: list[str] = field(default_factory=list)
    avoided: list[str] = field(default_factory=list)
    preprocessing: dict[str, str] = field(default_factory=dict)
    termination: dict[str, float | int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_constraints(path: Path) -> Constraints:
    """Read and parse a constraints file; a missing or non-UTF-8 file is a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Constraints file {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"Constraints file {path} is not UTF-8 text ({exc.reason}).") from exc
    except OSError as exc:
        raise UserError(f"Constraints file {path} cannot be read ({exc.strerror}).") from exc
    return parse_constraints(text)


def parse_constraints(text: str) -> Constraints:
    """Parse the Markdown text of a constraints file."""
    reader = _Reader()
    section: Section = "none"
    seen_title = False
    for raw in _strip_comments(text).splitlines():
        line = raw.strip()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            level, title = len(heading.group(1)), _clean(heading.group(2))
            if level == 1 and not seen_title:
                seen_title = True
                section = "none"
                continue
            section, rest = _section_of(title)
            if section == "other" and title:
                reader.notes.append(title)
            if rest:
                _read_line(reader, section, rest)
            continue
        _read_line(reader, section, _clean(_BULLET.sub("", line)))
    return _finish(reader)


def normalise_model(name: str) -> tuple[str, ...]:
    """Catalog keys for a model name as a person writes it; empty when unrecognised."""
    compact = _compact(name)
    if compact in _MODEL_ALIASES:
        return _MODEL_ALIASES[compact]
    for suffix in _MODEL_SUFFIXES:
        if compact.endswith(suffix) and compact[: -len(suffix)] in _MODEL_ALIASES:
            return _MODEL_ALIASES[compact[: -len(suffix)]]
    return ()


def normalise_metric(name: str) -> str | None:
    """Our metric name for a metric as a person writes it, or None when unrecognised."""
    candidates = (name, re.sub(r"\(.*?\)", "", name))
    for candidate in candidates:
        compact = _compact(candidate.replace("\u00b2", "2"))
        if compact in _METRIC_ALIASES:
            return _METRIC_ALIASES[compact]
    return None


# --- lines and sections ------------------------------------------------------------------------


def _strip_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)


def _clean(text: str) -> str:
    """Remove Markdown emphasis and code marks that do not change meaning."""
    return text.replace("**", "").replace("`", "").strip()


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _norm_key(key: str) -> str:
    key = key.lower().replace("\u2019", "'").replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", key).strip()


def _section_of(title: str) -> tuple[Section, str]:
    """The section a heading opens, and any inline value after a colon (``## Metric: rmse``)."""
    name, _, rest = title.partition(":")
    lowered = name.lower()
    if "metric" in lowered:
        return "metrics", rest.strip()
    if any(word in lowered for word in ("model", "algorithm", "prefer", "avoid", "exclud")):
        return _models_section(lowered), rest.strip()
    if "preprocess" in lowered or "pre-process" in lowered:
        return "preprocessing", rest.strip()
    if "termination" in lowered or "stopping" in lowered or lowered.strip() == "stop":
        return "termination", rest.strip()
    return "other", ""


def _models_section(lowered: str) -> Section:
    """Models, or a models list whose bare lines are all preferred / all avoided."""
    if any(word in lowered for word in ("avoid", "exclud", "don't", "do not", "never")):
        return "models:avoid"
    if "prefer" in lowered:
        return "models:prefer"
    return "models"


class _Pair(NamedTuple):
    key: str
    value: str
    explicit: bool  # written with ":" or "="; a bad value is then an error, not a note


def _split_pair(line: str, keys: Collection[str]) -> _Pair | None:
    """``key: value`` / ``key = value`` with a known key, or ``key value`` (``avoid SVC``)."""
    match = _PAIR.match(line)
    if match and _norm_key(match.group(1)) in keys:
        return _Pair(_norm_key(match.group(1)), match.group(2).strip(), explicit=True)
    for key in sorted(keys, key=len, reverse=True):
        words = (re.escape(w).replace("'", "['\u2019]?") for w in key.split(" "))
        pattern = _KEY_GAP.join(words) + r"\s+(\S.*)$"
        prefix = re.match(pattern, line, re.IGNORECASE)
        if prefix:
            return _Pair(key, prefix.group(1).strip(), explicit=False)
    return None


def _read_line(reader: _Reader, section: Section, line: str) -> None:
    if not line:
        return
    handler = _HANDLERS.get(section)
    if handler is None or not handler(reader, line):
        reader.notes.append(line)


# --- sections ----------------------------------------------------------------------------------


def _read_metric(reader: _Reader, line: str) -> bool:
    pair = _split_pair(line, _METRIC_KEYS)
    metric = normalise_metric(pair.value) if pair else None
    if pair and metric is None and pair.explicit:
        allowed = ", ".join(METRICS)
        raise UserError(f"Unknown metric '{pair.value}' in constraints; use one of: {allowed}.")
    if metric is not None:
        reader.metric = metric
        return True
    metric = normalise_metric(line)
    if metric is None or reader.metric is not None:
        return False
    reader.metric = metric
    return True


def _read_models(reader: _Reader, line: str, bare: list[str] | None = None) -> bool:
    """``preferred: a, b`` / ``avoid: c``; under a "preferred"/"avoid" heading, bare names too."""
    pair = _split_pair(line, _PREFER_KEYS | _AVOID_KEYS)
    if pair:
        names = _split_list(pair.value)
        if not pair.explicit and not any(normalise_model(n) for n in names):
            return False
        target = reader.preferred if pair.key in _PREFER_KEYS else reader.avoided
        _add_models(reader, target, names)
        return True
    names = _split_list(line)
    if bare is None or not names or not all(normalise_model(n) for n in names):
        return False
    _add_models(reader, bare, names)
    return True


def _add_models(reader: _Reader, target: list[str], names: list[str]) -> None:
    for name in names:
        keys = normalise_model(name)
        if not keys:
            reader.notes.append(f"unrecognised model: {name}")
        target.extend(k for k in keys if k not in target)


def _read_preprocessing(reader: _Reader, line: str) -> bool:
    pair = _split_pair(line, _PREPROCESSING_KEYS)
    if not pair:
        return False
    key = _PREPROCESSING_KEYS[pair.key]
    value = _preprocessing_value(key, pair.value)
    if value is None and not pair.explicit:
        return False
    if value is None:
        allowed = ", ".join(_ALLOWED_PREPROCESSING[key])
        raise UserError(
            f"Constraints: {key.replace('_', ' ')} '{pair.value}' is not supported; "
            f"use one of: {allowed}."
        )
    reader.preprocessing[key] = value
    return True


def _read_termination(reader: _Reader, line: str) -> bool:
    pair = _split_pair(line, _TERMINATION_KEYS)
    if not pair or (not pair.explicit and len(_NUMBER.findall(pair.value)) != 1):
        return False
    key = _TERMINATION_KEYS[pair.key]
    number = _one_number(key, pair.value)
    if key == "target_score":
        reader.termination[key] = number
    else:
        reader.termination[key] = _whole(key, number, minimum=1 if key == "plateau" else 0)
    return True


def _preprocessing_value(key: str, text: str) -> str | None:
    """Our value for ``text``: tried whole, without parentheses, then by its first word."""
    known = _PREPROCESSING_VALUES[key]
    without_parens = re.sub(r"\(.*?\)", "", text)
    first_word = (text.split() or [""])[0]
    for candidate in (text, without_parens, first_word):
        value = known.get(_compact(candidate))
        if value is not None:
            return value
    return None


def _split_list(value: str) -> list[str]:
    return [part.strip(" .") for part in _LIST_SPLIT.split(value) if part.strip(" .")]


def _one_number(key: str, value: str) -> float:
    found = _NUMBER.findall(value)
    if len(found) != 1:
        raise UserError(f"Constraints: {key.replace('_', ' ')} needs one number, got '{value}'.")
    return float(found[0].replace(",", ""))


def _whole(key: str, number: float, minimum: int) -> int:
    if not number.is_integer() or number < minimum:
        raise UserError(
            f"Constraints: {key.replace('_', ' ')} must be a whole number >= {minimum}, "
            f"got {number:g}."
        )
    return int(number)


def _finish(reader: _Reader) -> Constraints:
    """Resolve conflicts (avoid wins over prefer) and build the record."""
    both = [m for m in reader.preferred if m in reader.avoided]
    for model in both:
        reader.notes.append(f"{model} is both preferred and avoided; it is avoided.")
        log.warning("constraints list %s as both preferred and avoided; avoiding it", model)
    plateau = reader.termination.get("plateau")
    max_iterations = reader.termination.get("max_iterations")
    return Constraints(
        metric=reader.metric,
        preferred_models=[m for m in reader.preferred if m not in both],
        avoided_models=reader.avoided,
        preprocessing=reader.preprocessing,
        plateau=int(plateau) if plateau is not None else None,
        target_score=reader.termination.get("target_score"),
        max_iterations=int(max_iterations) if max_iterations is not None else None,
        notes=reader.notes,
    )


_HANDLERS: dict[Section, Callable[[_Reader, str], bool]] = {
    "metrics": _read_metric,
    "models": _read_models,
    "models:prefer": lambda reader, line: _read_models(reader, line, bare=reader.preferred),
    "models:avoid": lambda reader, line: _read_models(reader, line, bare=reader.avoided),
    "preprocessing": _read_preprocessing,
    "termination": _read_termination,
}
