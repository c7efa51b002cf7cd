"""The API token file: which bearer tokens exist, whose tenant each one is, which RPCs it
may call, and each tenant's rate limit. Only SHA-256 hashes of tokens are stored.

The file is YAML, written by `ponder token add/revoke` (or by an operator, e.g. from a
Kubernetes Secret mounted as a volume) and re-read by the ingress when it changes:

    tenants:
      acme: {rate_limit: {requests_per_s: 20, burst: 40}}
    tokens:
      - id: acme-2026-11
        sha256: 3f1c…              # hash of the token, never the token itself
        tenant: acme
        rpcs: [Reason, ReportOutcome]   # empty or absent: every RPC
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import tempfile
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

# The RPCs of ponder.v1.PonderService that a token may be granted (a unit test keeps this
# equal to the service in the proto). grpc.health.v1 and reflection need no token.
RPCS: frozenset[str] = frozenset(
    {
        "Generate",
        "StreamGenerate",
        "Reason",
        "StreamReason",
        "ReportOutcome",
        "GetScorer",
        "Encode",
        "Analyze",
        "StreamAnalyze",
        "ListModels",
    }
)
TOKEN_PREFIX = "pdr_"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(_Strict):
    """A token bucket: sustained rate and how many calls may come at once."""

    requests_per_s: float = Field(gt=0, description="Calls per second, sustained.")
    burst: int = Field(ge=1, description="Calls allowed at once after an idle period.")
    tokens_per_s: float | None = Field(
        None,
        gt=0,
        description=(
            "Decoder tokens the tenant's calls may ask for per second, sustained; a call "
            "costs the most tokens it may generate (Generate's max_tokens, Reason's token "
            "budget over all its branches, Analyze's max_tokens). Absent: calls are counted "
            "only."
        ),
    )
    token_burst: int | None = Field(
        None,
        ge=1,
        description=(
            "Decoder tokens that may be asked for at once after an idle period (also the "
            "largest single call admitted); absent: ten seconds of tokens_per_s."
        ),
    )

    @model_validator(mode="after")
    def _tokens_consistent(self) -> RateLimit:
        if self.token_burst is not None and self.tokens_per_s is None:
            raise ValueError("token_burst needs tokens_per_s")
        return self

    @property
    def token_burst_or_default(self) -> int:
        """The token bucket's capacity (0 when tokens are not limited)."""
        if self.tokens_per_s is None:
            return 0
        return self.token_burst or max(1, math.ceil(self.tokens_per_s * 10))


class TenantEntry(_Strict):
    """A tenant the file declares."""

    rate_limit: RateLimit | None = Field(
        None, description="This tenant's limit; absent: auth.default_rate_limit."
    )


class TokenEntry(_Strict):
    """One bearer token, by the hash of its value."""

    id: str = Field(min_length=1, max_length=64, description="Name for logs and revocation.")
    sha256: str = Field(description="Hex SHA-256 of the token value.")
    tenant: str = Field(pattern=TENANT_PATTERN, description="The tenant the token acts as.")
    rpcs: tuple[str, ...] = Field(
        (), description="RPCs the token may call (PonderService method names); empty: all."
    )

    @model_validator(mode="after")
    def _valid(self) -> TokenEntry:
        if not _HEX64.match(self.sha256):
            raise ValueError(f"token {self.id!r}: sha256 must be 64 lowercase hex digits")
        unknown = sorted(set(self.rpcs) - RPCS)
        if unknown:
            raise ValueError(f"token {self.id!r}: unknown RPCs {unknown} (known: {sorted(RPCS)})")
        return self

    def allows(self, rpc: str) -> bool:
        return not self.rpcs or rpc in self.rpcs


class TokenFile(_Strict):
    """The whole file."""

    tenants: dict[str, TenantEntry] = Field(
        default_factory=dict, description="Declared tenants; every token names one."
    )
    tokens: tuple[TokenEntry, ...] = Field((), description="The tokens.")

    @model_validator(mode="after")
    def _consistent(self) -> TokenFile:
        ids = [t.id for t in self.tokens]
        if len(ids) != len(set(ids)):
            raise ValueError("token ids must be unique")
        hashes = [t.sha256 for t in self.tokens]
        if len(hashes) != len(set(hashes)):
            raise ValueError("two tokens have the same hash")
        for name in self.tenants:
            if not re.match(TENANT_PATTERN, name):
                raise ValueError(f"tenant {name!r}: 1-64 letters, digits, '.', '_', '-'")
        for token in self.tokens:
            if token.tenant not in self.tenants:
                raise ValueError(f"token {token.id!r}: tenant {token.tenant!r} is not declared")
        return self


def hash_token(token: str) -> str:
    """What the file stores for a token (tokens are 256-bit random, so a plain hash is as
    strong as a slow one)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token value: prefix + 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def read_token_file(path: Path) -> TokenFile:
    """Parse and validate; an empty file has no tokens."""
    data = yaml.safe_load(path.read_text()) or {}
    return TokenFile.model_validate(data)


def write_token_file(path: Path, tokens: TokenFile) -> None:
    """Replace the file atomically (readers never see half a file), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(tokens.model_dump(mode="json", exclude_none=True), sort_keys=False)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tokens-")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as out:
            out.write("# Ponder API tokens (SHA-256 hashes only). Edit with `ponder token`.\n")
            out.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_token(
    path: Path,
    tenant: str,
    rpcs: tuple[str, ...] = (),
    token_id: str = "",
    rate_limit: RateLimit | None = None,
) -> tuple[str, TokenEntry]:
    """Create a token for tenant (declaring the tenant if new; rate_limit replaces its
    limit when given) and return its value, which is shown once and never stored."""
    current = read_token_file(path) if path.exists() else TokenFile()
    value = new_token()
    entry = TokenEntry(
        id=token_id or f"{tenant}-{secrets.token_hex(3)}",
        sha256=hash_token(value),
        tenant=tenant,
        rpcs=tuple(rpcs),
    )
    tenants = dict(current.tenants)
    if tenant not in tenants or rate_limit is not None:
        tenants[tenant] = TenantEntry(rate_limit=rate_limit)
    write_token_file(path, TokenFile(tenants=tenants, tokens=(*current.tokens, entry)))
    return value, entry


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove a token by id; False when there was none."""
    current = read_token_file(path)
    kept = tuple(t for t in current.tokens if t.id != token_id)
    if len(kept) == len(current.tokens):
        return False
    write_token_file(path, TokenFile(tenants=current.tenants, tokens=kept))
    return True
