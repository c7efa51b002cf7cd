"""Fitting the answer ranker (`ranker.py`) on the model's own sampled programs: one
softmax over each training problem's candidates, the right ones (by executing them against
the known answer) as the target, and its accuracy on held-out problems beside the plain
vote and the greedy program on the same samples."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.reasoning.answer_features import (
    FEATURE_NAMES,
    SampledProgram,
    candidate_rows,
    candidates,
    read_problem,
)
from ponder.reasoning.problems import is_correct
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.verifier import SampledProblem, replay, sampled_programs


@dataclass(frozen=True)
class RankingExample:
    """One training problem: its candidates' rows and which of them are right."""

    rows: list[list[float]]
    right: list[bool]


@dataclass(frozen=True)
class RankingArrays:
    """Many problems' candidates at once: rows stacked, their right flags, and how many
    candidates each problem has, in order (compact: the rehearsal set stays float16)."""

    rows: np.ndarray  # [candidates, features]
    right: np.ndarray  # [candidates], bool
    sizes: np.ndarray  # [problems], int

    @classmethod
    def of(cls, examples: Sequence[RankingExample]) -> RankingArrays:
        width = len(FEATURE_NAMES)
        rows = [row for e in examples for row in e.rows]
        return cls(
            np.asarray(rows, dtype=np.float64).reshape(len(rows), width),
            np.asarray([r for e in examples for r in e.right], dtype=np.bool_),
            np.asarray([len(e.rows) for e in examples], dtype=np.int64),
        )

    def plus(self, examples: Sequence[RankingExample]) -> RankingArrays:
        more = RankingArrays.of(examples)
        return RankingArrays(
            np.concatenate([self.rows.astype(np.float64), more.rows]),
            np.concatenate([self.right, more.right]),
            np.concatenate([self.sizes, more.sizes]),
        )

    def usable(self) -> RankingArrays:
        """Only the problems with a right candidate among several (the rest teach
        nothing)."""
        problem = np.repeat(np.arange(len(self.sizes)), self.sizes)
        rights = np.bincount(problem, weights=self.right, minlength=len(self.sizes))
        keep = (rights > 0) & (self.sizes > 1)
        if keep.all():
            return self
        return RankingArrays(self.rows[keep[problem]], self.right[keep[problem]], self.sizes[keep])


def ranking_example(
    problem: str, answer: float, sampled: Sequence[SampledProgram], search: bool
) -> RankingExample:
    reading = read_problem(problem)
    found = candidates(reading, sampled, search)
    return RankingExample(
        rows=candidate_rows(reading, found),
        right=[is_correct(c.answer, answer) for c in found],
    )


def fit_ranker(
    examples: Sequence[RankingExample],
    search: bool,
    hidden: int = 64,
    weight_decay: float = 1e-2,
    steps: int = 300,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> AnswerRanker:
    """Fit the network by full-batch Adam on the softmax cross-entropy over each problem's
    candidates (the target: uniform over its right ones); problems with no right candidate
    teach nothing and are left out. Settings chosen two-fold on the train split's samples
    (BENCHMARKS.md)."""
    return fit_ranker_arrays(
        RankingArrays.of(examples), search, hidden, weight_decay, steps, learning_rate, seed
    )


def fit_ranker_arrays(
    examples: RankingArrays,
    search: bool,
    hidden: int = 64,
    weight_decay: float = 1e-2,
    steps: int = 300,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> AnswerRanker:
    """`fit_ranker` on examples kept as arrays (the rehearsal set plus outcome examples)."""
    import torch

    usable = examples.usable()
    if not len(usable.sizes):
        raise ValueError("no training problem has a right candidate among several")
    x = usable.rows.astype(np.float64, copy=False)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-9] = 1.0
    standardised = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), 16_384):  # no full-size float64 temporary
        standardised[start : start + 16_384] = (x[start : start + 16_384] - mean) / std
    z = torch.from_numpy(standardised)
    right = torch.tensor(usable.right, dtype=torch.float32)
    sizes = torch.tensor(usable.sizes, dtype=torch.int64)
    group = torch.repeat_interleave(sizes)
    starts = torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes)
    offset = torch.arange(len(group)) - starts
    count = len(usable.sizes)
    per_problem = torch.zeros(count).index_add_(0, group, right)
    target = right / per_problem[group]
    torch.manual_seed(seed)
    first, last = torch.nn.Linear(z.shape[1], hidden), torch.nn.Linear(hidden, 1)
    network = torch.nn.Sequential(first, torch.nn.ReLU(), last)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(steps):
        logits = network(z).squeeze(1)
        padded = torch.full((count, int(sizes.max())), float("-inf"))
        padded = padded.index_put((group, offset), logits)
        log_p = logits - torch.logsumexp(padded, dim=1)[group]
        loss = -torch.zeros(count).index_add_(0, group, target * log_p).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    hidden_weights = first.weight.detach().double().numpy()
    digest = hashlib.sha256(np.round(hidden_weights, 6).tobytes()).hexdigest()[:8]
    return AnswerRanker(
        version=f"r2-{digest}",
        hidden_weights=tuple(tuple(float(w) for w in row) for row in hidden_weights),
        hidden_bias=tuple(float(b) for b in first.bias.detach().double()),
        output_weights=tuple(float(v) for v in last.weight.detach().double()[0]),
        mean=tuple(float(a) for a in mean),
        std=tuple(float(a) for a in std),
        search=search,
    )


# The sample counts the ranker is fitted at: each training problem enters once per count,
# its candidates from its first k programs, so the ranker learns what a vote is worth at
# the counts Reason's waves rank (3 programs first, then 5, 7, 8). Fitted at 8 alone it
# trusted 2 votes of 3 as it had learned to trust 2 of 8. Chosen two-fold on the train
# split (BENCHMARKS.md, "Answer ranker").
TRAIN_SAMPLE_COUNTS: tuple[int, ...] = (3, 8)


def examples_of(
    records: Sequence[SampledProblem], search: bool, branches: int | None = None
) -> list[RankingExample]:
    return [
        ranking_example(r.question, r.answer, sampled_programs(r.paths[:branches]), search)
        for r in records
    ]


def examples_at_counts(
    records: Sequence[SampledProblem], search: bool, counts: Sequence[int]
) -> list[RankingExample]:
    """`examples_of` at each sample count in turn (a problem once per count)."""
    return [e for count in counts for e in examples_of(records, search, count)]


def held_out_accuracy(
    ranker: AnswerRanker, records: Sequence[SampledProblem], branches: int
) -> dict[str, Any]:
    """Right answers of the ranker, the plain vote and the greedy program on the first
    `branches` samples of each problem, and how often any candidate was right."""
    right = {"ranker": 0, "majority": 0, "greedy": 0, "any_candidate": 0}
    for record in records:
        ranked = ranker.rank(record.question, sampled_programs(record.paths[:branches]))
        right["ranker"] += bool(ranked) and is_correct(ranked[0][0].answer, record.answer)
        right["any_candidate"] += any(is_correct(c.answer, record.answer) for c, _ in ranked)
        right["majority"] += replay(record, branches, "majority")[0]
        right["greedy"] += replay(record, 1, "greedy")[0]
    return {"problems": len(records), "branches": branches} | right


def fit_answer_ranker(
    train: Sequence[SampledProblem],
    held_out: Mapping[str, Sequence[SampledProblem]],
    search: bool,
    note: str,
    sample_counts: Sequence[int] = TRAIN_SAMPLE_COUNTS,
) -> AnswerRanker:
    """Fit on the training records at each sample count; measure on each held-out set at
    3, 8 and 16 branches."""
    ranker = fit_ranker(examples_at_counts(train, search, sample_counts), search)
    metrics: dict[str, Any] = {
        "trained_on": note,
        "search": search,
        "train_problems": len(train),
        "sample_counts": list(sample_counts),
    }
    for name, records in held_out.items():
        metrics[f"held_out_{name}"] = [
            held_out_accuracy(ranker, records, branches) for branches in (3, 8, 16)
        ]
    return dataclasses.replace(ranker, metrics=metrics)


# -- the rehearsal set: the offline training problems' rows, kept for refits --------------

DEFAULT_REHEARSAL_PATH = Path(__file__).with_name("ranker_rehearsal.npz")


def features_digest() -> str:
    return hashlib.sha256("\n".join(FEATURE_NAMES).encode()).hexdigest()[:16]


def save_rehearsal(examples: Sequence[RankingExample], path: Path) -> None:
    """The examples' rows (float16: every feature is within +-8 and a ranking needs no
    more digits), right flags and sizes, with the digest of the feature list."""
    arrays = RankingArrays.of(examples)
    with path.open("wb") as out:
        np.savez_compressed(
            out,
            rows=arrays.rows.astype(np.float16),
            right=arrays.right,
            sizes=arrays.sizes.astype(np.int32),
            features=np.array(features_digest()),
        )


def load_rehearsal(path: Path = DEFAULT_REHEARSAL_PATH) -> RankingArrays:
    """The ranker's offline training examples; refused when the features changed since."""
    with np.load(path) as data:
        if str(data["features"]) != features_digest():
            raise ValueError(f"{path}: written for another feature list; refit the ranker")
        return RankingArrays(data["rows"], data["right"], data["sizes"].astype(np.int64))
