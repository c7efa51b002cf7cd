"""Versions of the path scorer in Redis, per scope (shared, or one per tenant).

Every version ever proposed is kept (weights, held-back metrics, parent, verdict); one
is active. Planners read the active version; the learner proposes and promotes; an
operator can roll back to any kept version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis

from ponder.errors import NotFound
from ponder.learning.online import Metrics
from ponder.learning.outcome_log import Keys, text
from ponder.learning.records import SHARED_SCOPE, now_ms
from ponder.reasoning.scorer import PathScorer, scorer_from_json


@dataclass(frozen=True)
class VersionInfo:
    """One kept scorer version and what is known about it."""

    scorer: PathScorer
    parent: str
    created_ms: int
    status: str  # seed | promoted | rejected | deferred | rolled-back-to
    promoted_ms: int = 0
    outcomes_applied: int = 0  # outcomes the learner had applied when it was proposed
    heldout: Metrics | None = None  # its held-back metrics when proposed
    compared_to: str = ""  # the active version it was compared with
    compared_heldout: Metrics | None = None  # that version's metrics on the same outcomes
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.scorer.version

    def to_json(self) -> str:
        return json.dumps(
            {
                "scorer": self.scorer.to_json(),
                "parent": self.parent,
                "created_ms": self.created_ms,
                "status": self.status,
                "promoted_ms": self.promoted_ms,
                "outcomes_applied": self.outcomes_applied,
                "heldout": self.heldout.to_json() if self.heldout else None,
                "compared_to": self.compared_to,
                "compared_heldout": (
                    self.compared_heldout.to_json() if self.compared_heldout else None
                ),
                "reason": self.reason,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> VersionInfo:
        data = json.loads(text)
        return cls(
            scorer=scorer_from_json(data["scorer"]),
            parent=data["parent"],
            created_ms=data["created_ms"],
            status=data["status"],
            promoted_ms=data["promoted_ms"],
            outcomes_applied=data["outcomes_applied"],
            heldout=Metrics.from_json(data["heldout"]) if data["heldout"] else None,
            compared_to=data["compared_to"],
            compared_heldout=(
                Metrics.from_json(data["compared_heldout"]) if data["compared_heldout"] else None
            ),
            reason=data["reason"],
            extra=data["extra"],
        )


class ScorerRegistry:
    def __init__(self, client: Redis, keys: Keys | None = None) -> None:
        self._client = client
        self.keys = keys or Keys()

    def _key(self, scope: str, part: str) -> str:
        return self.keys.scorer(scope, part)

    def active_key(self, scope: str) -> str:
        return self._key(scope, "active")

    async def seed(self, scope: str, default: PathScorer) -> str:
        """Make sure the scope has an active version; a new tenant scope starts from the
        shared active version, the shared scope from `default`. Returns the active one."""
        active = await self.active_version(scope)
        if active is not None:
            return active
        if scope != SHARED_SCOPE:
            await self.seed(SHARED_SCOPE, default)
            default = (await self.active(SHARED_SCOPE)).scorer
        info = VersionInfo(default, parent="", created_ms=now_ms(), status="seed")
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._key(scope, "versions"), default.version, info.to_json())
            pipe.set(self._key(scope, "active"), default.version, nx=True)
            pipe.sadd(self.keys.scorer_scopes, scope)
            _, became_active, _ = await pipe.execute()
        if became_active:  # only the one seeder that won records it
            await self._event(scope, "seed", default.version, "")
        active = await self.active_version(scope)
        assert active is not None
        return active

    async def active_version(self, scope: str) -> str | None:
        value = await self._client.get(self._key(scope, "active"))
        return None if value is None else text(value)

    async def get(self, scope: str, version: str) -> VersionInfo:
        data = await self._client.hget(self._key(scope, "versions"), version)
        if data is None:
            raise NotFound(f"scorer version {version!r} is not kept for scope {scope!r}")
        return VersionInfo.from_json(data)

    async def active(self, scope: str) -> VersionInfo:
        version = await self.active_version(scope)
        if version is None:
            raise NotFound(f"no active scorer for scope {scope!r}")
        return await self.get(scope, version)

    async def candidate(self, scope: str) -> VersionInfo | None:
        version = await self._client.get(self._key(scope, "candidate"))
        if version is None:
            return None
        return await self.get(scope, text(version))

    async def versions(self, scope: str) -> list[VersionInfo]:
        raw = await self._client.hvals(self._key(scope, "versions"))
        return sorted((VersionInfo.from_json(v) for v in raw), key=lambda v: v.created_ms)

    async def history(self, scope: str, limit: int = 50) -> list[dict[str, Any]]:
        raw = await self._client.lrange(self._key(scope, "history"), -limit, -1)
        return [json.loads(item) for item in raw]

    async def scopes(self) -> list[str]:
        return sorted(text(s) for s in await self._client.smembers(self.keys.scorer_scopes))

    async def rollback(self, scope: str, version: str) -> VersionInfo:
        """Make a kept version active again (planners reload it; the learner restarts
        from it)."""
        info = await self.get(scope, version)
        previous = await self.active_version(scope)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(scope, "active"), version)
            pipe.delete(self._key(scope, "candidate"))
            self._stage_event(pipe, scope, "rollback", version, f"from {previous}")
            await pipe.execute()
        return info

    def stage_proposal(self, pipe: Any, scope: str, info: VersionInfo) -> None:
        """Keep a proposed version; make it active if promoted (inside a transaction)."""
        promote = info.status == "promoted"
        if promote:
            info = replace(info, promoted_ms=now_ms())
        pipe.hset(self._key(scope, "versions"), info.version, info.to_json())
        if promote:
            pipe.set(self._key(scope, "active"), info.version)
            pipe.delete(self._key(scope, "candidate"))
        else:
            pipe.set(self._key(scope, "candidate"), info.version)
        self._stage_event(pipe, scope, info.status, info.version, info.reason, info.extra)

    async def _event(self, scope: str, event: str, version: str, detail: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            self._stage_event(pipe, scope, event, version, detail)
            await pipe.execute()

    def _stage_event(
        self,
        pipe: Any,
        scope: str,
        event: str,
        version: str,
        detail: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        entry = {"at_ms": now_ms(), "event": event, "version": version, "detail": detail}
        pipe.rpush(self._key(scope, "history"), json.dumps(entry | (extra or {})))
