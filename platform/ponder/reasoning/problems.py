"""Math word problems from the data files, with a fixed train/dev split."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ponder.reasoning.plan import parse_number

DEV_FRACTION_PERCENT = 10


@dataclass(frozen=True)
class Problem:
    """A question with its numeric answer."""

    question: str
    answer: float
    source: str


def split_of(question: str) -> str:
    """'dev' for a fixed ~10% of questions (by content hash), else 'train'."""
    bucket = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % 100
    return "dev" if bucket < DEV_FRACTION_PERCENT else "train"


def load_problems(path: Path, split: str | None = None, limit: int | None = None) -> list[Problem]:
    """Read MAWPS/ASDiv ({question, answer: number}) or GSM8K ({question, answer: '... #### N'})."""
    problems = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        raw = row["answer"]
        if isinstance(raw, str):
            match = re.search(r"####\s*(.+)$", raw.strip())
            value = parse_number(match.group(1).strip()) if match else None
        else:
            value = float(raw)
        if value is None:
            continue
        question = str(row["question"]).strip()
        if split is not None and split_of(question) != split:
            continue
        problems.append(Problem(question, value, path.stem))
        if limit is not None and len(problems) >= limit:
            break
    return problems


def is_correct(predicted: float | None, expected: float) -> bool:
    """Numeric match with a small relative tolerance."""
    if predicted is None:
        return False
    return abs(predicted - expected) <= 1e-4 * max(1.0, abs(expected))
