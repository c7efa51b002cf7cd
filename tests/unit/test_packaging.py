"""What `pip install .` ships (the Kubernetes images install Ponder that way, not
editable): every package of the source tree and the files the platform reads at run time."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_of_the_tree_is_installed() -> None:
    tree = {
        ".".join(init.parent.relative_to(ROOT / "platform").parts)
        for init in (ROOT / "platform" / "ponder").rglob("__init__.py")
    } | {"deployments"}
    assert set(_setuptools()["packages"]) == tree


def test_run_time_files_are_package_data() -> None:
    patterns = _setuptools()["package-data"]["ponder"]
    package = ROOT / "platform" / "ponder"
    for needed in (
        "api/console/index.html",
        "api/console/console.js",
        "api/console/console.css",
        "reasoning/ranker_default.json",
        "reasoning/scorer_default.json",
    ):
        assert any((package / needed).match(str(package / p)) for p in patterns), needed
