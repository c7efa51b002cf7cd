"""What the outcome log holds: a reasoning's candidate paths (features, scores, the choice)
and the outcome a caller reports for it, and how an outcome labels the paths."""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from ponder.errors import InvalidArgument
from ponder.reasoning.answer_features import SampledProgram
from ponder.reasoning.paths import PathStatus, answers_agree
from ponder.reasoning.requests import ReasonResult
from ponder.reasoning.selection import SEARCH_PATH_ID, sampled_programs

SHARED_SCOPE = "shared"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_reasoning_id() -> str:
    """A reasoning id: 128 random bits, chosen by the server (never by the caller), so an
    id can be neither guessed nor reused to overwrite someone else's record."""
    return secrets.token_hex(16)


def scorer_scope(tenant: str, per_tenant: bool) -> str:
    """Which scorer a request uses and its outcome trains: the (authenticated) tenant's,
    or the shared one."""
    if tenant and not _TENANT.match(tenant):
        raise InvalidArgument(
            "tenant", "1 to 64 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return f"tenant-{tenant}" if per_tenant and tenant else SHARED_SCOPE


@dataclass(frozen=True)
class PathRecord:
    """One candidate path as the scorer saw it."""

    path_id: str
    strategy: str
    status: str  # a PathStatus value
    answer: float | None
    score: float
    chosen: bool
    rows: tuple[tuple[float, ...], ...]  # features after each step, FEATURE_NAMES order


@dataclass(frozen=True)
class ReasoningRecord:
    """Everything the learner needs from one answered Reason request."""

    reasoning_id: str
    scope: str
    scorer_version: str
    created_ms: int
    paths: tuple[PathRecord, ...]
    tenant: str = ""  # who asked (authenticated); only this tenant may report on it
    # The answer ranker's inputs: the problem and the sampled programs (program search's
    # path is not a sample), so an outcome can teach the ranker (ranker_examples.py).
    problem: str = ""
    programs: tuple[SampledProgram, ...] = ()
    ranker_version: str = ""  # the ranker that chose the answer; "" when none did

    @classmethod
    def from_result(
        cls, result: ReasonResult, scope: str, tenant: str, problem: str = ""
    ) -> ReasoningRecord:
        sampled = [p for p in result.paths if p.spec.id != SEARCH_PATH_ID]
        return cls(
            tenant=tenant,
            problem=problem,
            programs=tuple(sampled_programs(sampled)),
            ranker_version=result.ranker_version,
            reasoning_id=result.reasoning_id,
            scope=scope,
            scorer_version=result.scorer_version,
            created_ms=now_ms(),
            paths=tuple(
                PathRecord(
                    path_id=path.spec.id,
                    strategy=path.spec.strategy.value,
                    status=path.status.value,
                    answer=path.answer,
                    score=path.score,
                    chosen=path.spec.id == result.chosen_path_id,
                    rows=result.path_rows.get(path.spec.id, ()),
                )
                for path in result.paths
            ),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ReasoningRecord:
        data: dict[str, Any] = json.loads(text)
        paths = tuple(
            PathRecord(**(p | {"rows": tuple(tuple(r) for r in p["rows"])})) for p in data["paths"]
        )
        programs = tuple(SampledProgram(**p) for p in data.get("programs", ()))
        return cls(**(data | {"paths": paths, "programs": programs}))


MAX_PROBLEM_GROUP_CHARS = 128


@dataclass(frozen=True)
class Outcome:
    """What a caller reported: a reward in [0, 1] (correct = 1), maybe the right answer,
    and maybe the group of problems this one belongs to (`ranker_examples.holdout_key`)."""

    reasoning_id: str
    reward: float
    correct_answer: float | None
    reported_ms: int
    problem_group: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.reward) and 0.0 <= self.reward <= 1.0):
            raise InvalidArgument("reward", f"must be within [0, 1], got {self.reward}")
        if self.correct_answer is not None and not math.isfinite(self.correct_answer):
            raise InvalidArgument("correct_answer", "must be a finite number")
        if len(self.problem_group) > MAX_PROBLEM_GROUP_CHARS:
            raise InvalidArgument(
                "problem_group", f"longer than {MAX_PROBLEM_GROUP_CHARS} characters"
            )

    def same_report(self, other: Outcome) -> bool:
        """Equal apart from when it was reported (a retry of the same report)."""
        return (self.reward, self.correct_answer, self.problem_group) == (
            other.reward,
            other.correct_answer,
            other.problem_group,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        return cls(**json.loads(text))


def labelled_rows(
    record: ReasoningRecord, outcome: Outcome
) -> tuple[list[list[float]], list[float]]:
    """Training rows of a reasoning once its outcome is known, with soft labels.

    Like offline training, every step's row of a path gets the path's final label:
    - the chosen path: the reward;
    - other completed paths: right or wrong against correct_answer when given; else the
      reward when they agree with the chosen answer, 0 when they disagree with an answer
      reported fully correct, and unknown (skipped) otherwise;
    - failed paths: 0 (they gave no answer);
    - pruned paths: unknown (they were stopped before answering), skipped.
    """
    chosen = next((p for p in record.paths if p.chosen), None)
    rows: list[list[float]] = []
    labels: list[float] = []
    for path in record.paths:
        label = _path_label(path, chosen, outcome)
        if label is None:
            continue
        for row in path.rows:
            rows.append(list(row))
            labels.append(label)
    return rows, labels


def _path_label(path: PathRecord, chosen: PathRecord | None, outcome: Outcome) -> float | None:
    if path.chosen:
        return outcome.reward
    if path.status == PathStatus.FAILED.value:
        return 0.0
    if path.status != PathStatus.COMPLETED.value or path.answer is None:
        return None
    if outcome.correct_answer is not None:
        return float(answers_agree(path.answer, outcome.correct_answer))
    if chosen is not None and chosen.answer is not None:
        if answers_agree(path.answer, chosen.answer):
            return outcome.reward
        if outcome.reward >= 1.0:
            return 0.0
    return None
