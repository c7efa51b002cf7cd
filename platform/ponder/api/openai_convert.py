"""OpenAI's chat/completions JSON <-> ponder.v1 messages.

The HTTP front door turns an OpenAI request into the same `GenerateRequest` a gRPC caller
sends, so one validation path (ponder.api.generate_convert) and one engine path serve
both; the answers are turned back into OpenAI's response and chunk shapes here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ponder.errors import InvalidArgument
from ponder.model_catalogue import BASE_MODEL_NAME
from ponder.v1 import ponder_pb2 as pb

UINT32_MAX = 2**32 - 1  # the proto fields these numbers go to
MAX_CHOICES = 8
_ROLES = {"system": pb.ROLE_SYSTEM, "user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT}
_PRESETS = {
    "": pb.SAMPLING_PRESET_UNSPECIFIED,
    "report": pb.SAMPLING_PRESET_REPORT,
    "creative": pb.SAMPLING_PRESET_CREATIVE,
}
_FINISH = {
    pb.FINISH_REASON_STOP: "stop",
    pb.FINISH_REASON_LENGTH: "length",
    pb.FINISH_REASON_ABORT: "stop",
}
# Fields of OpenAI's API this server does not implement: refused rather than ignored.
_UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "logit_bias", "suffix")


class _OpenAIModel(BaseModel):
    """OpenAI clients send fields this server has no use for (user, metadata, …): they
    are accepted and ignored, except those in _UNSUPPORTED."""

    model_config = ConfigDict(extra="allow")


class ChatMessageIn(_OpenAIModel):
    """One message of a chat request."""

    role: str = Field(description="system, user or assistant.")
    content: str | list[dict[str, Any]] = Field(description="Text, or text parts.")


class _SamplingFields(_OpenAIModel):
    model: str = Field(
        "", description="base, a LoRA adapter's name or the student's (GET /v1/models)."
    )
    temperature: float | None = Field(None, description="0 to 2; 0 is greedy.")
    top_p: float | None = Field(None, description="Nucleus sampling mass, (0, 1].")
    n: int = Field(1, ge=1, le=MAX_CHOICES, description="Choices to generate.")
    stream: bool = Field(False, description="Server-sent events, one chunk per message.")
    stop: str | list[str] | None = Field(None, description="Stop string(s).")
    max_tokens: int | None = Field(
        None, ge=1, le=UINT32_MAX, description="Most tokens to generate."
    )
    seed: int | None = Field(
        None,
        ge=-(2**63),
        le=2**63 - 1 - MAX_CHOICES,
        description="Sampling seed (choice i uses seed + i).",
    )
    min_tokens: int | None = Field(
        None,
        ge=0,
        le=UINT32_MAX,
        description="Ponder/vLLM extension: fewest tokens before the answer may end.",
    )
    ponder_preset: Literal["", "report", "creative"] = Field(
        "", description="Ponder's sampling preset (report 0.7, creative 1.2)."
    )


class ChatCompletionRequest(_SamplingFields):
    """POST /v1/chat/completions."""

    messages: list[ChatMessageIn] = Field(description="The conversation.")
    max_completion_tokens: int | None = Field(
        None, ge=1, le=UINT32_MAX, description="As max_tokens."
    )
    logprobs: bool = Field(False, description="Return log-probabilities of each token.")
    top_logprobs: int | None = Field(
        None, ge=0, le=UINT32_MAX, description="Most likely tokens per position."
    )


class CompletionRequest(_SamplingFields):
    """POST /v1/completions."""

    prompt: str | list[str] = Field(description="The prompt (one).")
    logprobs: int | None = Field(None, ge=0, le=UINT32_MAX, description="Top log-probs per token.")
    echo: bool = Field(False, description="Unsupported when true.")


def _refuse_unsupported(request: _OpenAIModel) -> None:
    extra = request.model_extra or {}
    for name in _UNSUPPORTED:
        if extra.get(name) not in (None, [], {}):
            raise InvalidArgument(name, "is not supported by this server")


def _target(model: str, adapters: Iterable[str], students: Iterable[str]) -> tuple[str, str]:
    """(GenerateRequest.model, GenerateRequest.adapter) for an OpenAI `model` name;
    unknown names go to `adapter`, where they are refused with NOT_FOUND."""
    if model in ("", BASE_MODEL_NAME):
        return "", ""
    if model in set(students):
        return model, ""
    del adapters  # every other name is an adapter's; the ingress checks it exists
    return "", model


def _sampling(request: _SamplingFields, max_tokens: int | None, logprobs: int | None) -> Any:
    sampling = pb.SamplingOptions(preset=_PRESETS[request.ponder_preset])
    if request.temperature is not None:
        sampling.temperature = request.temperature
    if request.top_p is not None:
        sampling.top_p = request.top_p
    if max_tokens is not None:
        sampling.max_tokens = max_tokens
    if logprobs is not None:
        sampling.logprobs = logprobs
    if request.min_tokens is not None:
        sampling.min_tokens = request.min_tokens
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    sampling.stop.extend(stops)
    return sampling


def _with_seeds(base: pb.GenerateRequest, request: _SamplingFields) -> list[pb.GenerateRequest]:
    """n copies of the request; with a seed, choice i samples with seed + i."""
    copies = []
    for index in range(request.n):
        copy = pb.GenerateRequest()
        copy.CopyFrom(base)
        if request.seed is not None:
            copy.sampling.seed = request.seed + index
        copies.append(copy)
    return copies


def _text(content: str | list[dict[str, Any]], index: int) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidArgument(f"messages[{index}].content", "only text parts are supported")
        parts.append(part["text"])
    return "".join(parts)


def chat_to_generate(
    request: ChatCompletionRequest, adapters: Iterable[str], students: Iterable[str]
) -> list[pb.GenerateRequest]:
    """The GenerateRequests (one per choice) for a chat completion request."""
    _refuse_unsupported(request)
    messages = []
    for index, message in enumerate(request.messages):
        role = _ROLES.get(message.role)
        if role is None:
            raise InvalidArgument(f"messages[{index}].role", f"unknown role {message.role!r}")
        messages.append(pb.ChatMessage(role=role, content=_text(message.content, index)))
    logprobs = None
    if request.logprobs:
        logprobs = request.top_logprobs or 0
    elif request.top_logprobs:
        raise InvalidArgument("top_logprobs", "needs logprobs: true")
    model, adapter = _target(request.model, adapters, students)
    base = pb.GenerateRequest(
        messages=messages,
        sampling=_sampling(request, request.max_completion_tokens or request.max_tokens, logprobs),
        model=model,
        adapter=adapter,
    )
    return _with_seeds(base, request)


def completion_to_generate(
    request: CompletionRequest, adapters: Iterable[str], students: Iterable[str]
) -> list[pb.GenerateRequest]:
    """The GenerateRequests (one per choice) for a completion request."""
    _refuse_unsupported(request)
    if request.echo:
        raise InvalidArgument("echo", "is not supported by this server")
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    if len(prompts) != 1:
        raise InvalidArgument("prompt", "give exactly one prompt")
    model, adapter = _target(request.model, adapters, students)
    base = pb.GenerateRequest(
        prompt=prompts[0],
        sampling=_sampling(request, request.max_tokens, request.logprobs),
        model=model,
        adapter=adapter,
    )
    return _with_seeds(base, request)


# -- answers ------------------------------------------------------------------------------


def _chat_logprobs(response: pb.GenerateResponse) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": token.token,
                "logprob": token.logprob,
                "bytes": list(token.token.encode()),
                "top_logprobs": [
                    {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode())}
                    for t in token.top_logprobs
                ],
            }
            for token in response.logprobs
        ]
    }


def _completion_logprobs(response: pb.GenerateResponse) -> dict[str, Any]:
    return {
        "tokens": [t.token for t in response.logprobs],
        "token_logprobs": [t.logprob for t in response.logprobs],
        "top_logprobs": [{x.token: x.logprob for x in t.top_logprobs} for t in response.logprobs],
    }


def _usage(responses: Sequence[pb.GenerateResponse]) -> dict[str, int]:
    prompt = responses[0].usage.prompt_tokens if responses else 0
    completion = sum(r.usage.completion_tokens for r in responses)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _envelope(kind: str, request_id: str, model: str, choices: list[Any]) -> dict[str, Any]:
    """The fields every OpenAI answer object shares; `kind` is its `object` value."""
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {
        "id": f"{prefix}-{request_id}",
        "object": kind,
        "created": int(time.time()),
        "model": model or BASE_MODEL_NAME,
        "choices": choices,
    }


def _finish(response: pb.GenerateResponse) -> str | None:
    return _FINISH.get(response.finish_reason, "stop") if response.finish_reason else None


def chat_completion(
    responses: Sequence[pb.GenerateResponse], model: str, with_logprobs: bool
) -> dict[str, Any]:
    """OpenAI's chat.completion object for the answers of one request."""
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": response.text},
            "finish_reason": _finish(response) or "stop",
            "logprobs": _chat_logprobs(response) if with_logprobs else None,
        }
        for index, response in enumerate(responses)
    ]
    body = _envelope("chat.completion", responses[0].request_id, model, choices)
    return body | {"usage": _usage(responses)}


def text_completion(
    responses: Sequence[pb.GenerateResponse], model: str, with_logprobs: bool
) -> dict[str, Any]:
    """OpenAI's text_completion object for the answers of one request."""
    choices = [
        {
            "index": index,
            "text": response.text,
            "finish_reason": _finish(response) or "stop",
            "logprobs": _completion_logprobs(response) if with_logprobs else None,
        }
        for index, response in enumerate(responses)
    ]
    body = _envelope("text_completion", responses[0].request_id, model, choices)
    return body | {"usage": _usage(responses)}


def chat_chunk(
    chunk: pb.GenerateResponse, index: int, model: str, first: bool, with_logprobs: bool
) -> dict[str, Any]:
    """One chat.completion.chunk for a streamed message of choice `index`."""
    delta: dict[str, Any] = {"content": chunk.text}
    if first:
        delta["role"] = "assistant"
    choice = {
        "index": index,
        "delta": delta,
        "finish_reason": _finish(chunk),
        "logprobs": _chat_logprobs(chunk) if with_logprobs else None,
    }
    return _envelope("chat.completion.chunk", chunk.request_id, model, [choice])


def text_chunk(
    chunk: pb.GenerateResponse, index: int, model: str, with_logprobs: bool
) -> dict[str, Any]:
    """One text_completion chunk for a streamed message of choice `index`."""
    choice = {
        "index": index,
        "text": chunk.text,
        "finish_reason": _finish(chunk),
        "logprobs": _completion_logprobs(chunk) if with_logprobs else None,
    }
    return _envelope("text_completion", chunk.request_id, model, [choice])


def usage_chunk(
    request_id: str, model: str, kind: str, responses: Sequence[pb.GenerateResponse]
) -> dict[str, Any]:
    """The last chunk when stream_options.include_usage is asked: usage, no choices."""
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    return _envelope(obj, request_id, model, []) | {"usage": _usage(responses)}
