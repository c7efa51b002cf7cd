"""The `ponder` command: one module per command family, each registering its own
subcommands.

Core families (no Ray): `setup` (model conversion), `client` (calls to a running
platform), `scorer` (scorer versions in Redis), `token` (API tokens). The families that
start Ray — `serve` and the `train` jobs — live in `deployments.commands` and are hooked
in here when that package is installed, so the core never imports Ray.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from ponder.cli import client, scorer, setup, token
from ponder.cli.common import CommandFailed

CORE_FAMILIES: tuple[ModuleType, ...] = (setup, client, scorer, token)
PLATFORM_FAMILIES = "deployments.commands"


def _platform_families() -> ModuleType | None:
    """The Ray-side command families, if the deployments package is importable."""
    try:
        return importlib.import_module(PLATFORM_FAMILIES)
    except ModuleNotFoundError as error:
        if error.name and PLATFORM_FAMILIES.startswith(error.name):
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    families = list(CORE_FAMILIES)
    platform = _platform_families()
    if platform is not None:
        families.append(platform)
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
