"""OpenAI request/response shapes <-> ponder.v1 messages."""

from __future__ import annotations

import pytest

from ponder.api.openai_convert import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_chunk,
    chat_completion,
    chat_to_generate,
    completion_to_generate,
    text_completion,
)
from ponder.errors import InvalidArgument
from ponder.v1 import ponder_pb2 as pb

ADAPTERS = frozenset({"math-1"})
STUDENTS = frozenset({"student-1"})


def _chat(**fields: object) -> list[pb.GenerateRequest]:
    body = {"messages": [{"role": "user", "content": "hi"}], **fields}
    return chat_to_generate(ChatCompletionRequest.model_validate(body), ADAPTERS, STUDENTS)


def test_chat_fields_map_to_one_generate_request() -> None:
    (request,) = _chat(
        model="math-1", temperature=0.3, top_p=0.9, max_tokens=12, stop="\n", seed=5,
        logprobs=True, top_logprobs=2, min_tokens=12,
    )  # fmt: skip
    assert request.adapter == "math-1" and request.model == ""
    assert request.messages[0].role == pb.ROLE_USER and request.messages[0].content == "hi"
    sampling = request.sampling
    assert sampling.temperature == pytest.approx(0.3) and sampling.top_p == pytest.approx(0.9)
    assert (sampling.max_tokens, list(sampling.stop), sampling.seed) == (12, ["\n"], 5)
    assert sampling.logprobs == 2 and sampling.min_tokens == 12


def test_models_choose_the_decoder_set_or_adapter() -> None:
    assert (_chat()[0].model, _chat()[0].adapter) == ("", "")
    assert (_chat(model="base")[0].model, _chat(model="base")[0].adapter) == ("", "")
    assert _chat(model="student-1")[0].model == "student-1"
    assert _chat(model="nope")[0].adapter == "nope"  # the ingress answers NOT_FOUND


def test_n_choices_get_consecutive_seeds_and_unset_fields_stay_unset() -> None:
    seeded = _chat(n=3, seed=10)
    assert [r.sampling.seed for r in seeded] == [10, 11, 12]
    unseeded = _chat(n=2)
    assert len(unseeded) == 2 and not unseeded[0].sampling.HasField("seed")
    assert not unseeded[0].sampling.HasField("temperature")
    assert not unseeded[0].sampling.HasField("max_tokens")
    assert not unseeded[0].sampling.HasField("min_tokens")


def test_presets_and_text_parts() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    (request,) = _chat(ponder_preset="creative", messages=[{"role": "user", "content": parts}])
    assert request.sampling.preset == pb.SAMPLING_PRESET_CREATIVE
    assert request.messages[0].content == "ab"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "content"),
    ],
)
def test_what_is_not_supported_is_refused_naming_the_field(
    fields: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _chat(**fields)
    assert named in str(caught.value)


def test_completions_take_one_prompt() -> None:
    (request,) = completion_to_generate(
        CompletionRequest.model_validate({"prompt": "1, 2,", "max_tokens": 3, "logprobs": 1}),
        ADAPTERS,
        STUDENTS,
    )
    assert request.prompt == "1, 2," and request.sampling.logprobs == 1
    with pytest.raises(InvalidArgument, match="prompt"):
        completion_to_generate(
            CompletionRequest.model_validate({"prompt": ["a", "b"]}), ADAPTERS, STUDENTS
        )


def _answer(text: str, tokens: int) -> pb.GenerateResponse:
    top = pb.TopLogprob(token="a", logprob=-0.5)
    return pb.GenerateResponse(
        text=text,
        finish_reason=pb.FINISH_REASON_LENGTH,
        usage=pb.Usage(prompt_tokens=7, completion_tokens=tokens),
        request_id="r1",
        logprobs=[pb.TokenLogprob(token="a", logprob=-0.5, top_logprobs=[top])],
    )


def test_answers_take_openais_shapes_and_count_every_choice() -> None:
    body = chat_completion([_answer("x", 3), _answer("y", 4)], "math-1", with_logprobs=True)
    assert body["object"] == "chat.completion" and body["model"] == "math-1"
    assert [c["message"]["content"] for c in body["choices"]] == ["x", "y"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["logprobs"]["content"][0]["top_logprobs"][0]["logprob"] == -0.5
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 7, "total_tokens": 14}
    text = text_completion([_answer("z", 2)], "", with_logprobs=False)
    assert text["choices"][0]["text"] == "z" and text["model"] == "base"
    chunk = chat_chunk(_answer("q", 1), 1, "", first=True, with_logprobs=False)
    assert chunk["choices"][0]["delta"] == {"content": "q", "role": "assistant"}
    assert chunk["choices"][0]["index"] == 1
