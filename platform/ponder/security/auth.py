"""Who is calling: the bearer token in the call's metadata, looked up in the token file.

The file is re-read when it changes (checked at most every reload_interval_s), so tokens
can be added and revoked — rotated — without a restart. A file that fails to parse keeps
the last good tokens in force (a typo must not lock every caller out) and is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from yaml import YAMLError

from ponder.errors import PermissionDenied, Unauthenticated
from ponder.security.tokens import RateLimit, TokenEntry, TokenFile, hash_token, read_token_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller."""

    tenant: str  # "" when authentication is off
    token_id: str
    rate_limit: RateLimit | None  # None: no limit


ANONYMOUS = Identity(tenant="", token_id="", rate_limit=None)


def bearer_token(authorization: str) -> str:
    """The token of an `authorization: Bearer <token>` value ("" when absent)."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


class Authenticator:
    """Checks bearer tokens against the token file."""

    def __init__(
        self,
        path: Path,
        default_rate_limit: RateLimit | None,
        reload_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._default_rate_limit = default_rate_limit
        self._interval = reload_interval_s
        self._clock = clock
        self._checked_at = float("-inf")
        self._signature: tuple[int, int, int] | None = None
        self._file = TokenFile()
        self._by_hash: dict[str, TokenEntry] = {}
        self._missing_reported = False
        self._reload_if_changed()

    def identify(self, authorization: str, rpc: str) -> Identity:
        """The caller of rpc; Unauthenticated without a known token, PermissionDenied when
        the token may not call rpc."""
        self._reload_if_changed()
        token = bearer_token(authorization)
        if not token:
            raise Unauthenticated(
                "missing credentials: send metadata 'authorization: Bearer <token>'"
            )
        entry = self._by_hash.get(hash_token(token))
        if entry is None:
            raise Unauthenticated("unknown or revoked token")
        if not entry.allows(rpc):
            raise PermissionDenied(f"token {entry.id!r} may not call {rpc}")
        tenant = self._file.tenants[entry.tenant]
        return Identity(
            tenant=entry.tenant,
            token_id=entry.id,
            rate_limit=tenant.rate_limit or self._default_rate_limit,
        )

    def _reload_if_changed(self) -> None:
        now = self._clock()
        if now - self._checked_at < self._interval:
            return
        self._checked_at = now
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if not self._missing_reported:
                log.error("token file %s is missing: every call is refused", self._path)
                self._missing_reported = True
            self._signature = None
            self._file, self._by_hash = TokenFile(), {}
            return
        self._missing_reported = False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        try:
            loaded = read_token_file(self._path)
        except (OSError, YAMLError, ValidationError) as error:
            log.error("token file %s not loaded, keeping the last good one: %s", self._path, error)
            self._signature = signature  # do not re-parse the same broken file every call
            return
        self._signature = signature
        self._file = loaded
        self._by_hash = {t.sha256: t for t in loaded.tokens}
        log.info(
            "token file %s loaded: %d tokens, %d tenants",
            self._path,
            len(loaded.tokens),
            len(loaded.tenants),
        )
