"""The table question generator (issue 28): answers recomputed from the cells, balanced
answer classes, splits apart, and the shifted split shifted in wording, row names and
domain."""

from __future__ import annotations

import re
from collections import Counter

from ponder.multimodal.table_tasks import (
    DOMAINS,
    OPERATIONS,
    SEEN_PREFIXES,
    SEEN_WORDINGS,
    SHIFTED_WORDINGS,
    TableOperation,
    TableTask,
    data_key,
    make_table_tasks,
)


def _expected(task: TableTask) -> str:
    """The answer worked out again from the table's cells and the question's words."""
    if task.operation is TableOperation.OTHER:
        return ""
    names = [row[0] for row in task.table.rows]
    column = task.table.columns.index(
        next(c for c in task.table.columns[1:] if re.search(rf"\b{c}\b", task.question))
    )
    values = {row[0]: int(row[column]) for row in task.table.rows}
    if task.operation is TableOperation.ARGMAX:
        return max(names, key=values.__getitem__)
    if task.operation is TableOperation.ARGMIN:
        return min(names, key=values.__getitem__)
    named = sorted(
        (n for n in names if re.search(rf"\b{n}\b", task.question)), key=task.question.index
    )
    if task.operation is TableOperation.LOOKUP:
        (name,) = named
        return str(values[name])
    first, second = named
    if task.operation is TableOperation.SUM:
        return str(values[first] + values[second])
    return str(abs(values[first] - values[second]))  # a wording may name the smaller first


def test_every_operation_is_made_and_its_answer_follows_from_the_cells() -> None:
    for split in ("train", "test"):
        tasks = make_table_tasks(480, split)
        assert Counter(t.operation for t in tasks) == dict.fromkeys(OPERATIONS, 80)
        for task in tasks:
            assert task.answer == _expected(task), task
            if task.expression:
                assert eval(task.expression) == int(task.answer)
            if task.operation is TableOperation.DIFFERENCE:
                assert int(task.answer) >= 0
            assert all(
                task.table.rows[r][0] == name
                for r, (name, _) in zip(task.rows, task.used, strict=False)
            )


def test_balanced_sets_put_every_answer_position_equally_often() -> None:
    tasks = make_table_tasks(6 * 6 * 10, "dev", balanced=True)
    for operation in OPERATIONS[:-1]:  # other has no answer
        classes = Counter(t.answer_class for t in tasks if t.operation is operation)
        assert set(classes.values()) == {10}, (operation, classes)


def test_splits_are_apart_and_the_test_split_is_shifted() -> None:
    train = make_table_tasks(600, "train")
    keys = frozenset(data_key(t) for t in train)
    test = make_table_tasks(300, "test", exclude=keys)
    dev = make_table_tasks(300, "dev", exclude=keys)
    assert not keys & {data_key(t) for t in test + dev}
    assert make_table_tasks(10, "train") == train[:10]
    seen_names = {row[0] for t in train + dev for row in t.table.rows}
    test_names = {row[0] for t in test for row in t.table.rows}
    assert not seen_names & test_names
    assert {t.domain for t in train} == {"shop", "city", "team"}
    assert "school" in {t.domain for t in test}
    seen_columns = {c for t in train for c in t.table.columns}
    assert set(DOMAINS["school"].columns).isdisjoint(seen_columns)

    def wording(task: TableTask) -> str:  # the question with its names and column blanked
        text = task.question.replace(task.table.columns[task.column], "{col}")
        for name in task.row_names:
            text = re.sub(rf"\b{re.escape(name)}\b", "_", text)
        text = text.replace(task.table.columns[0], "{row}")
        for prefix in filter(None, SEEN_PREFIXES):
            text = text.removeprefix(prefix)
        return text.lower()

    def blanked(wordings: dict[TableOperation, tuple[str, ...]]) -> set[str]:
        return {
            w.replace("{a}", "_").replace("{b}", "_").lower()
            for ws in wordings.values()
            for w in ws
        }

    seen, shifted = blanked(SEEN_WORDINGS), blanked(SHIFTED_WORDINGS)
    assert not seen & shifted
    assert {wording(t) for t in train} <= seen
    assert {wording(t) for t in test} <= shifted
