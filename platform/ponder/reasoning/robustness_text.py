"""The wording side of the robustness sets: where a question's numbers and sentences lie,
the word lists the perturbations consult, and the paraphrase rules for a question sentence."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from ponder.reasoning.plan import NUMBER_PATTERN, parse_number


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _ordered(words: str) -> tuple[str, ...]:
    return tuple(words.split())


NAMES = _ordered(
    "Adam Alyssa Amy Ben Benny Billy Bryan Dan Edward Emily Faye Fred Haley Isabel Jack Jason "
    "Jessica Joan Katie Keith Luke Maria Mary Megan Melanie Mike Nancy Olivia Paige Paul "
    "Rachel Sally Sam Sandy Sara Tim Tom Wendy"
)
NOUNS = _ordered(
    "stamps postcards puzzles kites umbrellas lanterns candles buttons keys jars flags maps "
    "bells shovels ladders vases clocks mirrors helmets wallets ropes tents drums paintings "
    "magnets whistles sponges envelopes compasses telescopes"
)
PLACES = _ordered("museum garage attic basement warehouse gym harbor barn office hallway")
# Question words that could make a distractor count ("How many items ...").
GENERIC = _wordset("items things objects toys gifts supplies tools decorations")
TOTAL = _wordset("total all altogether together combined overall there")
_AUX = _wordset("is are was were do does did will would can could should must has have had")
_PRONOUNS = _wordset("he she it they them we you i his her their its him")
_DEICTIC = _PRONOUNS | _wordset("that this the")
_MEASURES = _wordset("long tall old wide high deep")
FUNCTION = (
    _AUX
    | _PRONOUNS
    | _wordset(
        "of in on at to for with from by and or than total altogether more fewer less times "
        "each every per percent left out there here this that these those all the a an some "
        "how what who when where which why many much if extra during into onto over under "
        "after before about around through across between inside near behind until as like"
    )
    | _MEASURES
)
_COMPARATIVES = _wordset(
    "longer taller shorter heavier lighter bigger smaller farther further older younger "
    "faster slower higher lower wider deeper greater"
)
CONNECTIVES = _wordset(
    "he she it they then after later now so if but and also this that his her their when "
    "while since because finally next"
)
ANAPHORA = _PRONOUNS | _wordset(
    "hers theirs this that these those then later now after before more another other others "
    "rest remaining also again still same such too first second third last next"
)
STATIC = _wordset("has have had is are was were cost costs weighs holds contains can needs")
EVENTS = _wordset(
    "take takes took give gives gave buy buys bought sell sells sold eat eats ate lose loses "
    "lost spend spends spent remove removes removed add adds added leave leaves left use uses "
    "used find finds found pick picks picked get gets got win wins won throw threw deleted "
    "traded receive received share shares shared moving moved start started finished return "
    "returned came come went go made make paid pay saved save collected bake baked planted drank"
)
DETERMINERS = _wordset(
    "the a an his her their its my your our these those each every all another exactly only "
    "just about nearly almost over"
)
_ABBREVIATION = re.compile(r"(?:\b(?:mr|mrs|ms|dr|st|jr|sr|mt|vs|etc|no)|\b[A-Z])\.$", re.I)


class NumberSpan(NamedTuple):
    """A number in a question: where it lies, its value and how it is written."""

    start: int
    end: int
    value: float
    raw: str


# -- numbers, sentences -------------------------------------------------------------------
def number_spans(text: str) -> list[NumberSpan]:
    """The numbers `extract_conditions` finds, with their spans in `text`."""
    found = []
    for match in NUMBER_PATTERN.finditer(text):
        raw = match.group().rstrip(",")
        value = parse_number(raw)
        if value is not None:
            found.append(NumberSpan(match.start(), match.start() + len(raw), value, raw))
    return found


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: split after . ? ! as `extract_conditions` does, but
    not after an abbreviation ("Mrs. Hilt")."""
    spans, start = [], 0
    for gap in re.finditer(r"(?<=[.?!])\s+", text):
        if not _ABBREVIATION.search(text[start : gap.start()]):
            spans.append((start, gap.start()))
            start = gap.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if b > a]


def question_index(text: str, sentences: list[tuple[int, int]]) -> int:
    """The last sentence that asks (ends with "?"), else the last sentence."""
    asked = [i for i, (a, b) in enumerate(sentences) if text[a:b].endswith("?")]
    return asked[-1] if asked else len(sentences) - 1


def words_of(text: str) -> list[str]:
    """The lower-cased words of `text`."""
    return re.findall(r"[a-z']+", text.lower())


# -- paraphrase ---------------------------------------------------------------------------
_Rule = Callable[[str], str | None]


def _rewrite(pattern: str, build: Callable[[re.Match[str]], str | None]) -> _Rule:
    """A rule replacing the first match in the question sentence (keeping its capital)."""

    def rule(sentence: str) -> str | None:
        match = re.search(pattern, sentence, re.I)
        new = build(match) if match else None
        if match is None or new is None:
            return None
        new = new[:1].upper() + new[1:] if match.group()[:1].isupper() else new
        return sentence[: match.start()] + new + sentence[match.end() :]

    return rule


_MONEY = re.compile(r"\b(?:spen[dt]|pa(?:y|id)|earn|cost|save|owe|made|make)\b", re.I)
_SUBJECT_VERB = r"(are|were|is|was|(?:will|would|can|could) be|ha(?:ve|s|d) been|[a-z]+ed)"


def _what_number(m: re.Match[str]) -> str | None:
    noun, following = m.group(1), (m.group(2) or "").lower()
    if noun.lower() in FUNCTION | _COMPARATIVES or following in _MEASURES:
        return None
    return f"what number of {noun}"


def _what_amount(m: re.Match[str]) -> str | None:
    word = m.group(1).lower()
    if word not in FUNCTION | _COMPARATIVES:
        return f"what amount of {m.group(1)}"
    return f"what amount {m.group(1)}" if word in _AUX and _MONEY.search(m.string) else None


def _find_number(m: re.Match[str]) -> str | None:
    """ "How many X were picked?" -> "Find the number of X that were picked." (X the subject,
    so no inversion to undo)."""
    subject, verb, there, rest = m.group(1).strip(), m.group(2), m.group(3), m.group(4)
    after = set(words_of(rest)[:1])
    if set(subject.lower().split()) & (FUNCTION - {"of"}) or after & _DEICTIC:
        return None  # "how many cars is that", "how many were they able to"
    if verb.lower() in _AUX - _wordset("is are was were"):
        return None
    return f"find the number of {subject} {'there' if there else 'that'} {verb}{rest}."


REWRITES: tuple[_Rule, ...] = (
    _rewrite(r"\b(?:in all|in total|all together|total)(?=\s*\?$)", lambda m: "altogether"),
    _rewrite(r"\baltogether(?=\s*\?$)", lambda m: "in all"),
    _rewrite(r"\bhow many ([a-z]+)\b(?=(?: ([a-z]+))?)", _what_number),
    _rewrite(r"\bhow much ([a-z]+)\b", _what_amount),
    _rewrite(rf"\bhow many ((?:[a-z]+ ){{1,4}}?){_SUBJECT_VERB}( there)?\b(.*)\?$", _find_number),
    _rewrite(r"\bwhat(?: is| was| ?'s) the\b(.*)\?$", lambda m: f"compute the{m.group(1)}."),
)
