"""The problems of the learning benchmark: an unseen stream to learn from, and held-out
problems to measure on, disjoint and both outside every offline training run.

Every offline run (adapter, student, RL, path verifier, answer ranker) trains on the
train split only (`problems.split_of`); the dev split and everything made from it are
never trained on. The dev split's problems are cut in two by a hash of their id:
- the stream half: its dev problems, their robustness variants (seed 0, as in the
  robustness dev set) and more variants made with other seeds (1 and 2), all in a fixed
  shuffled order. Simulated traffic comes from here, and its outcomes are reported.
- the held-out half: its dev problems and their robustness-set variants. Measurements
  are taken here; nothing of it is ever reported.
A variant belongs to its parent's half, so no story is in both.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from ponder.reasoning.problems import Problem, split_of
from ponder.reasoning.robustness import perturb_problems

STREAM = "stream"
HELD_OUT = "held_out"


def half_of(parent_question: str) -> str:
    """The half a dev problem (and every variant of it) belongs to, by its text (the data
    has a few problems twice under two ids: both copies fall in one half)."""
    normalised = " ".join(parent_question.split()).lower()
    bucket = int(hashlib.sha256(f"learning:{normalised}".encode()).hexdigest()[:8], 16)
    return STREAM if bucket % 2 == 0 else HELD_OUT


@dataclass(frozen=True)
class LearningProblems:
    stream: list[Problem]
    held_out: list[Problem]
    stream_parents: frozenset[str]
    held_out_parents: frozenset[str]
    story_of: dict[str, str]  # a problem's question -> the id of the dev problem it varies


def learning_problems(
    data_file: Path,
    robust_file: Path,
    extra_seeds: tuple[int, ...] = (1, 2),
    shuffle_seed: int = 0,
) -> LearningProblems:
    """The stream and the held-out problems (see the module's text)."""
    rows = [json.loads(line) for line in data_file.read_text().splitlines() if line.strip()]
    dev = {
        str(row.get("id", f"row-{i}")): row
        for i, row in enumerate(rows)
        if split_of(str(row["question"]).strip()) == "dev"
    }
    robust = [json.loads(line) for line in robust_file.read_text().splitlines() if line.strip()]
    more = [(seed, v) for seed in extra_seeds for v in perturb_problems(rows, seed=seed)]
    stream: dict[str, Problem] = {}
    held_out: dict[str, Problem] = {}
    stories: dict[str, dict[str, str]] = {STREAM: {}, HELD_OUT: {}}

    parent_text = {pid: str(row["question"]).strip() for pid, row in dev.items()}

    def side(parent: str) -> str:
        return half_of(parent_text[parent])

    def add(parent: str, question: str, answer: float, source: str) -> None:
        into = stream if side(parent) == STREAM else held_out
        into.setdefault(question, Problem(question, answer, source))
        stories[side(parent)].setdefault(question, parent)

    for problem_id, row in dev.items():
        add(problem_id, str(row["question"]).strip(), float(row["answer"]), "dev")
    for variant in robust:
        add(str(variant["parent_id"]), variant["question"], float(variant["answer"]), "robust-dev")
    for seed, extra in more:
        if side(extra.parent_id) == STREAM:
            add(extra.parent_id, extra.question, extra.answer, f"robust-seed-{seed}")
    # A variant can coincide with a problem of the other half (a renumbering that lands
    # on its numbers): it stays held out only.
    ordered = sorted((p for q, p in stream.items() if q not in held_out), key=lambda p: p.question)
    random.Random(shuffle_seed).shuffle(ordered)
    parents = set(dev)
    return LearningProblems(
        stream=ordered,
        held_out=sorted(held_out.values(), key=lambda p: (p.source, p.question)),
        stream_parents=frozenset(p for p in parents if side(p) == STREAM),
        held_out_parents=frozenset(p for p in parents if side(p) == HELD_OUT),
        story_of={**stories[STREAM], **stories[HELD_OUT]},
    )
