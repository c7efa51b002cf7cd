"""The core library stays free of Ray: every `ponder.*` module imports with Ray made
unimportable, and the CLI's core families work without it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ponder

PROBE = """
import importlib, pkgutil, sys

class NoRay:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ray", "deployments"):
            raise ModuleNotFoundError(f"{name} is blocked in the core", name=name)
        return None

sys.meta_path.insert(0, NoRay())
import ponder
names = [m.name for m in pkgutil.walk_packages(ponder.__path__, "ponder.")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
from ponder.cli import build_parser
parser = build_parser()
commands = sorted(parser._subparsers._group_actions[0].choices)
print(len(names), " ".join(commands))
"""


def test_every_core_module_imports_without_ray() -> None:
    names = [
        m.name
        for m in pkgutil.walk_packages(ponder.__path__, "ponder.")
        if not m.name.endswith("__main__")
    ]
    assert "ponder.training.lora" in names and "ponder.cli.rpc_commands" in names
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, commands = done.stdout.split(maxsplit=1)
    assert int(count) == len(names)
    # Without the deployments package the platform families are simply absent.
    assert commands.split() == [
        "analyze",
        "eval",
        "generate",
        "health",
        "models",
        "reason",
        "scorer",
        "setup-model",
        "token",
    ]
