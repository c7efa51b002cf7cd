"""What every command family shares: the progress printer, the gRPC error printer and
the options of commands that call a running platform."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from ponder import env

DEFAULT_SERVE_CONFIG = env.REPO_ROOT / "config" / "serve-local.yaml"


class CommandFailed(Exception):
    """A command failed in a way already explained to the user; carries the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def say(message: str) -> None:
    print(f"[ponder] {message}", flush=True)


@contextlib.contextmanager
def rpc_errors() -> Iterator[None]:
    """Print a failed RPC as `error: CODE: details` and exit 1, never a traceback."""
    import grpc

    try:
        yield
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        raise CommandFailed(1) from None


def target_options() -> argparse.ArgumentParser:
    """--target and --timeout, for commands that call the platform's gRPC API."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--target", default="127.0.0.1:9000", help="gRPC address")
    parent.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds")
    parent.add_argument(
        "--token",
        default=None,
        help="API bearer token (default: PONDER_API_TOKEN, else the token `ponder serve` "
        "created in .state/auth/client-token)",
    )
    return parent
