"""The generated tables of BENCHMARKS.md and RELIABILITY.md are what bench/report.py renders
from the committed results: a figure cannot be edited by hand or left behind when its JSON
changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.report import BLOCK, DOCUMENTS, RENDERERS, regenerate

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_generated_blocks_match_the_committed_results(name: str) -> None:
    document = (ROOT / name).read_text()
    blocks = [m["name"] for m in BLOCK.finditer(document)]
    assert blocks, f"{name} has no generated block"
    assert regenerate(document, RESULTS) == document, (
        f"{name} differs from its results: run `python -m bench --render`"
    )


def test_every_renderer_has_a_block_and_its_result_is_committed() -> None:
    blocks = {m["name"] for name in DOCUMENTS for m in BLOCK.finditer((ROOT / name).read_text())}
    assert set(RENDERERS) <= blocks
    for name in RENDERERS:
        report = json.loads((RESULTS / name).read_text())
        assert report["meta"]["commit"], f"{name} has no commit stamp"


def test_a_changed_figure_shows_in_the_table(tmp_path: Path) -> None:
    for result in RESULTS.glob("*.json"):
        shutil.copy(result, tmp_path / result.name)
    report = json.loads((RESULTS / "decoder.json").read_text())
    report["ratios"]["proxy"]["P1_platform_over_raw_c32"] = 12.34
    (tmp_path / "decoder.json").write_text(json.dumps(report))
    document = (ROOT / "BENCHMARKS.md").read_text()
    assert "12.34" not in document
    assert "12.34" in regenerate(document, tmp_path)
    unknown = "<!-- generated from bench/results/nope.json -->\nx\n<!-- end of generated block -->"
    with pytest.raises(KeyError):
        regenerate(unknown, tmp_path)
