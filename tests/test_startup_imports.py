"""A run reaches its first experiment without importing scikit-learn or SciPy in the session.

The warm executor's zygote imports them for the experiments, at the same time, on the other
core; when the session imported them too (the holdout split, the scores, validating the
baseline's parameters against its estimator's signature), the first model started about 1 s
later. This runs the steps before the baseline's launch in a fresh interpreter and asks which
heavy modules they loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STEPS = """
import json, sys
from pathlib import Path
from ml_autopilot.config import RunConfig
from ml_autopilot.session import baseline_spec
from ml_autopilot.data.loading import prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.catalog.validation import validate_spec
from ml_autopilot.codegen.render import RenderRequest, render_script

data, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
config = RunConfig(data_path=str(data), target="species", output_dir=str(run_dir))
info, train = prepare_data(config, run_dir)
profile = profile_data(train, info.target, info.task)
spec = validate_spec(baseline_spec(info.task, profile, len(info.classes)), info.task, profile).spec
render_script(RenderRequest(0, spec, info, profile, 5, 0, 1, run_dir / "x"))
print(json.dumps(sorted(m for m in ("sklearn", "scipy.stats", "lightgbm") if m in sys.modules)))
"""


def test_the_steps_before_the_baseline_import_no_scikit_learn(
    classification_csv: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STEPS, str(classification_csv), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
