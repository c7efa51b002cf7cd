"""The promotion gate of answer-ranker versions: a paired comparison on held-back problems.

Both versions answer the same held-back problems (never trained on by either). Only the
problems where they disagree on being right carry information: the candidate wins where
only it is right, loses where only the active one is. It is promoted when it wins more
than it loses by at least `min_effect` of the problems and an exact one-sided sign test
says a tie would give so lopsided a split with probability at most `max_p_value`.

The sign test counts *groups*, not problems, when the problems come in groups (the
`problem_group` a caller names: variants of one task, held back together). Variants of
one task tend to be won or lost together, so counting each as its own coin flip would
overstate the evidence; each group instead counts once, as won where the candidate wins
more of its problems than it loses, lost where fewer. Without groups every problem is its
own group and the two tests are the same.
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
    p_value: float  # one-sided sign test over the groups won and lost
    reason: str
    groups: int = 0  # held-back groups (0: a decision logged before groups were counted)
    group_wins: int = 0  # groups where the candidate won more problems than it lost
    group_losses: int = 0  # groups where it lost more than it won

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


def group_signs(
    active: Sequence[bool], candidate: Sequence[bool], groups: Sequence[str]
) -> tuple[int, int, int]:
    """(groups, groups won, groups lost): each group's net wins decide its sign."""
    net: dict[str, int] = {}
    for a, c, group in zip(active, candidate, groups, strict=True):
        net[group] = net.get(group, 0) + int(c and not a) - int(a and not c)
    return len(net), sum(v > 0 for v in net.values()), sum(v < 0 for v in net.values())


def paired_decision(
    active: Sequence[bool],
    candidate: Sequence[bool],
    settings: PairedGateSettings,
    groups: Sequence[str] | None = None,
) -> PairedDecision:
    """`groups`: each problem's group (its holdout key); None: every problem its own."""
    if len(active) != len(candidate):
        raise ValueError("both versions must be judged on the same problems")
    n = len(active)
    keys = [str(i) for i in range(n)] if groups is None else list(groups)
    if len(keys) != n:
        raise ValueError("one group per judged problem")
    wins = sum(c and not a for a, c in zip(active, candidate, strict=True))
    losses = sum(a and not c for a, c in zip(active, candidate, strict=True))
    group_count, group_wins, group_losses = group_signs(active, candidate, keys)
    p = sign_test_p(group_wins, group_losses)
    needed = max(1, math.ceil(settings.min_effect * n))
    summary = (
        f"{sum(candidate)}/{n} right against the active {sum(active)}/{n} on held-back "
        f"problems: {wins} won, {losses} lost"
    )
    if group_count < n:
        summary += f"; in {group_count} groups {group_wins} won, {group_losses} lost"
    summary += f", one-sided sign test p={p:.3f}"
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
    return PairedDecision(
        verdict,
        n,
        sum(active),
        sum(candidate),
        wins,
        losses,
        p,
        reason,
        group_count,
        group_wins,
        group_losses,
    )
