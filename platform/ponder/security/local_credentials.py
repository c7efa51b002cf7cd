"""Credentials a local run creates for itself on first start: the API token file with one
token for tenant `local` (its value in `client-token` beside it), and secrets such as the
Ray cluster token. Every file is mode 0600 in a 0700 folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ponder import env
from ponder.security.tokens import RateLimit, add_token

LOCAL_TENANT = "local"


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def private_run_dir(folder: Path) -> Path:
    """A folder only this user can enter (0700), for Ray's sessions, sockets and logs:
    created if missing; refused if another user owns it (one who made it first could read
    the logs or swap the raylet's socket)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = folder.stat().st_uid
    if owner != os.getuid():
        raise PermissionError(
            f"{folder} belongs to uid {owner}, not to this user ({os.getuid()}): "
            "set PONDER_RAY_TEMP_DIR to a folder of your own"
        )
    os.chmod(folder, 0o700)
    return folder


def write_secret(path: Path, value: str) -> None:
    """Write value to path, readable by the owner only (created 0600, never wider)."""
    _private_folder(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(value + "\n")
    os.chmod(path, 0o600)


def ensure_secret(path: Path) -> str:
    """The secret in path, created (256 random bits, hex) when missing."""
    if not path.is_file() or not path.read_text().strip():
        write_secret(path, secrets.token_hex(32))
    return path.read_text().strip()


def ensure_local_api_token(tokens_file: Path, rate_limit: RateLimit | None) -> tuple[str, bool]:
    """The local client token for tokens_file and whether it was created now. Creates the
    file with one all-RPC token for tenant 'local' when it does not exist; when it does,
    returns the client token left beside it ("" if there is none)."""
    client_file = env.client_token_file(tokens_file)
    if tokens_file.exists():
        value = client_file.read_text().strip() if client_file.is_file() else ""
        return value, False
    _private_folder(tokens_file.parent)
    value, _ = add_token(tokens_file, LOCAL_TENANT, token_id="local", rate_limit=rate_limit)
    write_secret(client_file, value)
    return value, True
