"""Versions of the answer ranker in Redis, per scope: the model that picks answers.

Like the path scorer's registry: every proposed version is kept with the gate's paired
comparison, one is active, planners poll the active one, and an operator can roll back
to any kept version. A tenant scope starts from the shared scope's active version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis

from ponder.learning.outcome_log import Keys, text
from ponder.learning.paired_gate import PairedDecision
from ponder.learning.records import now_ms
from ponder.learning.version_store import VersionStore
from ponder.reasoning.ranker import AnswerRanker, ranker_from_json


@dataclass(frozen=True)
class RankerVersion:
    """One kept ranker version and what is known about it."""

    ranker: AnswerRanker
    parent: str
    created_ms: int
    status: str  # seed | promoted | rejected | deferred
    promoted_ms: int = 0
    train_examples: int = 0  # the scope's outcome examples it was fitted on
    gate: PairedDecision | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.ranker.version

    def to_json(self) -> str:
        return json.dumps(
            {
                "ranker": self.ranker.to_json(),
                "parent": self.parent,
                "created_ms": self.created_ms,
                "status": self.status,
                "promoted_ms": self.promoted_ms,
                "train_examples": self.train_examples,
                "gate": self.gate.to_json() if self.gate else None,
                "extra": self.extra,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data_text: str | bytes) -> RankerVersion:
        data = json.loads(data_text)
        return cls(
            ranker=ranker_from_json(data["ranker"]),
            parent=data["parent"],
            created_ms=data["created_ms"],
            status=data["status"],
            promoted_ms=data["promoted_ms"],
            train_examples=data["train_examples"],
            gate=PairedDecision.from_json(data["gate"]) if data["gate"] else None,
            extra=data["extra"],
        )


class RankerRegistry(VersionStore[AnswerRanker, RankerVersion]):
    what = "ranker"

    def __init__(self, client: Redis, keys: Keys | None = None) -> None:
        super().__init__(client)
        self.keys = keys or Keys()

    def _key(self, scope: str, part: str) -> str:
        return self.keys.ranker(scope, part)

    def _scopes_key(self) -> str:
        return self.keys.ranker_scopes

    def _decode(self, data: str | bytes) -> RankerVersion:
        return RankerVersion.from_json(data)

    def _seed_info(self, model: AnswerRanker) -> RankerVersion:
        return RankerVersion(model, parent="", created_ms=now_ms(), status="seed")

    def _model_of(self, info: RankerVersion) -> AnswerRanker:
        return info.ranker

    async def latest(self, scope: str) -> RankerVersion | None:
        """The most recently proposed version (promoted or not); None before any."""
        version = await self._client.get(self._key(scope, "latest"))
        return None if version is None else await self.get(scope, text(version))

    async def propose(self, scope: str, info: RankerVersion, expected_active: str) -> bool:
        """Keep a proposed version and make it active if promoted, unless the active
        version changed since the candidate was judged against it (an operator's
        rollback): then nothing is written and False is returned."""
        if info.status == "promoted":
            info = replace(info, promoted_ms=now_ms())
        latest = self._key(scope, "latest")
        reason = info.gate.reason if info.gate else ""
        return await self._propose(
            scope, info, expected_active, reason, lambda pipe: pipe.set(latest, info.version)
        )
