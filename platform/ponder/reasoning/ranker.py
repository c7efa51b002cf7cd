"""The answer ranker: chooses among a problem's candidate answers (`answer_features.py`:
every distinct answer of the sampled programs and, with program search, every short
program over the quantities).

A path verifier scores one program at a time and a vote adds the scores up; the ranker
looks at the candidates side by side and learns how much the model's votes are worth
against what each program does with the problem's words. It is a small network (one
hidden layer) scoring each candidate's feature row, with a softmax over one problem's
candidates; `ranker_fit.fit_ranker` fits it on the model's own sampled programs on
training problems, labelled by executing them against the known answer, so it is trained
to do exactly what it is used for: pick one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ponder.reasoning.answer_features import (
    FEATURE_NAMES,
    Candidate,
    SampledProgram,
    candidate_rows,
    candidates,
    doubted,
    read_problem,
)

DEFAULT_RANKER_PATH = Path(__file__).with_name("ranker_default.json")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


@dataclass(frozen=True)
class AnswerRanker:
    """P(candidate i | the problem's candidates) = softmax_i(v . relu(W z_i + b)), z_i the
    standardised feature row."""

    version: str
    hidden_weights: tuple[tuple[float, ...], ...]  # W: one row per hidden unit
    hidden_bias: tuple[float, ...]  # b
    output_weights: tuple[float, ...]  # v
    mean: tuple[float, ...]
    std: tuple[float, ...]
    search: bool  # whether it was fitted with (and so expects) program search's candidates
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (
            np.asarray(self.mean),
            np.asarray(self.std),
            np.asarray(self.hidden_weights).T,
            np.asarray(self.hidden_bias),
            np.asarray(self.output_weights),
        )

    def logits(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        mean, std, hidden, bias, output = self._arrays
        z = np.nan_to_num((np.asarray(rows, dtype=np.float64) - mean) / std, posinf=0, neginf=0)
        return np.maximum(z @ hidden + bias, 0.0) @ output

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if not rows:
            return []
        return [float(p) for p in _softmax(self.logits(rows))]

    def rank(
        self, problem: str, sampled: Sequence[SampledProgram], doubt_yield: float = 0.0
    ) -> list[tuple[Candidate, float]]:
        """The problem's candidates with their probabilities, the most likely first.

        With `doubt_yield` > 0, a first candidate whose program the problem's words speak
        against (`answer_features.doubted`) gives way to the likeliest one they do not
        speak against, if that one has at least `doubt_yield` times its probability."""
        reading = read_problem(problem)
        found = candidates(reading, sampled, self.search)
        rows = candidate_rows(reading, found)
        ranked = sorted(
            zip(found, self.probabilities(rows), strict=True),
            key=lambda item: (-item[1], -item[0].votes),
        )
        if doubt_yield > 0 and ranked and doubted(reading, ranked[0][0].program):
            top = ranked[0][1]
            for index, (candidate, probability) in enumerate(ranked[1:], start=1):
                if probability < doubt_yield * top:
                    break
                if not doubted(reading, candidate.program):
                    ranked.insert(0, ranked.pop(index))
                    break
        return ranked

    def to_json(self) -> dict[str, Any]:
        def rounded(values: Sequence[float]) -> list[float]:
            return [round(v, 6) for v in values]

        return {
            "version": self.version,
            "features": list(FEATURE_NAMES),
            "search": self.search,
            "hidden_weights": [rounded(row) for row in self.hidden_weights],
            "hidden_bias": rounded(self.hidden_bias),
            "output_weights": rounded(self.output_weights),
            "mean": rounded(self.mean),
            "std": rounded(self.std),
            "metrics": self.metrics,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")


def load_ranker(path: Path = DEFAULT_RANKER_PATH) -> AnswerRanker:
    """Load a ranker file; its feature list must match this code's."""
    try:
        return ranker_from_json(json.loads(path.read_text()))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def ranker_from_json(data: dict[str, Any]) -> AnswerRanker:
    """A ranker from its JSON form (`AnswerRanker.to_json`)."""
    if tuple(data["features"]) != FEATURE_NAMES:
        raise ValueError("features differ from this version of the ranker")
    return AnswerRanker(
        version=str(data["version"]),
        hidden_weights=tuple(tuple(float(w) for w in row) for row in data["hidden_weights"]),
        hidden_bias=tuple(float(b) for b in data["hidden_bias"]),
        output_weights=tuple(float(v) for v in data["output_weights"]),
        mean=tuple(float(m) for m in data["mean"]),
        std=tuple(max(float(s), 1e-6) for s in data["std"]),  # rounding must not make 0
        search=bool(data["search"]),
        metrics=dict(data.get("metrics", {})),
    )
