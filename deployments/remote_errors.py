"""Unwrap errors that crossed a Ray boundary, so typed Ponder errors keep their type."""

from __future__ import annotations

from ray.exceptions import RayTaskError


def original_error(error: BaseException) -> BaseException:
    """The exception a replica raised, without Ray's RayTaskError wrapping."""
    while isinstance(error, RayTaskError) and isinstance(error.cause, BaseException):
        error = error.cause
    return error
