"""Client errors become one INFO line in Serve's logs; server errors keep their traceback."""

from __future__ import annotations

import logging
import sys

import grpc
import pytest
from ray.serve.exceptions import gRPCStatusError

from deployments.grpc_calls import RequestFailed
from deployments.serve_logging import ClientErrorsAsOneLine


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("ray.serve", logging.ERROR, __file__, 1, "Request failed.", None, info)


@pytest.mark.parametrize(
    "error",
    [
        RequestFailed("prompt: empty", grpc.StatusCode.INVALID_ARGUMENT),
        gRPCStatusError(
            RequestFailed("adapter: none named x", grpc.StatusCode.NOT_FOUND),
            grpc.StatusCode.NOT_FOUND,
            "adapter: none named x",
        ),
    ],
    ids=["replica", "proxy"],
)
def test_a_client_error_is_one_info_line(error: BaseException) -> None:
    record = _record(error)
    assert ClientErrorsAsOneLine().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None
    line = logging.Formatter().format(record)
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("request failed: ") and (
        "INVALID_ARGUMENT" in line or "NOT_FOUND" in line
    )


@pytest.mark.parametrize(
    "error",
    [
        RequestFailed("internal error", grpc.StatusCode.INTERNAL),
        gRPCStatusError(RuntimeError("boom"), grpc.StatusCode.UNAVAILABLE, "down"),
        RuntimeError("unexpected"),
    ],
)
def test_server_errors_keep_level_and_traceback(error: BaseException) -> None:
    record = _record(error)
    assert ClientErrorsAsOneLine().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
