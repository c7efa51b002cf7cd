"""What a reported outcome teaches the answer ranker, and which problems are held back.

A logged reasoning keeps its problem text and its sampled programs (program, answer,
mean log-probability, greedy or not): the ranker's own inputs. The candidate rows are
recomputed from them when the ranker is fitted, so an example stays usable when the
features change. An outcome labels the candidates through the right answer: the one the
caller reported, or the chosen answer when the caller said it was right. An outcome that
only says the chosen answer was wrong teaches the ranker nothing (the right one among the
rest is unknown) and is left out.

Held back: a fixed share of *problems*, by a hash of the problem's text, never of the
outcome's position in the log. A problem that is held back once is held back every time
it comes again, so no candidate version ever trained on a problem the gate judges it on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ponder.reasoning.answer_features import SampledProgram
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.ranker_fit import RankingExample, ranking_example


@dataclass(frozen=True)
class RankerExample:
    """One answered problem with its sampled programs and its right answer."""

    problem: str
    programs: tuple[SampledProgram, ...]
    right_answer: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "problem": self.problem,
                "programs": [asdict(p) for p in self.programs],
                "right_answer": self.right_answer,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RankerExample:
        data: dict[str, Any] = json.loads(text)
        return cls(
            problem=str(data["problem"]),
            programs=tuple(SampledProgram(**p) for p in data["programs"]),
            right_answer=float(data["right_answer"]),
        )

    def ranking(self, search: bool) -> RankingExample:
        """The candidates' feature rows and which of them are right."""
        return ranking_example(self.problem, self.right_answer, self.programs, search)


def right_answer_of(
    chosen_answer: float | None, reward: float, correct_answer: float | None
) -> float | None:
    """The answer an outcome says is right, or None when it does not say."""
    if correct_answer is not None:
        return correct_answer
    if reward >= 1.0 and chosen_answer is not None:
        return chosen_answer
    return None


def held_back(problem: str, percent: int) -> bool:
    """Whether a problem belongs to the held-back slice (`percent` of all problems)."""
    normalised = " ".join(problem.split()).lower()
    bucket = int(hashlib.sha256(b"holdout:" + normalised.encode()).hexdigest()[:8], 16) % 100
    return bucket < percent


def top_right(ranker: AnswerRanker, examples: Sequence[RankingExample]) -> list[bool]:
    """Per example, whether the ranker's first candidate is right (False with none)."""
    out = []
    for example in examples:
        if not example.rows:
            out.append(False)
            continue
        logits = ranker.logits(example.rows)
        out.append(bool(example.right[int(logits.argmax())]))
    return out
