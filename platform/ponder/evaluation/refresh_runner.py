"""A model refresh run from the learning loop: `ponder train refresh --local` on the
caller's scope, as its own process, against the platform's Redis (its URL in the
environment, as an operator's job gets it). `ponder eval --learn-stream --refresh-at` and
bench/learning.py both use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ponder.evaluation.learning_loop import Refresh

REPORT_START = '{\n  "version"'  # the job prints its report last, as indented JSON


def tenant_of_scope(scope: str) -> str:
    """The tenant a scorer scope names ('tenant-acme' -> 'acme'; the shared scope -> '')."""
    return scope.removeprefix("tenant-") if scope.startswith("tenant-") else ""


def refresh_command(serve_config: Path, tenant: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ponder.cli",
        "train",
        "refresh",
        "--local",
        "--serve-config",
        str(serve_config),
        "--tenant",
        tenant,
    ]


def subprocess_refresh(
    serve_config: Path,
    redis_url: str,
    scope: Callable[[], str],
    progress: Callable[[str], None] = print,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> Refresh:
    """A Refresh for the learning loop: each call refreshes the scope `scope()` names now;
    its report, None when the job kept nothing (too few verified paths), or a failed row
    when the job exited with an error (the loop goes on)."""

    def refresh(checkpoint: int) -> dict[str, Any] | None:
        current = scope()
        progress(f"checkpoint {checkpoint}: ponder train refresh on scope {current}")
        done = run(
            refresh_command(serve_config, tenant_of_scope(current)),
            stdout=subprocess.PIPE,
            text=True,
            timeout=3600,
            check=False,
            env={**os.environ, "PONDER_REDIS_URL": redis_url},
        )
        if done.returncode != 0:
            progress(f"ponder train refresh exited with {done.returncode}")
            return {"version": "", "status": f"failed (exit {done.returncode})", "gate": None}
        if REPORT_START not in done.stdout:
            return None
        report: dict[str, Any] = json.loads(done.stdout[done.stdout.rindex(REPORT_START) :])
        return report

    return refresh
