"""Who may call (the token file, rate limits) and the Redis the platform keeps its state in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field

from ponder import env
from ponder.config.base import StrictModel
from ponder.security.tokens import RateLimit


class AuthConfig(StrictModel):
    """Caller authentication of the front doors (bearer tokens from a token file)."""

    enabled: bool = Field(
        True,
        description="Require 'authorization: Bearer <token>' on every PonderService RPC "
        "(grpc.health.v1 and reflection stay open). Off: every caller is anonymous and "
        "shares one scorer.",
    )
    token_file: str = Field(
        "",
        description="YAML token file (hashes, tenants, rights, rate limits; see "
        "ponder.security.tokens). Empty: .state/auth/tokens.yaml, which a local start "
        "creates with one token for tenant 'local'. In Kubernetes: a Secret mounted as a "
        "volume (updates reach the pod without a restart).",
    )
    reload_interval_s: float = Field(
        2.0, gt=0, description="How often the token file is checked for changes (rotation)."
    )
    create_local_token: bool = Field(
        True,
        description="A local start (`ponder serve`, tests, benches) creates the token file "
        "when it is missing, with one all-RPC token for tenant 'local' whose value goes to "
        "client-token beside it (mode 0600), where the CLI and PonderClient find it.",
    )
    default_rate_limit: RateLimit | None = Field(
        default_factory=lambda: RateLimit(requests_per_s=50, burst=100),
        description="Rate limit of a tenant the token file gives none; null: unlimited.",
    )

    def token_path(self) -> Path:
        """The token file this config names."""
        return Path(self.token_file) if self.token_file else env.api_tokens_file()


class RedisConfig(StrictModel):
    """The Redis that holds the score cache, the outcome log and the scorer versions."""

    url: str = Field(
        "",
        description="redis:// URL, with the ACL user Ponder connects as (e.g. "
        "redis://ponder@ponder-redis:6379/0; see ponder/redis_acl.py); empty means the local "
        "runner starts a loopback redis-server (when start_local) or, with start_local off, "
        "Redis-backed features are off.",
    )
    start_local: bool = Field(
        True, description="Start a loopback redis-server (AOF on) when no url is given."
    )
    appendfsync: Literal["always", "everysec"] = Field(
        "everysec",
        description="AOF fsync policy of a locally started redis-server. Either survives a "
        "Redis or platform restart; 'always' also survives a machine crash, at a write cost.",
    )
    password_env: str = Field(
        "",
        description="Environment variable holding the Redis password (e.g. from a "
        "Kubernetes Secret); empty means no AUTH.",
    )
    timeout_s: float = Field(0.5, gt=0, description="Socket timeout of Redis calls, seconds.")

    def connection_url(self) -> str:
        """The URL with the password from password_env filled in."""
        if not self.password_env or not self.url:
            return self.url
        password = env.secret(self.password_env)
        if not password:
            raise ValueError(
                f"redis.password_env names {self.password_env}, which is empty or unset: "
                "set it (e.g. from the Kubernetes Secret) or clear password_env"
            )
        scheme, rest = self.url.split("://", 1)
        userinfo, _, host = rest.rpartition("@")
        username = userinfo.split(":", 1)[0]
        return f"{scheme}://{username}:{quote(password, safe='')}@{host}"
