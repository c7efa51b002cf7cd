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

from ponder.learning.online import Metrics
from ponder.learning.outcome_log import Keys, text
from ponder.learning.records import now_ms
from ponder.learning.version_store import VersionStore
from ponder.reasoning.path_scorer import PathScorer, scorer_from_json


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


class ScorerRegistry(VersionStore[PathScorer, VersionInfo]):
    what = "scorer"

    def __init__(self, client: Redis, keys: Keys | None = None) -> None:
        super().__init__(client)
        self.keys = keys or Keys()

    def _key(self, scope: str, part: str) -> str:
        return self.keys.scorer(scope, part)

    def _scopes_key(self) -> str:
        return self.keys.scorer_scopes

    def _decode(self, data: str | bytes) -> VersionInfo:
        return VersionInfo.from_json(data)

    def _seed_info(self, model: PathScorer) -> VersionInfo:
        return VersionInfo(model, parent="", created_ms=now_ms(), status="seed")

    def _model_of(self, info: VersionInfo) -> PathScorer:
        return info.scorer

    async def candidate(self, scope: str) -> VersionInfo | None:
        version = await self._client.get(self._key(scope, "candidate"))
        if version is None:
            return None
        return await self.get(scope, text(version))

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
