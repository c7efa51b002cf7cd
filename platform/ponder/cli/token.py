"""`ponder token`: add, list and revoke API tokens in the token file (hashes only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ponder import env
from ponder.cli.common import CommandFailed
from ponder.security.tokens import RPCS, RateLimit, add_token, read_token_file, revoke_token


def _file(args: argparse.Namespace) -> Path:
    return Path(args.file) if args.file else env.api_tokens_file()


def cmd_add(args: argparse.Namespace) -> int:
    limit = None
    if args.rate is not None:
        limit = RateLimit(requests_per_s=args.rate, burst=args.burst or max(1, int(args.rate * 2)))
    value, entry = add_token(
        _file(args), args.tenant, tuple(args.rpc or ()), args.id or "", rate_limit=limit
    )
    print(f"token {entry.id} for tenant {entry.tenant} added to {_file(args)}", file=sys.stderr)
    print("its value (shown once, not stored; send as 'authorization: Bearer <value>'):",
          file=sys.stderr)  # fmt: skip
    print(value)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    tokens = read_token_file(_file(args))
    for name, tenant in tokens.tenants.items():
        limit = tenant.rate_limit
        shown = f"{limit.requests_per_s:g}/s burst {limit.burst}" if limit else "default"
        print(f"tenant {name}: rate limit {shown}")
    for token in tokens.tokens:
        print(f"token {token.id}: tenant {token.tenant}, rpcs {', '.join(token.rpcs) or 'all'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if not revoke_token(_file(args), args.id):
        print(f"error: no token {args.id!r} in {_file(args)}", file=sys.stderr)
        raise CommandFailed(1)
    print(f"token {args.id} revoked (servers stop accepting it within their reload interval)")
    return 0


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="manage API tokens (the token file holds hashes only)")
    actions = token.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", help="token file (default .state/auth/tokens.yaml)")

    add = actions.add_parser("add", parents=[common], help="create a token; prints its value")
    add.add_argument("--tenant", required=True, help="the tenant the token acts as")
    add.add_argument("--rpc", action="append", choices=sorted(RPCS), help="allow only this RPC")
    add.add_argument("--id", help="name of the token (default tenant-<random>)")
    add.add_argument("--rate", type=float, help="tenant rate limit, calls per second")
    add.add_argument("--burst", type=int, help="tenant burst (default 2 x rate)")
    add.set_defaults(func=cmd_add)

    listing = actions.add_parser("list", parents=[common], help="tenants and token ids")
    listing.set_defaults(func=cmd_list)

    revoke = actions.add_parser("revoke", parents=[common], help="remove a token by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=cmd_revoke)
