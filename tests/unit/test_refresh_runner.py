"""The learning loop's model refresh as a `ponder train refresh --local` process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ponder.evaluation.refresh_runner import subprocess_refresh, tenant_of_scope
from tests.unit.data_marks import needs_data

REPORT = {"version": "refresh-1234abcd", "status": "promoted", "gate": {"wins": 5}}


def _runner(returncode: int, stdout: str, calls: list[dict[str, Any]]) -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"command": command, **kwargs})
        return subprocess.CompletedProcess(command, returncode, stdout=stdout)

    return run


def test_the_refresh_runs_on_the_callers_scope_against_the_platforms_redis() -> None:
    calls: list[dict[str, Any]] = []
    stdout = "training...\n" + json.dumps(REPORT, indent=2) + "\n"
    scopes = iter(["tenant-acme", "shared"])
    refresh = subprocess_refresh(
        Path("/cfg/serve.yaml"),
        "redis://127.0.0.1:6390/0",
        lambda: next(scopes),
        progress=lambda _: None,
        run=_runner(0, stdout, calls),
    )
    assert refresh(500) == REPORT
    assert refresh(1000) == REPORT  # the scope is asked again at each checkpoint
    first, second = calls
    assert first["command"][-6:] == [
        "refresh",
        "--local",
        "--serve-config",
        "/cfg/serve.yaml",
        "--tenant",
        "acme",
    ]
    assert second["command"][-1] == ""  # the shared scope: no tenant
    assert first["env"]["PONDER_REDIS_URL"] == "redis://127.0.0.1:6390/0"


def _shared_scope_refresh(returncode: int, stdout: str) -> Any:
    return subprocess_refresh(
        Path("c.yaml"),
        "redis://x",
        lambda: "shared",
        lambda _: None,
        _runner(returncode, stdout, []),
    )


def test_a_refresh_that_kept_nothing_or_failed_does_not_stop_the_loop() -> None:
    kept_nothing = _shared_scope_refresh(0, "not enough verified paths (64 needed): no refresh\n")
    assert kept_nothing(500) is None
    failed = _shared_scope_refresh(3, "")
    assert failed(500) == {"version": "", "status": "failed (exit 3)", "gate": None}


def test_scopes_name_their_tenant() -> None:
    assert tenant_of_scope("tenant-acme") == "acme"
    assert tenant_of_scope("shared") == ""


@needs_data
def test_eval_refuses_a_refresh_at_no_checkpoint(capsys: Any) -> None:
    from ponder.cli import main

    # refused before any connection is made: 700 is not among 250, 500, 1000
    code = main(["eval", "--learn-stream", "1000", "--refresh-at", "500,700"])
    assert code == 2
    assert "--refresh-at [700] must be among the checkpoints [250, 500, 1000]" in (
        capsys.readouterr().err
    )
