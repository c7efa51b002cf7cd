"""What every command family shares: the progress printer, the gRPC error printer and
the options of commands that call a running platform."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ponder import env

if TYPE_CHECKING:
    from ponder.api.client import PonderClient

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
        "--token-file",
        dest="token_file",
        default=None,
        help="file holding the API bearer token, '-' for standard input (default: "
        "PONDER_API_TOKEN, else the token `ponder serve` created in "
        ".state/auth/client-token). Never on the command line: `ps` shows it to every user",
    )
    parent.add_argument("--token", dest="token_on_command_line", help=argparse.SUPPRESS)
    parent.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TLS to the target (default: on for every target but a loopback one)",
    )
    parent.add_argument(
        "--ca-file", dest="ca_file", help="PEM of the CA that signed the gateway's certificate"
    )
    return parent


def connect(args: argparse.Namespace) -> PonderClient:
    """A client of the target the command line names (--target, --token-file, --tls,
    --ca-file)."""
    from ponder.api.client import PonderClient

    roots = Path(args.ca_file).read_bytes() if getattr(args, "ca_file", None) else None
    return PonderClient(
        args.target, token=token_of(args), tls=getattr(args, "tls", None), root_certificates=roots
    )


def token_of(args: argparse.Namespace) -> str | None:
    """The bearer token from --token-file (None: the client's default). A token given on
    the command line is refused: every user of the machine could read it in `ps`."""
    if getattr(args, "token_on_command_line", None) is not None:
        print(
            "error: --token would show the token to every user of this machine (ps); pass "
            "--token-file FILE (or - for standard input) or set PONDER_API_TOKEN",
            file=sys.stderr,
        )
        raise CommandFailed(2)
    path = getattr(args, "token_file", None)
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        print(f"error: cannot read --token-file: {error.strerror}", file=sys.stderr)
        raise CommandFailed(2) from None
    return text.strip()
