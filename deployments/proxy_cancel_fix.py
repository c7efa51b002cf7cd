"""Fixes Ponder carries for Ray Serve 2.60's gRPC proxy: a caller's cancel must reach the
replica every time, and so must the caller's deadline (`forward_deadline`, read by the
Ingress's queue-wait admission).

The proxy relays a server-streaming call with an async generator
(`gRPCProxy.send_request_to_replica`) whose `try` around `yield result` catches
BaseException. When the caller cancels while that generator waits at the yield, the
GeneratorExit lands there, is caught, and the generator goes on to yield a status
("async generator ignored GeneratorExit"); the replica's response is never cancelled and
the generation runs to its end in vLLM. About half of all cancels landed there (measured
in RELIABILITY.md). When the cancel lands while the proxy awaits the replica instead,
Serve's own CancelledError path cancels the response, which is why it sometimes worked.

The fix wraps that method: the handle it is given records the response it starts, and
when the relay is closed or cancelled before it finished, that response is cancelled
(which cancels the Ingress call, whose generator aborts the request in vLLM).

It is installed in the proxy process through the servicer hook: Serve imports the
functions named in `grpc_options.grpc_servicer_functions` inside every proxy, so the
config names `add_PonderServiceServicer_to_server` below instead of the generated one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from deployments.grpc_calls import DEADLINE_HEADER
from deployments.serve_logging import install_client_error_filter
from ponder.v1 import ponder_pb2_grpc

log = logging.getLogger(__name__)

FIXED_RAY_VERSION = "2.60.0"
_MARK = "_ponder_cancel_fix"


class _RecordingHandle:
    """A DeploymentHandle that remembers the responses its `remote` calls start."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.responses: list[Any] = []

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        response = self._handle.remote(*args, **kwargs)
        self.responses.append(response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def forward_deadline(proxy_request: Any) -> None:
    """Hand the caller's gRPC deadline to the replica: Serve copies the call's metadata
    into the context the replica gets, but a deadline is not metadata (grpc-timeout is
    consumed by gRPC), so the time left is added as DEADLINE_HEADER, in milliseconds."""
    context = getattr(proxy_request, "context", None)
    serve_context = getattr(proxy_request, "ray_serve_grpc_context", None)
    if context is None or serve_context is None:
        return
    remaining = context.time_remaining()
    if remaining is None:
        return
    pair = (DEADLINE_HEADER, str(max(0, int(remaining * 1000))))
    serve_context._invocation_metadata.append(pair)
    serve_context._invocation_metadata_dict[DEADLINE_HEADER] = pair[1]


def install() -> bool:
    """Patch the gRPC proxy class of this process once; False when Ray is not the version
    the fix was written for (the patch is then left out, and the tests will say so)."""
    import ray
    from ray.serve._private.proxy import gRPCProxy

    if getattr(gRPCProxy, _MARK, False):
        return True
    if ray.__version__ != FIXED_RAY_VERSION:
        log.warning(
            "proxy cancel fix written for Ray %s, not %s: left out",
            FIXED_RAY_VERSION,
            ray.__version__,
        )
        return False
    relay = gRPCProxy.send_request_to_replica

    async def send_request_to_replica(
        self: Any,
        request_id: str,
        internal_request_id: str,
        handle: Any,
        proxy_request: Any,
        app_is_cross_language: bool = False,
    ) -> AsyncIterator[Any]:
        recording = _RecordingHandle(handle)
        forward_deadline(proxy_request)
        inner = relay(
            self, request_id, internal_request_id, recording, proxy_request, app_is_cross_language
        )
        try:
            async for message in inner:
                yield message
        except BaseException:  # closed (caller went away) or cancelled mid-relay
            for response in recording.responses:
                response.cancel()
            # The inner relay would ignore its GeneratorExit; its status is not needed.
            with contextlib.suppress(RuntimeError):
                await inner.aclose()
            raise

    gRPCProxy.send_request_to_replica = send_request_to_replica  # type: ignore[method-assign]
    setattr(gRPCProxy, _MARK, True)
    return True


def add_PonderServiceServicer_to_server(servicer: Any, server: Any) -> None:
    """The servicer hook Serve calls in each proxy: install the fix and the client-error
    log filter, then register the generated PonderService."""
    install()
    install_client_error_filter()
    ponder_pb2_grpc.add_PonderServiceServicer_to_server(servicer, server)
