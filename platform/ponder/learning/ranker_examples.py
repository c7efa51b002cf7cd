"""What a reported outcome teaches the answer ranker, and which problems are held back.

A logged reasoning keeps its problem text and its sampled programs (program, answer,
mean log-probability, greedy or not): the ranker's own inputs. The candidate rows are
recomputed from them when the ranker is fitted, so an example stays usable when the
features change. An outcome labels the candidates through the right answer: the one the
caller reported, or the chosen answer when the caller said it was right. An outcome that
only says the chosen answer was wrong teaches the ranker nothing (the right one among the
rest is unknown) and is left out.

Held back: a fixed share of *problem groups*, by a hash of the group, never of the
outcome's position in the log. A problem's group is the one its caller named with the
outcome (`problem_group`: a template, a ticket family, the story a variant rewords), or
else the problem itself (its text, case and spacing aside). A group that is held back once
is held back every time it comes again: no candidate version ever trained on a problem the
gate judges it on, and with groups named, on no variant of one either, so the gate
measures what carries over to problems unlike those learned rather than what a version
remembers of their other variants. Numbers are not masked by default: a tenant whose
traffic is one template with new numbers would otherwise hold back all of it or none.
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
    group: str = ""  # the caller's problem group; empty: the problem is its own group

    @property
    def holdout_key(self) -> str:
        return holdout_key(self.problem, self.group)

    def to_json(self) -> str:
        return json.dumps(
            {
                "problem": self.problem,
                "programs": [asdict(p) for p in self.programs],
                "right_answer": self.right_answer,
            }
            | ({"group": self.group} if self.group else {}),
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RankerExample:
        data: dict[str, Any] = json.loads(text)
        return cls(
            problem=str(data["problem"]),
            programs=tuple(SampledProgram(**p) for p in data["programs"]),
            right_answer=float(data["right_answer"]),
            group=str(data.get("group", "")),
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


def holdout_key(problem: str, group: str = "") -> str:
    """What decides a problem's side of the held-back split: its caller-named group, or
    else its text, case and spacing aside."""
    if group.strip():
        return "group:" + " ".join(group.split())
    return " ".join(problem.split()).lower()


def held_back(key: str, percent: int) -> bool:
    """Whether a holdout key (`holdout_key`) falls in the held-back slice (`percent` of
    all keys)."""
    bucket = int(hashlib.sha256(b"holdout:" + key.encode()).hexdigest()[:8], 16) % 100
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
