"""Make the benchmark split of one shared dataset, exactly as ../shared/BENCHMARK.md says.

Writes train.csv, test_X.csv and test_y.csv into OUT_DIR. Usage:
    python bench/split.py DATASET OUT_DIR [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split


def make_split(name: str, out_dir: Path, shared: Path) -> dict:
    manifest = json.loads((shared / "datasets" / "MANIFEST.json").read_text())["datasets"][name]
    frame = pd.read_csv(shared / "datasets" / manifest["file"], keep_default_na=True)
    target = manifest["target"]
    stratify = frame[target] if manifest["task"] in ("binary", "multiclass") else None
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=stratify)
    out_dir.mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "train.csv", index=False)
    test.drop(columns=[target]).to_csv(out_dir / "test_X.csv", index=False)
    test[[target]].to_csv(out_dir / "test_y.csv", index=False)
    return manifest


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[1] / ".." / "shared")
    args = parser.parse_args()
    make_split(args.dataset, args.out_dir, args.shared)
