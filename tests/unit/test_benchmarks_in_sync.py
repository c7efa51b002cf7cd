"""The generated tables of BENCHMARKS.md and RELIABILITY.md are what bench/report.py renders
from the committed results: a figure cannot be edited by hand or left behind when its JSON
changes."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import pytest

from bench.plots import PLOTS, PLOTS_DIR, plot_series
from bench.report import BENCHMARK_RENDERERS, BLOCK, DOCUMENTS, RENDERERS, regenerate

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_generated_blocks_match_the_committed_results(name: str) -> None:
    document = (ROOT / name).read_text()
    blocks = [m["path"] for m in BLOCK.finditer(document)]
    assert blocks, f"{name} has no generated block"
    assert regenerate(document) == document, (
        f"{name} differs from its results: run `python -m bench --render`"
    )


def test_every_renderer_has_a_block_and_its_source_is_committed() -> None:
    blocks = {m["path"] for name in DOCUMENTS for m in BLOCK.finditer((ROOT / name).read_text())}
    assert set(BENCHMARK_RENDERERS) <= blocks
    for name in BENCHMARK_RENDERERS:
        report = json.loads((ROOT / name).read_text())
        assert report["meta"]["commit"], f"{name} has no commit stamp"
    # A trained artifact's table is rendered from the metrics its training command wrote.
    for pattern in RENDERERS:
        sources = [path for path in blocks if fnmatch.fnmatch(path, pattern)]
        assert sources, f"no block renders {pattern}"
        assert all((ROOT / path).is_file() for path in sources)


def test_a_changed_figure_shows_in_the_table(tmp_path: Path) -> None:
    """Every block reads its source: change a figure in a copy and the table changes."""
    document = (ROOT / "BENCHMARKS.md").read_text()
    for path in {m["path"] for m in BLOCK.finditer(document)}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    results = tmp_path / "bench" / "results"
    assert regenerate(document, root=tmp_path) == document

    report = json.loads((RESULTS / "decoder.json").read_text())
    report["ratios"]["proxy"]["P1_platform_over_raw_c32"] = 12.34
    (results / "decoder.json").write_text(json.dumps(report))
    student = "platform/ponder/students/student-65ef1f38/metrics.json"
    metrics = json.loads((ROOT / student).read_text())
    metrics["dev_split"]["greedy_single_branch_per_strategy"]["student"]["pot"]["k"] = 271
    (tmp_path / student).write_text(json.dumps(metrics))
    assert "12.34" not in document and "271/278" not in document
    changed = regenerate(document, root=tmp_path)
    assert "12.34" in changed and "271/278" in changed

    unknown = "<!-- generated from bench/results/nope.json -->\nx\n<!-- end of generated block -->"
    with pytest.raises(KeyError):
        regenerate(unknown, root=tmp_path)


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plots_are_drawn_from_the_committed_results(name: str) -> None:
    """A committed plot's series are what its source holds now, its PNG is there, and a
    document shows it beside its table."""
    committed = json.loads((PLOTS_DIR / f"{name}.json").read_text())
    assert committed == plot_series(name), f"stale plot {name}: run `python -m bench --render`"
    png = PLOTS_DIR / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = [d for d in DOCUMENTS if f"(bench/plots/{name}.png)" in (ROOT / d).read_text()]
    assert shown, f"no document shows bench/plots/{name}.png"
    source = PLOTS[name].source
    assert any(f"<!-- generated from {source} -->" in (ROOT / d).read_text() for d in shown)


def test_a_changed_figure_shows_in_the_plot_series(tmp_path: Path) -> None:
    source = PLOTS["reasoning-accuracy-vs-compute"].source
    report = json.loads((ROOT / source).read_text())
    report["sets"]["robust"]["greedy_pot"]["accuracy"] = 0.1234
    (tmp_path / source).parent.mkdir(parents=True)
    (tmp_path / source).write_text(json.dumps(report))
    series = plot_series("reasoning-accuracy-vs-compute", root=tmp_path)
    assert series["robust"]["greedy_pot"] == 0.1234
    assert series != plot_series("reasoning-accuracy-vs-compute")
