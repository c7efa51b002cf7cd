"""Kept versions of a learned model in Redis, per scope: the part the path scorer's and the
answer ranker's registries share.

Per scope: a hash of every kept version (its JSON), the active version's id, and a history
list of events (seed, promoted, rejected, rollback, ...). A tenant scope is seeded from
the shared scope's active version, the shared scope from the packaged model.

Upgrades: a kept version this code cannot read (a model saved by a release whose feature
list differed) is never served. When the active version is such a one, `seed` re-seeds
the scope from the packaged model (history event "reseed", naming the unreadable version)
instead of failing every planner's reload; unreadable versions stay in Redis for the
record but are left out of `versions()`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis

from ponder.errors import NotFound
from ponder.learning.outcome_log import text
from ponder.learning.records import SHARED_SCOPE, now_ms


class Model(Protocol):
    @property
    def version(self) -> str: ...


class Kept(Protocol):
    """A kept version: the model and what is known about it."""

    @property
    def version(self) -> str: ...

    def to_json(self) -> str: ...


log = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)
V = TypeVar("V", bound=Kept)


class VersionStore(Generic[M, V]):
    """Subclasses say how a version is keyed, read back, seeded and unwrapped."""

    what = "model"  # in error messages

    def __init__(self, client: Redis) -> None:
        self._client = client

    # -- what a subclass provides -----------------------------------------------------
    def _key(self, scope: str, part: str) -> str:
        raise NotImplementedError

    def _scopes_key(self) -> str:
        raise NotImplementedError

    def _decode(self, data: str | bytes) -> V:
        raise NotImplementedError

    def _seed_info(self, model: M) -> V:
        raise NotImplementedError

    def _model_of(self, info: V) -> M:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def active_key(self, scope: str) -> str:
        return self._key(scope, "active")

    async def seed(self, scope: str, default: M) -> str:
        """Make sure the scope has an active version this code can read; a new tenant
        scope starts from the shared active version, the shared scope from `default`.
        An unreadable active version (saved by a release with other features) is replaced
        the same way. Returns the active one."""
        active = await self.active_version(scope)
        if active is not None and await self._readable(scope, active):
            return active
        if scope != SHARED_SCOPE:
            await self.seed(SHARED_SCOPE, default)
            default = self._model_of(await self.active(SHARED_SCOPE))
        info = self._seed_info(default)
        if active is None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self._key(scope, "versions"), default.version, info.to_json())
                pipe.set(self._key(scope, "active"), default.version, nx=True)
                pipe.sadd(self._scopes_key(), scope)
                _, became_active, _ = await pipe.execute()
            if became_active:  # only the one seeder that won records it
                await self._event(scope, "seed", default.version, "")
        else:
            await self._reseed(scope, active, info, default.version)
        active = await self.active_version(scope)
        assert active is not None
        return active

    async def _reseed(self, scope: str, unreadable: str, info: V, version: str) -> None:
        """Replace an unreadable active version, unless another seeder already did."""
        active_key = self._key(scope, "active")
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(active_key)
            current = await pipe.get(active_key)
            if current is None or text(current) != unreadable:
                return
            pipe.multi()
            pipe.hset(self._key(scope, "versions"), version, info.to_json())
            pipe.set(active_key, version)
            detail = f"active {unreadable} unreadable by this release"
            self._stage_event(pipe, scope, "reseed", version, detail)
            await pipe.execute()
        log.warning(
            "%s scope %s: %s was unreadable; re-seeded %s", self.what, scope, unreadable, version
        )

    async def _readable(self, scope: str, version: str) -> bool:
        data = await self._client.hget(self._key(scope, "versions"), version)
        return data is not None and self._try_decode(data) is not None

    def _try_decode(self, data: str | bytes) -> V | None:
        """The version, or None when this code cannot read it (another feature list)."""
        try:
            return self._decode(data)
        except (ValueError, KeyError, TypeError):
            return None

    async def active_version(self, scope: str) -> str | None:
        value = await self._client.get(self._key(scope, "active"))
        return None if value is None else text(value)

    async def get(self, scope: str, version: str) -> V:
        data = await self._client.hget(self._key(scope, "versions"), version)
        if data is None:
            raise NotFound(f"{self.what} version {version!r} is not kept for scope {scope!r}")
        return self._decode(data)

    async def active(self, scope: str) -> V:
        version = await self.active_version(scope)
        if version is None:
            raise NotFound(f"no active {self.what} for scope {scope!r}")
        return await self.get(scope, version)

    async def versions(self, scope: str) -> list[V]:
        raw = await self._client.hvals(self._key(scope, "versions"))
        decoded = [v for v in map(self._try_decode, raw) if v is not None]
        return sorted(decoded, key=lambda v: getattr(v, "created_ms", 0))

    async def history(self, scope: str, limit: int = 50) -> list[dict[str, Any]]:
        raw = await self._client.lrange(self._key(scope, "history"), -limit, -1)
        return [json.loads(item) for item in raw]

    async def scopes(self) -> list[str]:
        return sorted(text(s) for s in await self._client.smembers(self._scopes_key()))

    async def rollback(self, scope: str, version: str) -> V:
        """Make a kept version active again (planners reload it; learning continues from
        it)."""
        info = await self.get(scope, version)
        previous = await self.active_version(scope)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(scope, "active"), version)
            pipe.delete(self._key(scope, "candidate"))
            self._stage_event(pipe, scope, "rollback", version, f"from {previous}")
            await pipe.execute()
        return info

    async def _propose(
        self,
        scope: str,
        info: V,
        expected_active: str,
        reason: str,
        stage_extra: Callable[[Any], None],
    ) -> bool:
        """Keep a proposed version (`info.status` "promoted" makes it active; it carries
        its promotion time already) and whatever `stage_extra` adds to the same
        transaction, unless the active version changed since the candidate was judged
        against it (an operator's rollback): then nothing is written and False is
        returned."""
        status = str(getattr(info, "status", ""))
        active_key = self._key(scope, "active")
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(active_key)
            current = await pipe.get(active_key)
            if current is None or text(current) != expected_active:
                return False
            pipe.multi()
            pipe.hset(self._key(scope, "versions"), info.version, info.to_json())
            stage_extra(pipe)
            if status == "promoted":
                pipe.set(active_key, info.version)
            self._stage_event(pipe, scope, status, info.version, reason)
            await pipe.execute()
        return True

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
