"""The few typed errors of the core. They map to gRPC status codes in ponder.api.grpc_status.

Each carries only a message (a single line), so it pickles across Ray process boundaries.
"""


class PonderError(Exception):
    """Base of every error Ponder reports to a caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self.message,))


class InvalidArgument(PonderError):
    """The request is malformed; the message starts with the offending field."""

    def __init__(self, field: str, reason: str | None = None) -> None:
        # Allow reconstruction from a single pre-formatted message (unpickling).
        super().__init__(field if reason is None else f"{field}: {reason}")


class NotFound(PonderError):
    """A named thing (adapter, reasoning id, version) does not exist."""


class AlreadyExists(PonderError):
    """The thing exists already in a different form (e.g. a different outcome reported)."""


class ResourceExhausted(PonderError):
    """A limit of the server was reached (queue full, budget spent, rate limit); when
    retry_after_s is set, the caller is told how long to wait before retrying."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type, tuple[str, float | None]]:  # type: ignore[override]
        return (type(self), (self.message, self.retry_after_s))


class Unauthenticated(PonderError):
    """The call carries no credentials, or credentials the server does not know."""


class PermissionDenied(PonderError):
    """The caller is known but may not do this (an RPC its token lacks, another tenant)."""


class DeadlineExceeded(PonderError):
    """The caller's deadline passed before the work finished."""


class Unavailable(PonderError):
    """A backend the request needs is not ready or went away."""
