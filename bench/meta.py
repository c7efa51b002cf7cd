"""What a result was measured on: the commit, the time, the machine and the config."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from ponder.cpu_features import cpu_model, matmul_flags

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    return done.stdout.strip()


def run_meta(config: Path | None = None) -> dict[str, Any]:
    """Commit (with `+dirty` when the code differs from it), UTC time, machine, config.

    Results and the document they render into are not code: a benchmark that writes one
    result before stamping the next must not mark that one dirty."""
    dirty = bool(
        _git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":(exclude)bench/results",
            ":(exclude)BENCHMARKS.md",
        )
    )
    meta: dict[str, Any] = {
        "commit": _git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "system": platform.platform(),
            "python": platform.python_version(),
            "cpu": cpu_model(),
            "cpu_matmul_flags": list(matmul_flags()),
        },
    }
    if config is not None:
        meta["config"] = {
            "path": str(config.resolve().relative_to(ROOT))
            if config.is_relative_to(ROOT)
            else str(config),
            "sha256": hashlib.sha256(config.read_bytes()).hexdigest()[:16],
        }
    return meta
