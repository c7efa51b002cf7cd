"""Which way each quantity of a word problem moves for the person the question asks
about: "Jack gave 3 pens to Mary. How many pens does Jack have now?": 3 leaves Jack, so a
program about Jack should subtract it; about Mary, add it. A small lexicon of verbs says
which way things move for the verb's subject; the other side is the object after the verb
("gives Charles 39") or the one after "to"/"from". The answer ranker reads the signs
(`answer_features.py`); deterministic and model-free, as the rest of its reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ponder.reasoning.plan import NUMBER_PATTERN, parse_number
from ponder.reasoning.quantity_roles import noun_phrase, sentence_spans, word_set

_WORD = re.compile(r"[A-Za-z]+")

# Verbs by which way things move for their subject: +1 it gains, -1 it loses.
_GAIN = word_set(
    """buy buys bought get gets got receive receives received find finds found win wins won
    earn earns earned pick picks picked collect collects collected gain gains gained borrow
    borrows borrowed catch catches caught"""
)
_LOSE = word_set(
    """give gives gave lose loses lost sell sells sold spend spends spent eat eats ate use
    uses used donate donates donated lend lends lent throw throws threw break breaks broke
    pay pays paid send sends sent"""
)

# Words between a transfer verb and its subject ("Jack then gave", "She has already sold").
_BEFORE_VERB = word_set(
    """then also just already later finally again still has have had will would did does
    do can could must should to wants want wanted decides decided decide needs need needed
    plans planned tries tried going is was are were not soon"""
)
# Words after a number's noun that make the number the subject of its own clause ("but 4
# were broken", "3 of them got lost").
_CLAUSE_VERBS = word_set(
    """were was are is got get went go came come left ran fell broke died flew hatched
    melted popped rotted spoiled"""
)
# Words that start a new clause when a subject follows ("and Mary had", "but then she").
_CLAUSE_JOINS = word_set("and but while so then when after before because although")
_SUBJECT_PRONOUNS = frozenset(["he", "she", "they"])
_OBJECT_PRONOUNS = frozenset(["him", "her", "them"])
_DETERMINERS = word_set("his her their the a an its my our")
# Question words that ask about the doing itself, as the giving and getting verbs do.
_ASKED_DOING = word_set("make made makes cost costs")
# Questions that ask for what the person had before the changes: every sign turns round.
_ASKS_START = re.compile(
    r"\b(?:start(?:ed)? with|begin with|at first|in the beginning|originally|initially|"
    r"stand for)\b",
    re.IGNORECASE,
)


def _is_name(word: str, not_names: frozenset[str]) -> bool:
    return word[:1].isupper() and word not in not_names and word.lower() not in _SUBJECT_PRONOUNS


def _party(word: str, not_names: frozenset[str], last_name: str, pronouns: frozenset[str]) -> str:
    """Who a word names: a name, or for a pronoun the last name before it; "" for someone
    unnamed ("her sister")."""
    if word.lower() in pronouns:
        return last_name
    return word if _is_name(word, not_names) else ""


def _clause_start(words: Sequence[str], not_names: frozenset[str]) -> int:
    """Where the last clause of the words starts: after a joining word followed by a
    subject ("... and Mary had", "... and then her sister gave"); 0 when none."""
    start = 0
    for index, word in enumerate(words[:-1]):
        if word.lower() not in _CLAUSE_JOINS:
            continue
        following = words[index + 1]
        if following.lower() == "then" and index + 2 < len(words):
            following = words[index + 2]
        lower = following.lower()
        if lower in _SUBJECT_PRONOUNS or lower in _DETERMINERS or _is_name(following, not_names):
            start = index + 1
    return start


def read_signs(
    problem: str,
    question: str,
    asked_names: frozenset[str],
    not_names: frozenset[str] = frozenset(),
) -> tuple[int, ...]:
    """Per quantity: +1 when it moves to the asked person, -1 when it leaves them, else 0.

    A quantity moves when a giving or getting verb stands before it in its clause. The
    verb's subject (the word before it, past "then", "has", "wants to" ...; a pronoun
    stands for the last name before it) gains or loses the quantity, and the other side
    ("gives Charles 39", "gave her 40", "to Mary", "from Mary") the opposite. A number that
    is the subject of its own clause ("but 4 were broken") does not move. With no name in
    the question, the one person the problem names, if it names one, is the asked one.
    When the question itself asks about a giving or getting ("How much did she spend?"),
    nothing moves: the quantities are then what is asked for, not a change to a stock.
    `not_names` are capitalised words that are not names ("The", "If" ...)."""
    numbers = [
        m
        for m in NUMBER_PATTERN.finditer(problem)
        if parse_number(m.group().rstrip(",")) is not None
    ]
    if {w.lower() for w in _WORD.findall(question)} & (_GAIN | _LOSE | _ASKED_DOING):
        return (0,) * len(numbers)
    turn = -1 if _ASKS_START.search(question) else 1
    named = {w for w in _WORD.findall(problem) if _is_name(w, not_names)}
    asked = set(asked_names) or (named if len(named) == 1 else set())
    signs: list[int] = []
    if asked:
        for a, b in sentence_spans(problem):
            sentence = problem[a:b]
            earlier = _WORD.findall(problem[:a])
            for match in NUMBER_PATTERN.finditer(sentence):
                if parse_number(match.group().rstrip(",")) is not None:
                    signs.append(turn * _sign(sentence, match, earlier, asked, not_names))
    return tuple(signs[: len(numbers)]) + (0,) * max(0, len(numbers) - len(signs))


def _sign(
    sentence: str,
    number: re.Match[str],
    earlier: Sequence[str],
    asked: set[str],
    not_names: frozenset[str],
) -> int:
    """One quantity's sign (`read_signs`); `earlier` are the words of the sentences before."""
    before = _WORD.findall(sentence[: number.start()])
    after = _WORD.findall(sentence[number.end() :])
    clause = _clause_start(before, not_names)
    verb_at = next(
        (i for i in range(len(before) - 1, clause - 1, -1) if before[i].lower() in _GAIN | _LOSE),
        -1,
    )
    if verb_at < 0:
        return 0
    _, taken = noun_phrase(after)
    if taken < len(after) and after[taken].lower() in _CLAUSE_VERBS:
        return 0  # the number is its own clause's subject

    def last_name_before(index: int) -> str:
        words = [*earlier, *before[:index]]
        return next((w for w in reversed(words) if _is_name(w, not_names)), "")

    subject_at = verb_at - 1
    while subject_at >= clause and before[subject_at].lower() in _BEFORE_VERB:
        subject_at -= 1
    subject = ""
    if subject_at >= 0:
        word = before[subject_at]
        subject = _party(word, not_names, last_name_before(subject_at), _SUBJECT_PRONOUNS)
    others = list(before[verb_at + 1 :])
    others += [after[i + 1] for i in range(len(after) - 1) if after[i].lower() in ("to", "from")]
    last = last_name_before(verb_at)
    other_parties = {_party(w, not_names, last, _OBJECT_PRONOUNS) for w in others}
    polarity = 1 if before[verb_at].lower() in _GAIN else -1
    if subject in asked:
        return polarity
    if other_parties & asked:
        return -polarity
    return 0
