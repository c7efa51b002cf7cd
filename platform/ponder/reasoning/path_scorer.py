"""The learned path scorer: logistic regression over path features, versioned on disk."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.reasoning.paths import CONTEXT_FEATURES, FEATURE_NAMES

DEFAULT_SCORER_PATH = Path(__file__).with_name("scorer_default.json")
_CONTEXT_MASK = np.array([name in CONTEXT_FEATURES for name in FEATURE_NAMES])


def sigmoid(logit: float) -> float:
    return float(1.0 / (1.0 + math.exp(-min(max(logit, -30.0), 30.0))))


@dataclass(frozen=True)
class PathScorer:
    """P(correct | features) = sigmoid(w . (x - mean) / std + b)."""

    version: str
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    metrics: dict[str, Any]

    def score_many(self, rows: list[list[float]]) -> list[float]:
        if not rows:
            return []
        return [
            sigmoid(own + ctx)
            for own, ctx in zip(self.own_logits(rows), self.context_logits(rows), strict=True)
        ]

    def _terms(self, rows: list[list[float]]) -> Any:
        x = (np.asarray(rows, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        return x * np.asarray(self.weights)

    def own_logits(self, rows: list[list[float]]) -> list[float]:
        """The part of the logit that depends only on the path itself (cacheable by prefix)."""
        if not rows:
            return []
        own = self._terms(rows)[:, ~_CONTEXT_MASK].sum(axis=1) + self.bias
        return [float(v) for v in own]

    def context_logits(self, rows: list[list[float]]) -> list[float]:
        """The part that depends on the other branches (agreement), added at read time."""
        if not rows:
            return []
        return [float(v) for v in self._terms(rows)[:, _CONTEXT_MASK].sum(axis=1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "features": list(FEATURE_NAMES),
            "weights": list(self.weights),
            "bias": self.bias,
            "mean": list(self.mean),
            "std": list(self.std),
            "metrics": self.metrics,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def load_scorer(path: Path = DEFAULT_SCORER_PATH) -> PathScorer:
    """Load a scorer file; its feature list must match this code's."""
    try:
        return scorer_from_json(json.loads(path.read_text()))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def scorer_from_json(data: dict[str, Any]) -> PathScorer:
    """A scorer from its to_json() form; its feature list must match this code's."""
    if tuple(data["features"]) != FEATURE_NAMES:
        raise ValueError("features differ from this version of the planner")
    return PathScorer(
        version=str(data["version"]),
        weights=tuple(float(w) for w in data["weights"]),
        bias=float(data["bias"]),
        mean=tuple(float(m) for m in data["mean"]),
        std=tuple(float(s) for s in data["std"]),
        metrics=dict(data.get("metrics", {})),
    )


def fit_scorer(
    rows: list[list[float]],
    labels: list[int],
    version: str,
    l2: float = 1e-2,
    steps: int = 2000,
    learning_rate: float = 0.1,
) -> PathScorer:
    """Fit logistic regression with L2 by full-batch gradient descent (deterministic)."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = (x - mean) / std
    w = np.zeros(z.shape[1])
    prior = min(max(y.mean(), 1e-3), 1 - 1e-3)
    b = math.log(prior / (1 - prior))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w + b, -30, 30)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        w -= learning_rate * grad_w
        b -= learning_rate * grad_b
    return PathScorer(
        version=version,
        weights=tuple(float(v) for v in w),
        bias=float(b),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        metrics={},
    )


def log_loss(scores: list[float], labels: list[int] | list[float]) -> float:
    """Mean cross-entropy; labels may be soft (a reward in [0, 1])."""
    eps = 1e-7
    return float(
        -np.mean(
            [
                y * math.log(max(s, eps)) + (1 - y) * math.log(max(1 - s, eps))
                for s, y in zip(scores, labels, strict=True)
            ]
        )
    )
