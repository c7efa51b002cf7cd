"""The `ponder` command: one module per command family, each registering its own
subcommands.

Core families (no Ray): `setup` (model conversion), `rpc_commands` (calls to a running
platform), `scorer` (scorer versions in Redis), `token` (API tokens). The families that
start Ray — `serve` (`deployments.serve_command`) and the `train` jobs
(`deployments.train_commands`) — are hooked in here when that package is installed, so the
core never imports Ray.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from ponder.cli import rpc_commands, scorer, setup, token
from ponder.cli.common import CommandFailed

CORE_FAMILIES: tuple[ModuleType, ...] = (setup, rpc_commands, scorer, token)
PLATFORM_FAMILIES = ("deployments.serve_command", "deployments.train_commands")


def _platform_families() -> list[ModuleType]:
    """The Ray-side command families, if the deployments package is importable."""
    families = []
    for name in PLATFORM_FAMILIES:
        try:
            families.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name and name.startswith(error.name):
                return []
            raise
    return families


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    families = [*CORE_FAMILIES, *_platform_families()]
    for family in families:
        family.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CommandFailed as failed:
        return failed.code


if __name__ == "__main__":
    sys.exit(main())
