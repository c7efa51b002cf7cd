"""The deployments' own behaviour against the scripted engine (no vLLM), through Serve's
gRPC proxy: error mapping, stream relay and cancellation, the planner's fan-out, the
encoder pool, and every RPC fuzzed. The slow tier checks the same paths on vLLM."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import serve

from deployments.runner import LocalPlatform
from ponder.api.client import (
    auth_metadata,
    build_analyze_request,
    build_reason_request,
    build_request,
)
from ponder.engine.scripted import FAIL_MARKER
from ponder.v1 import ponder_pb2 as pb
from ponder.v1 import ponder_pb2_grpc as pb_grpc
from tests.fast.conftest import PROBLEM

pytestmark = pytest.mark.fast

APP = "ponder"


def _unfinished() -> int:
    decoder = serve.get_deployment_handle("Decoder", app_name=APP)
    return int(decoder.stats.remote().result().unfinished_requests)


def test_generate_and_stream_relay_the_engines_tokens(platform: LocalPlatform) -> None:
    with platform.client() as client:
        request = build_request(messages=[("user", "hello")], max_tokens=5)
        unary = client.generate(request)
        chunks = list(client.stream_generate(request))
    assert unary.text == "one two three four five"
    assert unary.finish_reason == pb.FINISH_REASON_LENGTH
    assert "".join(c.text for c in chunks) == unary.text
    assert chunks[-1].usage.completion_tokens == 5


@pytest.mark.parametrize(
    ("request_", "code", "named"),
    [
        (
            build_request(messages=[("user", "hi")], temperature=9.0),
            "INVALID_ARGUMENT",
            "temperature",
        ),
        (build_request(messages=[("user", "hi")], adapter="nope"), "NOT_FOUND", "nope"),
        (build_request(messages=[("user", FAIL_MARKER)]), "UNAVAILABLE", "scripted"),
        (pb.GenerateRequest(), "INVALID_ARGUMENT", "prompt"),
    ],
    ids=["bad-temperature", "unknown-adapter", "engine-failure", "empty"],
)
def test_errors_map_to_their_status_without_a_traceback(
    platform: LocalPlatform, request_: pb.GenerateRequest, code: str, named: str
) -> None:
    with platform.client() as client, pytest.raises(grpc.RpcError) as error:
        client.generate(request_)
    assert error.value.code().name == code
    assert named in error.value.details()
    assert "Traceback" not in error.value.details()


def test_a_cancelled_stream_stops_the_engine(platform: LocalPlatform) -> None:
    with platform.client() as client:
        call = client.stream_generate(
            build_request(messages=[("user", "count slowly")], max_tokens=400)
        )
        first = next(iter(call))
        assert first.text
        assert _unfinished() == 1
        call.cancel()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 3.0  # the whole reply would take 4 s
    while _unfinished() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _unfinished() == 0


def test_reason_fans_out_and_answers_on_the_scripted_engine(platform: LocalPlatform) -> None:
    with platform.client() as client:
        request = build_reason_request(
            PROBLEM, branches=4, strategies=["pot", "cot", "decompose", "direct"]
        )
        response = client.reason(request, timeout=60)
    assert response.numeric_answer == 7
    assert {p.strategy for p in response.paths} == {"pot", "cot", "decompose", "direct"}
    assert response.usage.completion_tokens >= response.usage.kept_tokens > 0


def test_analyze_answers_table_questions_from_the_table_reader(platform: LocalPlatform) -> None:
    """The packaged table reader picks the column and rows; a cell or the largest row is
    the answer, a sum goes to Reason (here the scripted one) stating the cells used."""
    table = json.dumps(
        {
            "columns": ["item", "price", "stock"],
            "rows": [["apples", 12, 40], ["pears", 30, 8], ["plums", 7, 25]],
        }
    )
    with platform.client() as client:
        lookup = client.analyze(
            build_analyze_request("What is the price of pears?", table_json=table)
        )
        assert (lookup.method, lookup.text) == (pb.ANALYZE_METHOD_TABLE_READING, "30")
        assert (lookup.table.operation, lookup.table.column) == ("lookup", "price")
        assert [(v.label, v.value) for v in lookup.values_used] == [("pears", 30.0)]
        assert lookup.table.reader_version.startswith("table-reader-")
        most = client.analyze(
            build_analyze_request("Which item has the most stock?", table_json=table)
        )
        assert (most.method, most.text, most.table.operation) == (
            pb.ANALYZE_METHOD_TABLE_READING, "apples", "argmax",
        )  # fmt: skip
        total = client.analyze(
            build_analyze_request("What is the total stock of pears and plums?", table_json=table)
        )
        assert total.method == pb.ANALYZE_METHOD_TABLE_READING_REASON
        assert [(v.label, v.value) for v in total.values_used] == [("pears", 8.0), ("plums", 25.0)]
        assert total.text == "7" and total.usage.completion_tokens > 0  # the scripted Reason


def test_analyze_fuses_a_table_and_maps_bad_tables(platform: LocalPlatform) -> None:
    table = '{"columns": ["year", "sales"], "rows": [[2023, 10], [2024, 14]]}'
    with platform.client() as client:
        response = client.analyze(
            build_analyze_request("Did sales rise?", table_json=table, max_tokens=3)
        )
        assert response.text == "one two three"
        assert response.table_vectors == 6 and response.image_vectors == 0  # header + cells
        with pytest.raises(grpc.RpcError) as bad:
            client.analyze(build_analyze_request("Did sales rise?", table_json="[[[", max_tokens=3))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "table" in bad.value.details()


# -- fuzzing: every request message, built from random field values ----------------------

# What a caller may be answered for any request it can build. INTERNAL, UNKNOWN and
# DEADLINE_EXCEEDED (a hang: every call here has a 30 s deadline) would be defects.
DOCUMENTED_CODES = frozenset(
    {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}
)
SERVICE = pb.DESCRIPTOR.services_by_name["PonderService"]
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}
_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["", "base", "math-50464f8b", "student-x", "x" * 5000, "{}", "[[[["]),
)
_BYTES = st.one_of(
    st.binary(max_size=512),
    st.sampled_from([b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff" + b"\x00" * 40]),
)


def _field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _message_values(field.message_type, depth + 1)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.integers(min(numbers) - 1, max(numbers) + 2)  # unknown values too
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.one_of(st.integers(low, high), st.integers(-3, 70_000).filter(
            lambda v: low <= v <= high))  # fmt: skip
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_BYTES:
        return _BYTES
    return _TEXT


def _message_values(descriptor: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of this type with any subset of fields set to arbitrary values."""
    message_class = message_factory.GetMessageClass(descriptor)
    if depth > 2:
        return st.just(message_class())
    optional: dict[str, st.SearchStrategy[object]] = {}
    for field in descriptor.fields:
        values = _field_values(field, depth)
        repeated = field.is_repeated
        optional[field.name] = st.lists(values, max_size=4) if repeated else values

    def build(values: dict[str, object]) -> Any:
        message = message_class()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            target = getattr(message, name) if field.is_repeated else None
            if target is not None:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    for item in value:  # type: ignore[attr-defined]
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)  # type: ignore[arg-type]
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries({}, optional=optional).map(build)


def fuzz_rpc(target: str, application: str, token: str, rpc: str, examples: int) -> Counter[str]:
    """Send `examples` generated requests to one RPC; the status codes seen. Fails on an
    undocumented code or an INTERNAL detail that leaks a traceback."""
    method = SERVICE.methods_by_name[rpc]
    metadata = (("application", application), *auth_metadata(token))
    seen: Counter[str] = Counter()
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.PonderServiceStub(channel)
        call = getattr(stub, rpc)

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(_message_values(method.input_type))
        def check(request: Any) -> None:
            try:
                response = call(request, metadata=metadata, timeout=30)
                if method.server_streaming:
                    for _ in response:
                        pass
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name  # type: ignore[attr-defined]
                assert "Traceback" not in (error.details() or ""), error.details()  # type: ignore[attr-defined]
            seen[code] += 1
            assert code in DOCUMENTED_CODES, (rpc, code, request)

        check()
    return seen


@pytest.mark.parametrize("rpc", sorted(SERVICE.methods_by_name))
def test_fuzzed_requests_get_documented_codes_and_the_server_stays_healthy(
    platform: LocalPlatform, rpc: str
) -> None:
    # PONDER_FUZZ_EXAMPLES / PONDER_FUZZ_REPORT: the longer run behind RELIABILITY.md's
    # fuzz figure (each RPC's codes appended to the report as a JSON line).
    examples = int(os.environ.get("PONDER_FUZZ_EXAMPLES", "25"))
    started = time.monotonic()
    seen = fuzz_rpc(platform.target, APP, platform.api_token, rpc, examples=examples)
    print(f"{rpc}: {dict(seen)}")
    report = os.environ.get("PONDER_FUZZ_REPORT")
    if report:
        line = {"rpc": rpc, "codes": dict(seen), "seconds": time.monotonic() - started}
        with open(report, "a") as out:
            out.write(json.dumps(line) + "\n")
    assert sum(seen.values()) >= 1  # a message without fields has one form
    with platform.client() as client:
        assert client.check() == health_pb2.HealthCheckResponse.SERVING
        assert client.generate(build_request(messages=[("user", "hello")], max_tokens=2)).text


def test_every_rpc_succeeds_over_grpc(platform: LocalPlatform) -> None:
    """One well-formed call of each RPC that the tests above do not already answer."""
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(picture, format="PNG")
    table = '{"columns": ["year", "sales"], "rows": [[2023, 10], [2024, 14]]}'
    with platform.client() as client:
        events = list(client.stream_reason(build_reason_request(PROBLEM, branches=2)))
        assert events[0].kind == pb.REASON_EVENT_KIND_PLAN_BUILT
        assert events[-1].kind == pb.REASON_EVENT_KIND_FINAL_ANSWER
        assert events[-1].response.numeric_answer == 7
        image = client.encode(image=picture.getvalue())
        assert image.modality and image.vectors > 0 and len(image.pooled) == image.width
        cells = client.encode(table_json=table)
        assert cells.vectors == 6  # two header cells and four body cells
        request = build_analyze_request("Did sales rise?", table_json=table, max_tokens=3)
        chunks = list(client.stream_analyze(request))
        assert "".join(c.text for c in chunks) == "one two three"
        assert client.get_scorer().active.version
        assert {m.name for m in client.list_models()} >= {"base"}
