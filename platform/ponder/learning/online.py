"""Incremental updates of the path scorer, and the metrics versions are compared on.

Same model family as offline training (logistic regression on standardised features).
The standardisation (mean, std) is frozen at the offline scorer's values, so online and
offline weights live in one space and a version can be rolled back to any other.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ponder.reasoning.path_scorer import PathScorer, log_loss


@dataclass(frozen=True)
class UpdateSettings:
    learning_rate: float = 0.05
    l2: float = 1e-3
    max_step: float = 0.5  # cap on the L2 norm of one update (weights and bias together)


class OnlineModel:
    """Logistic regression updated by one SGD step per reported outcome."""

    def __init__(
        self,
        weights: list[float],
        bias: float,
        mean: list[float],
        std: list[float],
        settings: UpdateSettings,
    ) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self._mean = np.asarray(mean, dtype=np.float64)
        self._std = np.asarray(std, dtype=np.float64)
        self._settings = settings

    @classmethod
    def from_scorer(cls, scorer: PathScorer, settings: UpdateSettings) -> OnlineModel:
        return cls(list(scorer.weights), scorer.bias, list(scorer.mean), list(scorer.std), settings)

    def predict(self, rows: list[list[float]]) -> list[float]:
        if not rows:
            return []
        z = (np.asarray(rows, dtype=np.float64) - self._mean) / self._std
        logits = np.clip(z @ self.weights + self.bias, -30, 30)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits))]

    def update(self, rows: list[list[float]], labels: list[float]) -> float:
        """One step on one outcome's rows; returns the norm of the step taken."""
        if not rows:
            return 0.0
        z = (np.asarray(rows, dtype=np.float64) - self._mean) / self._std
        y = np.asarray(labels, dtype=np.float64)
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ self.weights + self.bias, -30, 30)))
        grad_w = z.T @ (p - y) / len(y) + self._settings.l2 * self.weights
        grad_b = float(np.mean(p - y))
        step = self._settings.learning_rate * np.append(grad_w, grad_b)
        norm = float(np.linalg.norm(step))
        if norm > self._settings.max_step:
            step *= self._settings.max_step / norm
            norm = self._settings.max_step
        self.weights -= step[:-1]
        self.bias -= float(step[-1])
        return norm

    def to_scorer(self, version: str, metrics: dict[str, Any]) -> PathScorer:
        return PathScorer(
            version=version,
            weights=tuple(float(w) for w in self.weights),
            bias=self.bias,
            mean=tuple(float(m) for m in self._mean),
            std=tuple(float(s) for s in self._std),
            metrics=metrics,
        )

    def state(self) -> dict[str, Any]:
        return {
            "weights": [float(w) for w in self.weights],
            "bias": self.bias,
            "mean": [float(m) for m in self._mean],
            "std": [float(s) for s in self._std],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], settings: UpdateSettings) -> OnlineModel:
        return cls(state["weights"], state["bias"], state["mean"], state["std"], settings)


def next_version(parent: str, model: OnlineModel) -> str:
    """'<generation>-<digest>': one generation above the parent, digest of the weights."""
    head = parent.split("-", 1)[0]
    generation = int(head) + 1 if head.isdigit() else 1
    digest = hashlib.sha256(repr(model.state()).encode()).hexdigest()[:8]
    return f"{generation}-{digest}"


@dataclass(frozen=True)
class Metrics:
    """Quality of a scorer's predictions on labelled paths."""

    examples: int  # labelled path rows (one per step of each labelled path)
    log_loss: float
    accuracy: float
    calibration_error: float  # expected calibration error over 10 equal-width bins

    def to_json(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "log_loss": self.log_loss,
            "accuracy": self.accuracy,
            "calibration_error": self.calibration_error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        return cls(**data)


def metrics_of(predictions: list[float], labels: list[float]) -> Metrics:
    if not predictions:
        return Metrics(0, math.nan, math.nan, math.nan)
    correct = sum((p >= 0.5) == (y >= 0.5) for p, y in zip(predictions, labels, strict=True))
    return Metrics(
        examples=len(predictions),
        log_loss=log_loss(predictions, labels),
        accuracy=correct / len(predictions),
        calibration_error=calibration_error(predictions, labels),
    )


def calibration_error(predictions: list[float], labels: list[float], bins: int = 10) -> float:
    """Sum over bins of (bin share) x |mean prediction - mean label|."""
    p = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(error)
