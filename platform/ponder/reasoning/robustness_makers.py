"""The perturbations of a robustness set: each maker turns one source problem (a row whose
equation uses only its question's numbers) into a changed question with its equation tree
and answer, or None where it does not apply."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from ponder.reasoning.plan import extract_conditions, format_number, parse_number
from ponder.reasoning.problems import is_correct
from ponder.reasoning.robustness_text import (
    ANAPHORA,
    CONNECTIVES,
    DETERMINERS,
    EVENTS,
    FUNCTION,
    GENERIC,
    NAMES,
    NOUNS,
    PLACES,
    REWRITES,
    STATIC,
    TOTAL,
    NumberSpan,
    number_spans,
    question_index,
    sentence_spans,
    words_of,
)
from ponder.training.domain_data import Node, UnusableEquation, parse_prefix, step_lines, value_of


@dataclass(frozen=True)
class Source:
    """A parent problem: its question, answer, equation tree and the numbers it states."""

    id: str
    question: str
    answer: float
    tree: Node
    numbers: list[NumberSpan]


# A maker returns (question, equation tree, answer) or None when it does not apply.
Made = tuple[str, Node, float] | None


# -- equations ----------------------------------------------------------------------------
def to_prefix(node: Node) -> str:
    """The tree as a prefix equation over `number<i>` leaves."""
    if node.is_leaf:
        return f"number{node.index}"
    assert node.left is not None and node.right is not None
    return f"{node.op} {to_prefix(node.left)} {to_prefix(node.right)}"


def _reindex(node: Node, new_index: Callable[[int], int]) -> Node:
    if node.is_leaf:
        return Node(index=new_index(node.index))
    assert node.left is not None and node.right is not None
    return Node(node.op, _reindex(node.left, new_index), _reindex(node.right, new_index))


def _leaves(node: Node) -> set[int]:
    if node.is_leaf:
        return {node.index}
    assert node.left is not None and node.right is not None
    return _leaves(node.left) | _leaves(node.right)


def _is_int(value: float) -> bool:
    return abs(value - round(value)) < 1e-9


def source_from_row(row: dict[str, object], position: int) -> Source | None:
    """A row whose equation uses only the question's numbers and gives its answer."""
    question = str(row["question"]).strip()
    numbers = number_spans(question)
    if [n.value for n in numbers] != list(extract_conditions(question).quantities):
        return None
    try:
        tree = parse_prefix(str(row.get("equation", "")))
        answer = float(row["answer"])  # type: ignore[arg-type]
        if not is_correct(value_of(tree, [n.value for n in numbers]), answer):
            return None
    except (UnusableEquation, IndexError, ValueError, TypeError):
        return None
    if tree.op in ("+", "-") and len(_leaves(tree)) == 2 and re.search(r"\bper\b", question):
        return None  # mislabelled rates ("4 km at 2 km per hour" solved as 4 - 2)
    return Source(str(row.get("id", f"row-{position}")), question, answer, tree, numbers)


# -- distractor ---------------------------------------------------------------------------
def distractor(src: Source, rng: random.Random) -> Made:
    text = src.question
    sentences = sentence_spans(text)
    start, end = sentences[question_index(text, sentences)]
    asked, words = text[start:end], set(words_of(text))
    subject = re.search(r"\bhow (?:many|much)\s+(?:(?:more|fewer|less)\s+)?([a-z']+)", asked, re.I)
    noun_question = subject is not None and subject.group(1).lower() not in FUNCTION
    # "How many are there in all?" could count the distractor too.
    if words & GENERIC or (not noun_question and set(words_of(asked)) & TOTAL):
        return None
    # "... 6 of them" right after the distractor could refer to it: put it first instead.
    at = 0 if re.search(r"\b(?:them|those|these|ones)\b", asked, re.I) else start
    taken = {n.value for n in src.numbers} | {src.answer}
    value = rng.choice([v for v in range(2, 60) if float(v) not in taken])
    noun = rng.choice([n for n in NOUNS if n not in words and n[:-1] not in words])
    named = [(m.start(), n) for n in NAMES if (m := re.search(rf"\b{n}\b", text, re.I))]
    if named and noun_question:  # a noun-less question could count the name's things
        first, name = min(named)
        sentence = f"{name} {'also has' if first < at else 'has'} {value} {noun}."
    else:
        place = rng.choice([p for p in PLACES if p not in words])
        sentence = f"There are {value} {noun} in the {place}."
    before = sum(1 for n in src.numbers if n.start < at)
    tree = _reindex(src.tree, lambda i: i + 1 if i >= before else i)
    return f"{text[:at]}{sentence} {text[at:]}", tree, src.answer


# -- renumber -----------------------------------------------------------------------------
def _new_value(value: float, raw: str, rng: random.Random) -> float:
    """Similar magnitude and as round; integers stay integers; 0, 1 and fractions stay."""
    if "." in raw:
        places = len(raw.split(".")[1])
        new = round(value * rng.uniform(0.5, 1.5), places)
        return value if value < 1 or _is_int(new) else new  # "12.5" never becomes "10.0"
    whole, zeros = round(value), 0
    if whole <= 1:
        return value
    while whole % 10 ** (zeros + 1) == 0:
        zeros += 1
    base = whole // 10**zeros
    low = max(1 if zeros else 2, (base + 1) // 2)
    return float(rng.randint(low, max(base + 3, base * 3 // 2)) * 10**zeros)


def _written(value: float, raw: str) -> str:
    if "." in raw:
        return f"{value:.{len(raw.split('.')[1])}f}"
    return f"{round(value):,}" if "," in raw else str(round(value))


def _plausible(src: Source, values: list[float]) -> float | None:
    """The new answer, if the problem keeps its shape: positive, integer when the original
    was, no step turning negative, no division turning inexact."""
    try:
        old = step_lines(src.tree, [n.value for n in src.numbers])
        new = step_lines(src.tree, values)
        answer = value_of(src.tree, values)
    except UnusableEquation:
        return None
    if answer <= 0 or (_is_int(src.answer) and not _is_int(answer)):
        return None
    for (_, op, _, was), (_, _, _, now) in zip(old, new, strict=True):
        if (was >= 0 > now) or (op == "/" and _is_int(was) and not _is_int(now)):
            return None
    return round(answer, 6)


def renumber(src: Source, rng: random.Random) -> Made:
    """New values for the numbers the equation uses (every mention of the same value alike,
    all values in the same order); the others ("the 2 pumpkins") stay."""
    text, originals = src.question, [n.value for n in src.numbers]
    if re.search(r"\d[:/]\d", text) or any(n.raw.startswith("-") for n in src.numbers):
        return None
    used = {originals[i] for i in _leaves(src.tree)}
    for _ in range(300):
        mapping = {v: v for v in originals}
        for number in src.numbers:
            if number.value in used and mapping[number.value] == number.value:
                mapping[number.value] = _new_value(number.value, number.raw, rng)
        values = [mapping[v] for v in originals]
        ranked = [mapping[v] for v in sorted(mapping)]  # order kept: "gives away 3 of 4 bags"
        if ranked != sorted(set(ranked)) or values == originals:
            continue
        answer = _plausible(src, values)
        if answer is None:
            continue
        for n in reversed(src.numbers):
            text = text[: n.start] + _written(mapping[n.value], n.raw) + text[n.end :]
        return text, src.tree, answer
    return None


# -- reorder ------------------------------------------------------------------------------
def _swappable(first: str, second: str) -> bool:
    """Order-free: no pronoun/connective/back-reference, and both state facts or both say
    the same thing of different subjects ("Sandy grew 6 carrots. Sam grew 3 carrots.")."""
    a, b = words_of(first), words_of(second)
    for words, sentence in ((a, first), (b, second)):
        if not words or sentence.endswith("?") or words[0] in CONNECTIVES:
            return False
        if set(words) & ANAPHORA or re.search(r"\d(?:[.,?!]|\s*$)", sentence):
            return False  # "Mrs. Garrett has 24." leans on an earlier sentence's noun
    static = all(set(w) & STATIC and not set(w) & EVENTS for w in (a, b))
    parallel = len(a) > 2 and len(b) > 2 and a[1] == b[1] and a[0] != b[0]
    return static or (parallel and not {a[0], b[0]} & {"a", "an", "the"})


def _swap_sentences(src: Source, rng: random.Random) -> Made:
    text = src.question
    sentences = sentence_spans(text)

    def inside(span: tuple[int, int]) -> list[int]:
        return [i for i, n in enumerate(src.numbers) if span[0] <= n.start < span[1]]

    pairs = [
        i
        for i in range(question_index(text, sentences) - 1)
        if (inside(sentences[i]) or inside(sentences[i + 1]))
        and _swappable(text[slice(*sentences[i])], text[slice(*sentences[i + 1])])
    ]
    if not pairs:
        return None
    i = rng.choice(pairs)
    (a0, a1), (b0, b1) = sentences[i], sentences[i + 1]
    first, second = inside(sentences[i]), inside(sentences[i + 1])
    order = [k for k in range(len(src.numbers)) if k not in first and k not in second]
    cut = (first or second)[0]
    order[cut:cut] = second + first
    position = {old: new for new, old in enumerate(order)}
    swapped = text[:a0] + text[b0:b1] + text[a1:b0] + text[a0:a1] + text[b1:]
    return swapped, _reindex(src.tree, position.__getitem__), src.answer


def _swap_conjuncts(src: Source, rng: random.Random) -> Made:
    """ "39 girls and 4 boys trying out" -> "4 boys and 39 girls trying out" (phrases of the
    same length, no verb or function word inside, ending where the noun phrase ends)."""
    text, starts = src.question, [n.start for n in src.numbers]
    options = []
    for m in re.finditer(r"(?<![\w.$])(?<!\$ )(\d+) ((?:[a-z]+ ){1,3})and (\d+) ", text, re.I):
        left, tokens = m.group(2).split(), [*text[m.end() :].split(" "), "", "", ""]
        last = re.fullmatch(r"([a-z]+)([.,?!]?)", tokens[len(left) - 1], re.I)
        if last is None or not {m.start(1), m.start(3)} <= set(starts):
            continue
        right = [*tokens[: len(left) - 1], last.group(1)]
        following = "" if last.group(2) else tokens[len(left)].rstrip(".,?!;:")
        inner = {w.lower() for w in left + right} - {"of"}
        if not all(w.isalpha() and not w.endswith("ing") for w in right + left):
            continue
        if inner & FUNCTION or "of" in (left[0], left[-1], right[0], right[-1]):
            continue
        if following and following.lower() not in FUNCTION and not following.endswith("ing"):
            continue
        end = m.end() + len(" ".join(right))
        phrase = f"{m.group(3)} {' '.join(right)} and {m.group(1)} {' '.join(left)}"
        options.append((m.start(1), end, phrase, starts.index(m.start(1))))
    if not options:
        return None
    start, end, phrase, k = rng.choice(options)
    swap = {k: k + 1, k + 1: k}
    tree = _reindex(src.tree, lambda i: swap.get(i, i))
    return text[:start] + phrase + text[end:], tree, src.answer


def reorder(src: Source, rng: random.Random) -> Made:
    return _swap_sentences(src, rng) or _swap_conjuncts(src, rng)


# -- question swap ------------------------------------------------------------------------
def _noun_follows(text: str, number: NumberSpan) -> bool:
    """`number` can become "some": a noun follows and no determiner precedes."""
    after = re.match(r"\s+([a-z]+)\b(?!\s*'s)", text[number.end :], re.I)
    before = text[: number.start].split()
    previous = before[-1].lower() if before else ""
    return (
        number.value > 1
        and after is not None
        and after.group(1).lower() not in FUNCTION
        and previous not in DETERMINERS
        and not previous.endswith("$")
    )


def question_swap(src: Source, rng: random.Random) -> Made:
    """`op a b = r`: hide one operand as "some", state r, ask for the operand."""
    text, tree, values = src.question, src.tree, [n.value for n in src.numbers]
    if tree.left is None or tree.right is None or re.search(r"\bsome\b", text, re.I):
        return None
    operands = (tree.left.index, tree.right.index)
    result = format_number(src.answer)
    if not (tree.left.is_leaf and tree.right.is_leaf) or operands[0] == operands[1]:
        return None
    if src.answer <= 0 or parse_number(result) != src.answer or src.answer in values:
        return None
    sides = [
        side
        for side, k in enumerate(operands)
        if values.count(values[k]) == 1 and _noun_follows(text, src.numbers[k])
    ]
    if not sides:
        return None
    side = rng.choice(sides)
    hidden, other = src.numbers[operands[side]], values[operands[1 - side]]
    text = text[: hidden.start] + "some" + text[hidden.end :]
    sentences = sentence_spans(text)
    start, end = sentences[question_index(text, sentences)]
    story = " ".join((text[:start] + text[end:]).split())
    question = (
        f'{story} In the end, the answer to "{text[start].upper()}{text[start + 1 : end]}" is '
        f'{result}. What number does "some" stand for in this problem?'
    ).strip()
    quantities = list(extract_conditions(question).quantities)
    if quantities.count(other) != 1 or quantities.count(src.answer) != 1:
        return None
    o, r = Node(index=quantities.index(other)), Node(index=quantities.index(src.answer))
    # a + b = r: a = r - b.  a - b = r: a = r + b, b = a - r.  a * b = r: a = r / b.
    # a / b = r: a = r * b, b = a / r.
    inverse = {"+": ("-", r, o), "-": ("+", r, o), "*": ("/", r, o), "/": ("*", r, o)}
    op, left, right = inverse[str(tree.op)]
    if side == 1 and tree.op in ("-", "/"):
        op, left, right = tree.op, o, r
    return question, Node(op, left, right), hidden.value


# -- paraphrase ---------------------------------------------------------------------------
def paraphrase(src: Source, rng: random.Random) -> Made:
    """One rewrite rule that matches the question sentence; else "Please answer: ..."."""
    text = src.question
    sentences = sentence_spans(text)
    start, end = sentences[question_index(text, sentences)]
    asked = text[start:end]
    options = [new for rule in REWRITES if (new := rule(asked)) is not None]
    new = rng.choice(options) if options else f"Please answer: {asked[:1].upper()}{asked[1:]}"
    return text[:start] + new + text[end:], src.tree, src.answer
