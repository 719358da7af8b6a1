"""Files written so that a reader sees the old content or the new one, never half of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """``write`` fills a temporary file beside ``target`` (created private, mode 0600), which
    one rename then puts in place; on any failure the temporary file is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(name))
        os.replace(name, target)
    finally:
        Path(name).unlink(missing_ok=True)


def write_text_atomically(target: Path, text: str) -> None:
    """``write_atomically`` for a UTF-8 text."""
    write_atomically(target, lambda temporary: temporary.write_text(text, encoding="utf-8"))
