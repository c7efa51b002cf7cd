"""What a problem's wording says, for the path verifier: which operations its question
asks for, and which of its quantities the question is about.

A small model writes the expression it memorised for a familiar story; on a changed
question or beside an irrelevant number that expression is wrong, and these cues are
what tells the verifier so. They are read once per problem (deterministic, no model),
and combined with a program's shape in `paths.path_features`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ponder.reasoning.plan import NUMBER_PATTERN, parse_number

_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_WORD = re.compile(r"[A-Za-z]+")
_OPERATOR = re.compile(r" ([-+*/]) ")

# Words that say nothing about what is counted.
_STOPWORD_TEXT = """a an the and or but if then than so of in on at to for from by with into
    onto over under about after before during while as is are was were be been being am do does did
    has have had having will would can could should shall may might must this that these
    those there here it its he she they them his her their him we us our you your i me my
    how many much what which who whom whose when where why all some any each every per more
    less most least few fewer other another also still now only just very too not no yes
    same such one two three four five six seven eight nine ten total left altogether
    together got get gets give gave given take took make made find number amount"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Question cues per operation (word or phrase, lower case, matched on word boundaries).
ADD_CUES = ("total", "altogether", "in all", "together", "combined", "sum", "overall")
SUB_CUES = (
    "more",
    "fewer",
    "less",
    "left",
    "remain",
    "remaining",
    "difference",
    "longer",
    "shorter",
    "taller",
    "older",
    "younger",
    "still",
    "lost",
    "change",
    "than",
)
DIV_CUES = ("each", "per", "every", "average", "equally", "split", "share", "times")
MUL_BODY_CUES = ("each", "every", "per", "apiece", "a piece", "times", "rows of")

OPERATORS = ("+", "-", "*", "/")
WORD_OPERATOR_BUCKETS = 128  # hashed (question word, operator) pairs the verifier weighs


@dataclass(frozen=True)
class ProblemCues:
    """Per problem: cue flags of its question, and each quantity's relevance to it."""

    asks_total: float
    asks_difference: float
    asks_share: float
    body_rate: float
    relevance: tuple[float, ...]  # one per quantity, in order: 1 = its sentence is asked about
    question_words: tuple[str, ...] = ()  # the asking sentence's words, names left out


def _has_any(text: str, cues: Iterable[str]) -> bool:
    lower = text.lower()
    return any(re.search(rf"\b{re.escape(cue)}\b", lower) for cue in cues)


def content_words(sentence: str, first_word_is_name: bool = False) -> set[str]:
    """Lower-case content words with a crude plural strip; capitalised words (names) are
    left out, except a sentence's first word, which is capitalised anyway."""
    words = _WORD.findall(sentence)
    out = set()
    for position, word in enumerate(words):
        if word[0].isupper() and (position > 0 or first_word_is_name):
            continue
        lower = word.lower()
        if lower in _STOPWORDS or len(lower) < 3:
            continue
        out.add(lower[:-1] if lower.endswith("s") and len(lower) > 3 else lower)
    return out


def read_cues(problem: str) -> ProblemCues:
    """Cues of the asking sentence and the relevance of every quantity to it."""
    sentences = [s.strip() for s in _SENTENCE.split(problem.strip()) if s.strip()]
    asked = [s for s in sentences if s.endswith("?")]
    question = asked[-1] if asked else (sentences[-1] if sentences else "")
    body = " ".join(s for s in sentences if s != question)
    asked_words = content_words(question)
    relevance: list[float] = []
    for sentence in sentences:
        words = content_words(sentence)
        relevant = sentence == question or not asked_words or bool(words & asked_words)
        for match in NUMBER_PATTERN.finditer(sentence):
            if parse_number(match.group().rstrip(",")) is not None:
                relevance.append(float(relevant))
    return ProblemCues(
        asks_total=float(_has_any(question, ADD_CUES)),
        asks_difference=float(_has_any(question, SUB_CUES)),
        asks_share=float(_has_any(question, DIV_CUES)),
        body_rate=float(_has_any(body, MUL_BODY_CUES)),
        relevance=tuple(relevance),
        question_words=tuple(sorted(_plain_words(question))),
    )


def _plain_words(sentence: str) -> set[str]:
    """Lower-case words of a sentence, names (capitalised past the first word) left out."""
    words = _WORD.findall(sentence)
    return {w.lower() for i, w in enumerate(words) if i == 0 or not w[0].isupper()}


def hashed_bucket(key: str, buckets: int) -> int:
    """A stable bucket of a feature key (the same in every process and run)."""
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % buckets


def word_operator_features(words: Iterable[str], program: str) -> list[float]:
    """Each (question word, operator of the program) pair adds the operator's share to its
    hashed bucket: what lets the verifier learn that "difference" wants a minus and
    "each" in a question a division, from the model's own right and wrong programs."""
    buckets = [0.0] * WORD_OPERATOR_BUCKETS
    shares = operator_shares(program)
    for word in words:
        for operator, share in zip(OPERATORS, shares, strict=True):
            if share > 0:
                buckets[hashed_bucket(f"{word}|{operator}", WORD_OPERATOR_BUCKETS)] += share
    return buckets


def operator_shares(program: str) -> tuple[float, float, float, float]:
    """Share of + - * / among a program's operators (expression or `a op b = c` lines)."""
    found = [op for line in program.splitlines() for op in _OPERATOR.findall(line.split("=")[0])]
    if not found:
        return (0.0, 0.0, 0.0, 0.0)
    return (
        found.count("+") / len(found),
        found.count("-") / len(found),
        found.count("*") / len(found),
        found.count("/") / len(found),
    )


def used_positions(program: str, quantities: tuple[float, ...]) -> list[int]:
    """Which quantities (by position) a program uses: each operand matched to the first
    unused quantity of that value, so a value given twice counts each use."""
    taken: list[int] = []
    for line in program.splitlines():
        left = line.split("=")[0]
        for match in NUMBER_PATTERN.finditer(left):
            value = parse_number(match.group())
            for index, quantity in enumerate(quantities):
                if index not in taken and value is not None and abs(quantity - value) < 1e-9:
                    taken.append(index)
                    break
    return taken
