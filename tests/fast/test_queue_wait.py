"""Admission by expected queue wait, through the proxy and the Ingress: the caller's gRPC
deadline reaches the Ingress (the proxy forwards it), and a call the decoder work in
flight would keep past that deadline is refused at once with RESOURCE_EXHAUSTED and a
retry hint, while a caller with time enough is admitted beside the same work.

The test config pins the finishing rate (tests/integration/support.py:
QUEUE_WAIT_TOKENS_PER_S) so the expected wait is known here."""

from __future__ import annotations

import time

import grpc
import pytest

from deployments.grpc_calls import DEADLINE_HEADER
from deployments.runner import LocalPlatform
from ponder.api.client import auth_metadata, build_request
from ponder.v1 import ponder_pb2_grpc as pb_grpc
from tests.integration.support import QUEUE_WAIT_TOKENS_PER_S

pytestmark = pytest.mark.fast

HELD = 16
HELD_TOKENS = 1024  # each held stream may generate this many: 16 384 tokens in flight


def test_a_deadline_the_queue_would_miss_is_refused_at_once(platform: LocalPlatform) -> None:
    wait_s = HELD * HELD_TOKENS / QUEUE_WAIT_TOKENS_PER_S  # ~0.82 s of work in flight
    short = wait_s / 2
    metadata = auth_metadata(platform.api_token)
    with platform.client() as client:
        stub = pb_grpc.PonderServiceStub(client.channel)
        slow = build_request(messages=[("user", "count slowly")], max_tokens=HELD_TOKENS)
        held = [stub.StreamGenerate(slow, metadata=metadata, timeout=60) for _ in range(HELD)]
        try:
            for stream in held:
                assert next(stream).text  # admitted and generating
            quick = build_request(messages=[("user", "hello")], max_tokens=8)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                stub.Generate(quick, metadata=metadata, timeout=short)
            took = time.monotonic() - started
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
            assert "deadline" in (refused.value.details() or "")
            trailers = dict(refused.value.trailing_metadata() or ())
            assert int(trailers["retry-after-ms"]) > 0
            assert took < short  # refused, not left to time out
            # the same call with time enough is admitted beside the held work
            assert stub.Generate(quick, metadata=metadata, timeout=30).text
            # a deadline sent as the header (an HTTP caller's way) counts too
            header = (*metadata, (DEADLINE_HEADER, str(int(short * 1000))))
            with pytest.raises(grpc.RpcError) as by_header:
                stub.Generate(quick, metadata=header, timeout=30)
            assert by_header.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for stream in held:
                stream.cancel()
        # once the held work is gone, the short deadline is met again
        deadline = time.monotonic() + 10
        while True:
            try:
                assert stub.Generate(quick, metadata=metadata, timeout=short).text
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                assert time.monotonic() < deadline, "the cancelled streams stayed booked"
                time.sleep(0.2)
