"""The promotion gate of answer-ranker versions: a paired comparison on held-back problems.

Both versions answer the same held-back problems (never trained on by either). Only the
problems where they disagree on being right carry information: the candidate wins where
only it is right, loses where only the active one is. It is promoted when it wins more
than it loses by at least `min_effect` of the problems and an exact one-sided sign test
says a tie would give so lopsided a split with probability at most `max_p_value`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ponder.learning.gate import Verdict


@dataclass(frozen=True)
class PairedGateSettings:
    min_problems: int = 40  # held-back problems needed before deciding
    min_effect: float = 0.01  # (wins - losses) / problems needed, at least one net win
    max_p_value: float = 0.25  # one-sided sign test on the discordant problems


@dataclass(frozen=True)
class PairedDecision:
    verdict: Verdict
    problems: int
    active_right: int
    candidate_right: int
    wins: int  # the candidate right, the active version wrong
    losses: int  # the active version right, the candidate wrong
    p_value: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairedDecision:
        return cls(**(data | {"verdict": Verdict(data["verdict"])}))


def sign_test_p(wins: int, losses: int) -> float:
    """P(at least `wins` of wins + losses fair coin flips come up heads)."""
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def paired_decision(
    active: Sequence[bool], candidate: Sequence[bool], settings: PairedGateSettings
) -> PairedDecision:
    if len(active) != len(candidate):
        raise ValueError("both versions must be judged on the same problems")
    n = len(active)
    wins = sum(c and not a for a, c in zip(active, candidate, strict=True))
    losses = sum(a and not c for a, c in zip(active, candidate, strict=True))
    p = sign_test_p(wins, losses)
    needed = max(1, math.ceil(settings.min_effect * n))
    summary = (
        f"{sum(candidate)}/{n} right against the active {sum(active)}/{n} on held-back "
        f"problems: {wins} won, {losses} lost, one-sided sign test p={p:.3f}"
    )
    if n < settings.min_problems:
        verdict = Verdict.DEFER
        reason = f"{n} held-back problems, {settings.min_problems} needed"
    elif wins - losses < needed:
        verdict = Verdict.REJECT
        reason = f"{summary}; needs {needed} more wins than losses"
    elif p > settings.max_p_value:
        verdict = Verdict.REJECT
        reason = f"{summary}; needs p <= {settings.max_p_value:g}"
    else:
        verdict = Verdict.PROMOTE
        reason = summary
    return PairedDecision(verdict, n, sum(active), sum(candidate), wins, losses, p, reason)
