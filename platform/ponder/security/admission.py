"""Admission of a front-door call, before any work: who is calling (the bearer token's
identity and rights), whether the claimed tenant is theirs, and whether the tenant's
cost-weighted rate limit lets the call through."""

from __future__ import annotations

from redis.asyncio import Redis

from ponder.config import PonderConfig
from ponder.errors import PermissionDenied
from ponder.security.auth import Authenticator, Identity
from ponder.security.call_cost import CostDefaults, requested_tokens
from ponder.security.rate_limit import RateLimiter


class Admission:
    """admit() returns the caller's identity or raises the error that refuses the call."""

    def __init__(
        self, authenticator: Authenticator, rate_limiter: RateLimiter, costs: CostDefaults
    ) -> None:
        self.authenticator = authenticator
        self._rate_limiter = rate_limiter
        self._costs = costs

    @classmethod
    def from_config(cls, config: PonderConfig, redis: Redis | None) -> Admission | None:
        """The app's admission; None when authentication is off (every call admitted)."""
        if not config.auth.enabled:
            return None
        authenticator = Authenticator(
            config.auth.token_path(),
            config.auth.default_rate_limit,
            config.auth.reload_interval_s,
        )
        return cls(authenticator, RateLimiter(redis), CostDefaults.of(config))

    async def admit(
        self, rpc: str, authorization: str, claimed_tenant: str, *requests: object
    ) -> Identity:
        """The caller of rpc (from its `authorization` header), within its tenant's rate
        limit: one call and the most decoder tokens the requests may generate together (an
        OpenAI request with n choices is n Generate requests, admitted once)."""
        identity = self.authenticator.identify(authorization, rpc)
        if claimed_tenant and claimed_tenant != identity.tenant:
            raise PermissionDenied(
                f"x-tenant-id {claimed_tenant[:64]!r} is not the tenant of this token; the "
                "tenant comes from the token (the header may be left out)"
            )
        cost = sum(requested_tokens(request, self._costs) for request in requests)
        await self._rate_limiter.take(identity.tenant, identity.rate_limit, cost)
        return identity
