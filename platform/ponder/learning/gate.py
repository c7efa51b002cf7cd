"""The promotion gate: a candidate version replaces the active one only when it is no worse
on held-back outcomes (outcomes never trained on, so both versions predict before learning).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from ponder.learning.online import Metrics

GateMetric = Literal["log_loss", "accuracy"]


class Verdict(enum.Enum):
    PROMOTE = "promoted"
    REJECT = "rejected"
    DEFER = "deferred"  # too few held-back paths to judge yet


@dataclass(frozen=True)
class GateSettings:
    metric: GateMetric = "log_loss"
    margin: float = 0.0
    min_examples: int = 20


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reason: str
    active: Metrics
    candidate: Metrics


def decide(active: Metrics, candidate: Metrics, settings: GateSettings) -> GateDecision:
    if candidate.examples < settings.min_examples:
        return GateDecision(
            Verdict.DEFER,
            f"{candidate.examples} held-back examples, {settings.min_examples} needed",
            active,
            candidate,
        )
    if settings.metric == "log_loss":
        ok = candidate.log_loss <= active.log_loss + settings.margin
        comparison = f"log-loss {candidate.log_loss:.4f} vs active {active.log_loss:.4f}"
    else:
        ok = candidate.accuracy >= active.accuracy - settings.margin
        comparison = f"accuracy {candidate.accuracy:.4f} vs active {active.accuracy:.4f}"
    verdict = Verdict.PROMOTE if ok else Verdict.REJECT
    return GateDecision(verdict, f"{comparison} (margin {settings.margin:g})", active, candidate)
