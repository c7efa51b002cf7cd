"""The main command's demo (`ponder serve --demo`, run by `scripts/up.sh`): a Reason with
its plan and branches, its outcome reported, the scorer's counts, then a Generate."""

from __future__ import annotations

import pytest

from deployments.demo import DEMO_PROBLEM, run_demo
from deployments.runner import LocalPlatform

pytestmark = pytest.mark.integration


def test_demo_shows_the_reasoning_and_the_outcome_loop(
    platform: LocalPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    run_demo(platform)
    lines = capsys.readouterr().out.splitlines()
    text = "\n".join(lines)
    assert f"demo 1/2 Reason: {DEMO_PROBLEM}" in text
    assert "plan: " in text and "branches, each" in text
    branches = [line for line in lines if "├─" in line or "└─" in line]
    assert len(branches) >= 2
    assert sum("◀ chosen" in line for line in branches) == 1
    assert "ReportOutcome(correct=" in text and "GetScorer: active" in text
    assert "outcomes reported" in text
    generate = next(line for line in lines if "demo 2/2 Generate:" in line)
    assert generate.split("->", 1)[1].strip()  # some text came back
    # the reasoning comes before the Generate, within the first screen of output
    assert lines.index(generate) < 30
