"""Hot reload in planners: poll a registry's active version per scope and swap the model
in when it changes. Requests already running keep the version they started with;
score-cache keys carry the scorer version, so old cached scores are never reused.

One watcher per learned model: the path scorer, the answer ranker, and the served
model's refresh adapter (`model_registry.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from ponder.learning.model_registry import ModelRegistry, ModelVersion
from ponder.learning.ranker_registry import RankerRegistry
from ponder.learning.records import SHARED_SCOPE
from ponder.learning.registry import ScorerRegistry
from ponder.reasoning.path_scorer import PathScorer
from ponder.reasoning.ranker import AnswerRanker

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


M = TypeVar("M", bound=Versioned)


class VersionWatcher(Generic[M]):
    def __init__(
        self,
        what: str,
        default: M,
        seed: Callable[[str, M], Awaitable[str]],
        active_version: Callable[[str], Awaitable[str | None]],
        load: Callable[[str, str], Awaitable[M]],
    ) -> None:
        self._what = what
        self._default = default
        self._seed = seed
        self._active_version = active_version
        self._load = load
        self._models: dict[str, M] = {}
        self._healthy = True

    def current(self, scope: str) -> M:
        """The scope's active model as last seen; a tenant without its own version yet
        uses the shared one."""
        if scope not in self._models:
            self._models.setdefault(scope, self._models.get(SHARED_SCOPE, self._default))
        return self._models[scope]

    async def refresh(self) -> None:
        """Load any newly active version of every scope seen so far."""
        await self._seed(SHARED_SCOPE, self._default)
        for scope in {SHARED_SCOPE, *self._models}:
            version = await self._active_version(scope)
            if version is None:  # a tenant scope the learner has not seeded yet
                version = await self._active_version(SHARED_SCOPE)
                if version is None:
                    continue
                source = SHARED_SCOPE
            else:
                source = scope
            if scope in self._models and self._models[scope].version == version:
                continue
            if source == scope:  # re-seeds it first if this release cannot read it
                version = await self._seed(scope, self._default)
            self._models[scope] = await self._load(source, version)
            log.info("%s of %s is now %s", self._what, scope, version)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
                if not self._healthy:
                    log.info("%s registry reachable again", self._what)
                self._healthy = True
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep serving with the model in hand
                if self._healthy:
                    log.warning(
                        "%s reload failed (%s); keeping %s", self._what, error, self.versions()
                    )
                self._healthy = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def versions(self) -> dict[str, str]:
        return {scope: model.version for scope, model in self._models.items()}


class ScorerWatcher(VersionWatcher[PathScorer]):
    def __init__(self, registry: ScorerRegistry, default: PathScorer) -> None:
        async def load(scope: str, version: str) -> PathScorer:
            return (await registry.get(scope, version)).scorer

        super().__init__("path scorer", default, registry.seed, registry.active_version, load)


class RankerWatcher(VersionWatcher[AnswerRanker]):
    def __init__(self, registry: RankerRegistry, default: AnswerRanker) -> None:
        async def load(scope: str, version: str) -> AnswerRanker:
            return (await registry.get(scope, version)).ranker

        super().__init__("answer ranker", default, registry.seed, registry.active_version, load)


class ModelWatcher(VersionWatcher[ModelVersion]):
    """The active model version per scope: the base model, or a refresh adapter that the
    planner's branches name (decoders load it on first use)."""

    def __init__(self, registry: ModelRegistry, base: ModelVersion) -> None:
        async def load(scope: str, version: str) -> ModelVersion:
            return await registry.get(scope, version)

        super().__init__("model", base, registry.seed, registry.active_version, load)
