"""What each quantity of a word problem counts, read from its words: its unit, and per
what, for a rate. The answer ranker uses it to check a candidate program.

"A box holds 12 pens. How many pens are in 4 boxes?": 12 counts pens per box and 4 counts
boxes, so `12 * 4` gives pens, `12 / 4` gives pens per box per box and `12 + 4` adds pens
to boxes. A program whose units do not add up, or whose result is not what the question
asks for, is suspect. A rate is only read as one when what it is "per" is counted by
another quantity of the problem. (Which way a quantity moves for the asked person is read
in `transfer_signs.py`.)

Deterministic and model-free, as the rest of the ranker's reading (`answer_features.py`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.reasoning.plan import NUMBER_PATTERN, parse_number

_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_END = re.compile(r"[.?!](?:\s|$)")


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that end the noun phrase after a number ("7 books for", "3 pens to Mary").
_PHRASE_END = word_set(
    """of per each every apiece for to in on at and or a an the from with by into than
    is are was were be has have had will would can could does did do that which who
    she he they it his her their its if so as but then now this these those how what
    when where which why"""
)
# Verbs and adverbs that often follow a number's noun ("3 students got off the bus").
_VERBS_AFTER = word_set(
    """got get gets went go goes came come comes took take takes left made make makes ran
    saw gave give gives cost costs bought buy buys sold sell sells ate eat eats live lives
    need needs want wants hold holds contain contains weigh weighs off out away up down back
    already altogether total together were will
    should must might may shall"""
)
# Singular measures that make a number an attribute of the noun after ("a 420 page book").
_MEASURES = word_set("dollar cent page pound mile hour minute foot inch gallon ounce meter")
_LEADING_WORDS = word_set("more fewer less extra new other additional")
_DEFINITE_START = frozenset(["a", "an", "each", "every", "one"])
_NUMBER_OR_WORD = re.compile(r"\d[\d,.]*|[A-Za-z]+")
_MONEY = frozenset(["dollar", "money", "buck"])
_MONEY_VERBS = word_set(
    "spend spent spends cost costs pay paid pays earn earned earns save saved saves "
    "make made makes charge charged charges"
)


def singular(word: str) -> str:
    """A crude singular of a lower-case noun: boxes -> box, berries -> berry, pens -> pen."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _noun(word: str) -> str:
    noun = singular(word.lower())
    return "dollar" if noun in _MONEY else noun


@dataclass(frozen=True)
class QuantityUnit:
    """What a quantity counts ("" when unread), and per what ("" when not a rate)."""

    counts: str = ""
    per: str = ""


@dataclass(frozen=True)
class QuantityRoles:
    """Per quantity of a problem (in order of appearance): its unit and its transfer sign
    towards the asked person (+1 gains, -1 loses, 0 neither or unread); and the unit the
    question asks for ("" when unread)."""

    units: tuple[QuantityUnit, ...]
    signs: tuple[int, ...]
    asked_unit: str


def sentence_spans(problem: str) -> list[tuple[int, int]]:
    ends = [m.end() for m in _SENTENCE_END.finditer(problem)]
    starts = [0, *ends]
    return [(a, b) for a, b in zip(starts, [*ends, len(problem)], strict=True) if b > a]


def noun_phrase(words: Sequence[str]) -> tuple[str, int]:
    """The head noun of the noun phrase the words start with ("" when none, or too short to
    be one), and how many words the phrase took: "red pens to Mary" -> (pen, 2)."""
    phrase: list[str] = []
    index = 0
    while index < len(words) and len(phrase) < 3:
        lower = words[index].lower()
        if _ends_phrase(words[index], bool(phrase)):
            break
        if not (lower in _LEADING_WORDS and not phrase):
            phrase.append(lower)
        index += 1
    noun = _noun(phrase[-1]) if phrase else ""
    return (noun if len(noun) >= 3 else ""), index


def _unit_after(
    problem: str, start: int, end: int, sentence_end: int
) -> tuple[str, str | None, list[str]]:
    """The noun a number counts, what it is per when the phrase says ("9 dollar games": a
    dollar per game), and the words after the noun phrase (to the sentence's end)."""
    if start > 0 and problem[start - 1] == "$":
        return "dollar", None, [w.lower() for w in _WORD.findall(problem[end:sentence_end])]
    words = _NUMBER_OR_WORD.findall(problem[end:sentence_end])
    noun, taken = noun_phrase(words)
    rest = [w.lower() for w in words[taken:]]
    first = words[0].lower() if taken > 1 else ""
    if first in _MEASURES and _noun(first) != noun:
        return _noun(first), noun, rest
    return noun, None, rest


def _subject_each(head: Sequence[str]) -> str:
    """The thing a sentence's rate is per, from the words before its number: "A box holds",
    "If each van can hold" -> box, van ("" when none)."""
    lower = [w.lower() for w in head]
    for index in range(len(lower) - 1, -1, -1):
        starts = index == 0 or (index == 1 and lower[0] in ("if", "when"))
        if lower[index] in ("each", "every") or (starts and lower[index] in _DEFINITE_START):
            return noun_phrase(head[index + 1 :])[0]
    return ""


def _ends_phrase(word: str, after_first: bool) -> bool:
    """A number, a function word, a verb, or a name after the first word."""
    lower = word.lower()
    if word[0].isdigit() or lower in _PHRASE_END or lower in _VERBS_AFTER:
        return True
    if lower.endswith("ing") or (lower.endswith("ed") and len(lower) > 4):
        return True
    return word[0].isupper() and after_first


def _per_after(rest: list[str]) -> str | None:
    """What a rate is per, from the words after its noun: "per box", "a pound", "in each
    bag"; "" for a bare "each"/"apiece" (per the thing counted before it); None if none."""
    if not rest:
        return None
    if rest[0] in ("per", "a", "an", "every", "each") and len(rest) > 1:
        return noun_phrase(rest[1:])[0] or None
    if rest[0] in ("in", "on", "for") and len(rest) > 2 and rest[1] in ("each", "every", "a"):
        return noun_phrase(rest[2:])[0] or None
    if rest[0] in ("each", "apiece"):
        return ""
    return None


def read_units(problem: str, question: str = "") -> tuple[QuantityUnit, ...]:
    """Every quantity's unit, in order of appearance. A rate is read only per something
    another quantity counts or the question asks to count."""
    spans = sentence_spans(problem)
    found: list[tuple[int, str, str | None, str]] = []  # sentence, counts, per, sentence head
    for match in NUMBER_PATTERN.finditer(problem):
        if parse_number(match.group().rstrip(",")) is None:
            continue
        number = next((i for i, (a, b) in enumerate(spans) if a <= match.start() < b), 0)
        a, b = spans[number] if spans else (0, len(problem))
        counts, per, rest = _unit_after(problem, match.start(), match.end(), b)
        per = _per_after(rest) if per is None else per
        subject = _subject_each(_WORD.findall(problem[a : match.start()]))
        found.append((number, counts, per, subject))
    counted = [counts for _, counts, _, _ in found]
    asked = _how_many_noun(question)
    units = []
    for index, (sentence, counts, per, subject) in enumerate(found):
        if per == "":  # "4 dollars each": per the thing counted before it in its sentence
            before = [c for j, (s, c, _, _) in enumerate(found[:index]) if s == sentence and c]
            per = before[-1] if before else None
        if per is None and subject:  # "A box holds 12 pens."
            per = subject
        others = counted[:index] + counted[index + 1 :]
        if per is not None and (per not in [*others, asked] or per == counts):
            per = None
        units.append(QuantityUnit(counts, per or ""))
    return tuple(units)


def _how_many_noun(question: str) -> str:
    words = _WORD.findall(question)
    for index in range(len(words) - 2):
        if words[index].lower() == "how" and words[index + 1].lower() == "many":
            return noun_phrase(words[index + 2 :])[0]
    return ""


def read_asked_unit(question: str, units: Sequence[QuantityUnit]) -> str:
    """What the question asks to count: "How many pens ..." -> pen; "How much did she
    spend" -> dollar (when the problem counts dollars)."""
    words = _WORD.findall(question)
    lower = [w.lower() for w in words]
    for index in range(len(lower) - 1):
        if lower[index] == "how" and lower[index + 1] == "many":
            return _how_many_noun(question)
        if lower[index] == "how" and lower[index + 1] == "much":
            money = any(u.counts == "dollar" for u in units)
            if money and (set(lower) & _MONEY_VERBS or set(lower) & {"money", "dollars"}):
                return "dollar"
            return ""
    return ""


UnitPower = dict[str, int]


def _as_power(unit: QuantityUnit) -> UnitPower | None:
    if not unit.counts:
        return None
    power = {unit.counts: 1}
    if unit.per:
        power[unit.per] = power.get(unit.per, 0) - 1
    return {k: v for k, v in power.items() if v}


def _combine(left: UnitPower, right: UnitPower, sign: int) -> UnitPower:
    out = dict(left)
    for key, value in right.items():
        out[key] = out.get(key, 0) + sign * value
    return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class UnitCheck:
    """A program's units: additions or subtractions of unlike things, and the result's unit
    (None when some operand's unit is unread)."""

    mismatches: int
    result: UnitPower | None


def _containers(units: Sequence[QuantityUnit]) -> set[str]:
    """What the problem's rates are per: the boxes of "12 pens per box"."""
    return {u.per for u in units if u.per}


def _unlike(left: UnitPower, right: UnitPower, containers: set[str]) -> bool:
    """Things that cannot be added: a rate and a count, or a count of containers and what
    they hold. Different counts can (roses and carnations make flowers)."""
    if left == right:
        return False
    if {k: v for k, v in left.items() if v < 0} != {k: v for k, v in right.items() if v < 0}:
        return True
    return bool((set(left) ^ set(right)) & containers)


def asks_per_thing(question: str) -> bool:
    """Whether the question asks for a share or a rate ("how many did each person buy")."""
    return bool(re.search(r"\b(each|per|every|average|apiece)\b", question, re.IGNORECASE))


def result_verdict(
    result: UnitPower | None, asked: str, units: Sequence[QuantityUnit], per_thing: bool
) -> int:
    """+1 when a program's result counts what the question asks for (per something, when
    the question asks for a share), -1 when it cannot (a rate the question does not ask
    for, a square, the containers of a rate), 0 when unsure: unread units, a product of
    two counts (an unread rate), a count of something else that may be a kind of it."""
    if not result or not asked:
        return 0
    if result == {asked: 1}:
        return 1
    if any(abs(v) > 1 for v in result.values()):
        return -1
    below = [k for k, v in result.items() if v < 0]
    above = [k for k, v in result.items() if v > 0]
    if below:
        return 1 if per_thing and above == [asked] and len(below) == 1 else -1
    if len(above) > 1:
        return 0
    return -1 if set(above) & _containers(units) else 0


def check_units(
    program: str, quantities: Sequence[float], units: Sequence[QuantityUnit]
) -> UnitCheck:
    """Evaluate a single-expression program over units instead of numbers. A number the
    problem does not give counts nothing (a pure number, as the 2 of "twice")."""
    containers = _containers(units)
    try:
        tree = ast.parse(program.strip(), mode="eval").body
    except SyntaxError:
        return UnitCheck(0, None)
    taken: set[int] = set()
    mismatches = 0

    def walk(node: ast.expr) -> UnitPower | None:
        nonlocal mismatches
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            for index, quantity in enumerate(quantities):
                if index not in taken and abs(quantity - float(node.value)) < 1e-9:
                    taken.add(index)
                    return _as_power(units[index]) if index < len(units) else None
            return {}
        if isinstance(node, ast.UnaryOp):
            return walk(node.operand)
        if not isinstance(node, ast.BinOp):
            return None
        left, right = walk(node.left), walk(node.right)
        if isinstance(node.op, ast.Add | ast.Sub):
            if left and right and _unlike(left, right, containers):
                mismatches += 1
            return left if left else right
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Mult):
            return _combine(left, right, 1)
        if isinstance(node.op, ast.Div | ast.FloorDiv):
            return _combine(left, right, -1)
        return None

    result = walk(tree)
    return UnitCheck(mismatches, result)
