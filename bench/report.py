"""Render bench/RESULTS.md from the raw results in bench/results/<budget>.jsonl.

Each JSON line is one system on one dataset at one budget. Lines are only ever appended; the
report uses the latest line per (dataset, system), so re-running a dataset replaces its row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from scoring import head_to_head

LEGEND = """\
Columns: **score** is the test score of BENCHMARK.md (binary `roc_auc`, higher is better;
multiclass `log_loss`, regression `rmse`, lower is better; R^2 in brackets); **s** is the wall
time of the system's commands together; **ok** says whether that is within 1.1 x budget + 15 s;
**result** is the autopilot against FLAML (W win, T tie: within 0.001 AUC or 0.1% relative
log loss / RMSE, L loss; a failed system loses). **exp.** is the number of the autopilot's
experiments (state.json); **non-model** is the autopilot's wall time (both commands) not
covered by any model fit or prediction, as a share of the budget: every generated script reports
the wall-clock span of each fold's fit + predict and of the final refits, the permutation
importance reports each prediction of the final model, and the union of those spans is the model
time (runs before these spans were recorded show `-`; rows from before the importance reported
its predictions count them as non-model time, as they do the `predict` command's own)."""


def load_results(results_dir: Path) -> dict[str, list[dict]]:
    """All records per budget label ('60', '300', ...), in file order."""
    budgets: dict[str, list[dict]] = {}
    for path in sorted(results_dir.glob("*.jsonl"), key=lambda p: _budget_key(p.stem)):
        lines = path.read_text().splitlines()
        budgets[path.stem] = [json.loads(line) for line in lines if line.strip()]
    return budgets


def _budget_key(label: str) -> tuple[float, str]:
    try:
        return float(label), label
    except ValueError:
        return float("inf"), label


NOTES = Path(__file__).with_name("NOTES.md")


def latest(records: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """The latest record per (dataset, system)."""
    return {(r["dataset"], r["system"]): r for r in records}


def render(budgets: dict[str, list[dict]], dataset_order: list[str]) -> str:
    """The whole RESULTS.md."""
    parts = ["# Benchmark results: autopilot vs FLAML", ""]
    if not budgets:
        parts += ["No results yet. See bench/README.md for how to run the benchmark.", ""]
        return "\n".join(parts)
    parts += [
        "Protocol: ../shared/BENCHMARK.md. Produced by bench/run_benchmark.py; re-render with",
        "`.venv/bin/python bench/run_benchmark.py --render-only`.",
        "",
        LEGEND,
        "",
    ]
    for label, records in budgets.items():
        parts += render_budget(label, records, dataset_order)
    if NOTES.is_file():  # what the tables cannot say (hand-written, kept across re-renders)
        parts += ["## Notes", "", NOTES.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(parts)


def render_budget(label: str, records: list[dict], dataset_order: list[str]) -> list[str]:
    """Table, totals and provenance of one budget."""
    rows = latest(records)
    datasets = _ordered({d for d, _ in rows}, dataset_order)
    lines = [f"## Budget {label} s", "", *table(rows, datasets), ""]
    lines += [totals(rows, datasets), ""]
    lines += failures(rows, datasets)
    lines += provenance([rows[k] for k in sorted(rows)])
    return lines


def _ordered(names: set[str], order: list[str]) -> list[str]:
    known = [n for n in order if n in names]
    return known + sorted(names - set(known))


HEADER = (
    "| dataset | metric | autopilot score | s | ok | FLAML score | s | ok | result "
    "| exp. | non-model |"
)


def table(rows: dict[tuple[str, str], dict], datasets: list[str]) -> list[str]:
    """One markdown row per dataset."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for name in datasets:
        ours, theirs = rows.get((name, "autopilot")), rows.get((name, "flaml"))
        metric = (ours or theirs or {}).get("metric", "")
        stats = (ours or {}).get("autopilot") or {}
        cells = [name, metric, *_system_cells(ours), *_system_cells(theirs)]
        cells += [outcome(ours, theirs), _text(stats.get("n_experiments"))]
        scored = ours is not None and ours.get("score") is not None
        cells.append(_share(stats.get("non_model_share_of_budget") if scored else None))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _system_cells(record: dict | None) -> list[str]:
    if record is None:
        return ["not run", "", ""]
    time = f"{record['wall_time']:.0f}"
    ok = "yes" if record.get("within_budget") else "**no**"
    return [_score(record), time, ok]


def _score(record: dict) -> str:
    if record.get("score") is None:
        return "**failed**"
    if record["metric"] == "rmse":
        return f"{record['score']:.5g} ({record.get('r2', float('nan')):.4f})"
    return f"{record['score']:.4f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def outcome(ours: dict | None, theirs: dict | None) -> str:
    """W, T or L for the autopilot; blank while a system has not run yet."""
    if ours is None or theirs is None:
        return ""
    return head_to_head(ours["metric"], ours.get("score"), theirs.get("score"))


def totals(rows: dict[tuple[str, str], dict], datasets: list[str]) -> str:
    """Wins, ties and losses against FLAML, and how often each stayed within budget."""
    results = [outcome(rows.get((d, "autopilot")), rows.get((d, "flaml"))) for d in datasets]
    counts = {key: results.count(key) for key in "WTL"}
    within = {
        system: sum(bool(rows.get((d, system), {}).get("within_budget")) for d in datasets)
        for system in ("autopilot", "flaml")
    }
    done = sum(counts.values())
    return (
        f"**Totals, autopilot vs FLAML: {counts['W']} wins, {counts['T']} ties, "
        f"{counts['L']} losses** over {done} dataset(s). Within budget: autopilot "
        f"{within['autopilot']}/{len(datasets)}, FLAML {within['flaml']}/{len(datasets)}."
    )


def failures(rows: dict[tuple[str, str], dict], datasets: list[str]) -> list[str]:
    """The reasons of failed runs, if any."""
    lines = [
        failure_line(record)
        for name in datasets
        for system in ("autopilot", "flaml")
        if (record := rows.get((name, system))) and record.get("error")
    ]
    return ["Failures:", "", *lines, ""] if lines else []


def failure_line(record: dict) -> str:
    """Dataset, system, error, the autopilot's own stop reason and where the output is."""
    reason = ((record.get("autopilot") or {}).get("termination_reason")) or ""
    reason = f" (autopilot: {reason})" if reason else ""
    where = f"; output in `{record['log']}`" if record.get("log") else ""
    return f"- {record['dataset']}, {record['system']}: {record['error']}{reason}{where}"


def provenance(records: list[dict]) -> list[str]:
    """Commands, machine, load and versions behind the table."""
    runs: dict[tuple[str, str], set[str]] = {}
    for record in records:
        harness = record.get("harness") or {}
        key = (harness.get("started_at", ""), harness.get("command", ""))
        runs.setdefault(key, set()).add(record["system"])
    lines = ["Produced by (start time, command, working directory is the repository root):", ""]
    lines += [
        f"- {started}: `{command}` ({' and '.join(sorted(runs[started, command]))} rows)"
        for started, command in sorted(runs)
    ]
    lines += ["", *machine_lines(records), "", *version_lines(records), ""]
    return lines


def machine_lines(records: list[dict]) -> list[str]:
    """Machine description, and the load average and speed probe seen before each system."""
    machines = {
        json.dumps((r.get("harness") or {}).get("machine"), sort_keys=True) for r in records
    }
    loads = [r["load_before"][0] for r in records if r.get("load_before")]
    lines = []
    for text in sorted(machines):
        machine = json.loads(text) or {}
        lines.append(
            f"Machine: {machine.get('nproc')} cores usable (nproc), "
            f"{machine.get('ram_gib')} GiB RAM, {machine.get('cpu')}, {machine.get('platform')}."
        )
    if loads:
        lines.append(
            f"1-minute load average just before each system started: {min(loads):.1f} to "
            f"{max(loads):.1f} (above the core count, timings are not meaningful)."
        )
    probes = [r["speed_probe_seconds"] for r in records if r.get("speed_probe_seconds")]
    if probes:
        lines.append(
            f"Speed probe (a fixed pure-Python loop, timed just before each system started): "
            f"{min(probes):.2f} to {max(probes):.2f} s; the machine is shared, and overhead "
            "seconds grow with it (rows without a probe predate it)."
        )
    return lines


def version_lines(records: list[dict]) -> list[str]:
    """Autopilot commit and a package table: autopilot environment vs FLAML environment."""
    commits = {
        json.dumps((r.get("harness") or {}).get("autopilot_git"), sort_keys=True)
        for r in records
        if r["system"] == "autopilot"
    }
    lines = []
    for text in sorted(commits):
        git = json.loads(text) or {}
        state = " with local changes to src/ or pins (dirty)" if git.get("dirty") else ""
        lines.append(f"Autopilot git commit of its rows: `{git.get('commit')}`{state}.")
    envs = {
        system: _versions([r for r in records if r["system"] == system])
        for system in ("autopilot", "flaml")
    }
    names = ["python", "ml_autopilot", "flaml", "lightgbm", "xgboost", "catboost", "sklearn"]
    names += ["pandas", "numpy"]
    lines += ["", "| package | autopilot env (.venv) | FLAML env (bench/.venv) |", "|---|---|---|"]
    for name in names:
        cells = [envs[s].get(name) or "-" for s in ("autopilot", "flaml")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def _versions(records: list[dict]) -> dict[str, str]:
    """Versions of one environment; several distinct values are joined with ' / '."""
    merged: dict[str, list[str]] = {}
    for record in records:
        for name, value in (record.get("versions") or {}).items():
            values = merged.setdefault(name, [])
            if value and str(value) not in values:
                values.append(str(value))
    return {name: " / ".join(values) for name, values in merged.items()}
