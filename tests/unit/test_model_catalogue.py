"""Which decoder set and adapter a request runs on (`model` + `adapter` names)."""

from __future__ import annotations

import pytest

from ponder.errors import InvalidArgument, NotFound
from ponder.model_catalogue import ModelChoice, resolve_model

ADAPTERS = ["math-1"]
STUDENTS = ["student-2"]


@pytest.mark.parametrize(
    ("model", "adapter", "default_model", "default_adapter", "expected"),
    [
        ("", "", "", "", ModelChoice("", None)),
        ("base", "", "", "math-1", ModelChoice("", "math-1")),  # main set, planner's adapter
        ("", "base", "", "math-1", ModelChoice("", None)),
        ("", "math-1", "", "", ModelChoice("", "math-1")),
        ("student-2", "", "", "math-1", ModelChoice("student-2", None)),
        ("", "", "student-2", "", ModelChoice("student-2", None)),  # planner's default model
        ("", "math-1", "student-2", "", ModelChoice("", "math-1")),  # an adapter means main
        ("base", "", "student-2", "", ModelChoice("", None)),
        ("student-2", "base", "", "", ModelChoice("student-2", None)),
    ],
)
def test_choices(
    model: str, adapter: str, default_model: str, default_adapter: str, expected: ModelChoice
) -> None:
    got = resolve_model(model, adapter, ADAPTERS, STUDENTS, default_model, default_adapter)
    assert got == expected


def test_unknown_model_is_not_found_and_named() -> None:
    with pytest.raises(NotFound, match=r"'student-9'.*student-2"):
        resolve_model("student-9", "", ADAPTERS, STUDENTS)


def test_unknown_adapter_is_not_found() -> None:
    with pytest.raises(NotFound, match="'nope'"):
        resolve_model("", "nope", ADAPTERS, STUDENTS)


def test_student_with_an_adapter_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="serves no adapters"):
        resolve_model("student-2", "math-1", ADAPTERS, STUDENTS)
