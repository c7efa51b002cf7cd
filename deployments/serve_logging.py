"""Expected client errors as one log line, not an ERROR with a traceback.

A streaming RPC can only end with a status by raising, and Ray Serve 2.60 logs every
raised stream error with `logger.exception` twice: in the ingress replica ("Request
failed.") and in the proxy ("Request failed with user-set gRPC status code …"). For the
caller's own mistakes (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, …) that buries
real failures under tracebacks. This filter on Serve's logger turns such a record into
one INFO line naming the code; server-side codes (INTERNAL, UNAVAILABLE, UNKNOWN, …) keep
their level and traceback.

Installed in each ingress replica (Ingress.__init__) and each proxy (the servicer hook in
deployments/proxy_cancel_fix.py).
"""

from __future__ import annotations

import logging

import grpc

SERVE_LOGGER = "ray.serve"
CLIENT_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)


def client_error_code(error: BaseException | None) -> grpc.StatusCode | None:
    """The status code of a failed request's exception when it is a caller's mistake."""
    original = getattr(error, "original_exception", error)  # Serve's gRPCStatusError
    code = getattr(error, "grpc_code", None) or getattr(original, "code", None)
    return code if isinstance(code, grpc.StatusCode) and code in CLIENT_CODES else None


class ClientErrorsAsOneLine(logging.Filter):
    """Rewrites Serve's traceback record of a client error into one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info:
            return True
        code = client_error_code(record.exc_info[1])
        if code is None:
            return True
        record.msg = f"request failed: {code.name} {record.exc_info[1]}"
        record.args = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return True


def install_client_error_filter() -> None:
    """Add the filter to Serve's logger of this process, once."""
    logger = logging.getLogger(SERVE_LOGGER)
    if not any(isinstance(f, ClientErrorsAsOneLine) for f in logger.filters):
        logger.addFilter(ClientErrorsAsOneLine())
