"""Hot reload of the path scorer in planners: poll the registry's active version per scope
and swap the scorer in when it changes. Requests already running keep the version they
started with; score-cache keys carry the version, so old cached scores are never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ponder.learning.records import SHARED_SCOPE
from ponder.learning.registry import ScorerRegistry
from ponder.reasoning.scorer import PathScorer

log = logging.getLogger(__name__)


class ScorerWatcher:
    def __init__(self, registry: ScorerRegistry, default: PathScorer) -> None:
        self._registry = registry
        self._default = default
        self._scorers: dict[str, PathScorer] = {}
        self._healthy = True

    def current(self, scope: str) -> PathScorer:
        """The scope's active scorer as last seen; a tenant without its own version yet
        uses the shared one."""
        if scope not in self._scorers:
            self._scorers.setdefault(scope, self._scorers.get(SHARED_SCOPE, self._default))
        return self._scorers[scope]

    async def refresh(self) -> None:
        """Load any newly active version of every scope seen so far."""
        await self._registry.seed(SHARED_SCOPE, self._default)
        for scope in {SHARED_SCOPE, *self._scorers}:
            version = await self._registry.active_version(scope)
            if version is None:  # a tenant scope the learner has not seeded yet
                version = await self._registry.active_version(SHARED_SCOPE)
                if version is None:
                    continue
                source = SHARED_SCOPE
            else:
                source = scope
            if scope in self._scorers and self._scorers[scope].version == version:
                continue
            self._scorers[scope] = (await self._registry.get(source, version)).scorer
            log.info("path scorer of %s is now %s", scope, version)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
                if not self._healthy:
                    log.info("scorer registry reachable again")
                self._healthy = True
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep serving with the scorer in hand
                if self._healthy:
                    log.warning("scorer reload failed (%s); keeping %s", error, self.versions())
                self._healthy = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def versions(self) -> dict[str, str]:
        return {scope: scorer.version for scope, scorer in self._scorers.items()}
