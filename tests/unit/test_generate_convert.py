import pytest

from ponder.api.client import build_request
from ponder.api.generate_convert import chunk_to_proto, generation_request_from_proto
from ponder.config import RequestLimits
from ponder.errors import InvalidArgument, NotFound
from ponder.generation import FinishReason, GenerationChunk, Role, TokenLogprob, TopLogprob
from ponder.v1 import ponder_pb2 as pb

LIMITS = RequestLimits()


def convert(request: pb.GenerateRequest, adapters: tuple[str, ...] = ("sql",)):
    return generation_request_from_proto(
        request, request_id="r1", limits=LIMITS, max_logprobs=20, adapters=adapters
    )


def test_chat_request_converts() -> None:
    request = build_request(
        messages=[("system", "Be brief."), ("user", "Hi")],
        preset="report",
        top_p=0.5,
        max_tokens=9,
        seed=3,
        stop=["."],
        logprobs=2,
        adapter="sql",
    )
    converted = convert(request)
    assert [m.role for m in converted.messages] == [Role.SYSTEM, Role.USER]
    assert converted.sampling.temperature == pytest.approx(0.7)
    assert converted.sampling.top_p == pytest.approx(0.5)
    assert (converted.sampling.max_tokens, converted.sampling.seed) == (9, 3)
    assert converted.sampling.logprobs == 2
    assert converted.adapter == "sql"
    assert converted.request_id == "r1"


def test_unset_optional_fields_stay_unset() -> None:
    converted = convert(build_request("Once upon a time"))
    assert converted.prompt == "Once upon a time"
    assert converted.sampling.max_tokens is None
    assert converted.sampling.seed is None
    assert converted.sampling.logprobs is None
    assert converted.adapter is None


def test_explicit_zero_temperature_overrides_creative_preset() -> None:
    converted = convert(build_request("x", preset="creative", temperature=0.0))
    assert converted.sampling.temperature == 0.0


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (build_request(""), "prompt"),
        (build_request("   "), "prompt"),
        (build_request("x", messages=[("user", "y")]), "prompt"),
        (pb.GenerateRequest(messages=[pb.ChatMessage(role=0, content="hi")]), "messages[0].role"),
        (pb.GenerateRequest(messages=[pb.ChatMessage(role=9, content="hi")]), "messages[0].role"),
        (build_request("x", temperature=2.5), "sampling.temperature"),
        (build_request("x", top_p=0.0), "sampling.top_p"),
        (build_request("x", max_tokens=0), "sampling.max_tokens"),
        (build_request("x", stop=[str(i) for i in range(17)]), "sampling.stop"),
        (build_request("x", logprobs=21), "sampling.logprobs"),
        (build_request("x" * (LIMITS.max_prompt_chars + 1)), "prompt"),
    ],
)
def test_bad_requests_name_the_field(request_: pb.GenerateRequest, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert(request_)
    assert caught.value.message.startswith(field + ":")


def test_unknown_adapter_is_not_found() -> None:
    with pytest.raises(NotFound, match="adapter"):
        convert(build_request("x", adapter="missing"))


def test_chunk_to_proto_carries_logprobs_and_finish() -> None:
    chunk = GenerationChunk(
        text=" Paris",
        prompt_tokens=10,
        completion_tokens=4,
        logprobs=(
            TokenLogprob(" Paris", -0.1, (TopLogprob(" Paris", -0.1), TopLogprob(" L", -3))),
        ),
        finish_reason=FinishReason.LENGTH,
    )
    message = chunk_to_proto(chunk, "r1")
    assert message.text == " Paris"
    assert message.finish_reason == pb.FINISH_REASON_LENGTH
    assert (message.usage.prompt_tokens, message.usage.completion_tokens) == (10, 4)
    assert [t.token for t in message.logprobs[0].top_logprobs] == [" Paris", " L"]
    assert message.request_id == "r1"
    unfinished = chunk_to_proto(GenerationChunk("a", 1, 1), "r1")
    assert unfinished.finish_reason == pb.FINISH_REASON_UNSPECIFIED
