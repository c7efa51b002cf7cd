import asyncio
import pickle

import grpc
import pytest

from ponder.api.grpc_status import status_for
from ponder.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PonderError,
    ResourceExhausted,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidArgument("prompt", "empty"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("adapter: none"), grpc.StatusCode.NOT_FOUND),
        (ResourceExhausted("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (DeadlineExceeded("too slow"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (Unavailable("engine down"), grpc.StatusCode.UNAVAILABLE),
        (PonderError("other"), grpc.StatusCode.INTERNAL),
        (TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (asyncio.CancelledError(), grpc.StatusCode.CANCELLED),
    ],
)
def test_typed_errors_map_to_codes(error: BaseException, code: grpc.StatusCode) -> None:
    assert status_for(error, "rid")[0] == code


def test_typed_error_message_is_one_line() -> None:
    _, details = status_for(InvalidArgument("prompt", "bad\nsecond line"), "rid")
    assert details == "prompt: bad"


def test_unexpected_error_does_not_leak_its_text() -> None:
    error = RuntimeError('Traceback (most recent call last):\n  File "/secret/path.py"')
    code, details = status_for(error, "rid-42")
    assert code == grpc.StatusCode.INTERNAL
    assert "secret" not in details and "Traceback" not in details
    assert "rid-42" in details


@pytest.mark.parametrize(
    "error", [InvalidArgument("sampling.top_p", "must be in (0, 1]"), NotFound("adapter: x")]
)
def test_errors_survive_pickling(error: PonderError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.message == error.message
