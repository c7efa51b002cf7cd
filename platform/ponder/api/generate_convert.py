"""Translate between ponder.v1 messages and the core's request/response types.

Validation of what a caller sent happens here (shape and ranges); limits that need the
tokenizer (prompt length in tokens, max_tokens vs context) are checked by the engine.
"""

from __future__ import annotations

from collections.abc import Iterable

from ponder.config import RequestLimits
from ponder.errors import InvalidArgument
from ponder.generation import (
    ChatMessage,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    GenerationResult,
    Role,
    SamplingOptions,
    TokenLogprob,
)
from ponder.model_catalogue import resolve_model
from ponder.sampling import Preset, resolve_sampling
from ponder.v1 import ponder_pb2 as pb

_ROLES = {
    pb.ROLE_SYSTEM: Role.SYSTEM,
    pb.ROLE_USER: Role.USER,
    pb.ROLE_ASSISTANT: Role.ASSISTANT,
}
_PRESETS = {
    pb.SAMPLING_PRESET_UNSPECIFIED: Preset.NONE,
    pb.SAMPLING_PRESET_REPORT: Preset.REPORT,
    pb.SAMPLING_PRESET_CREATIVE: Preset.CREATIVE,
}
_FINISH_REASONS = {
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.ABORT: pb.FINISH_REASON_ABORT,
}


def generation_request_from_proto(
    request: pb.GenerateRequest,
    *,
    request_id: str,
    limits: RequestLimits,
    max_logprobs: int,
    adapters: Iterable[str],
    students: Iterable[str] = (),
) -> GenerationRequest:
    """Check a GenerateRequest and turn it into a GenerationRequest.

    Raises InvalidArgument (field named first) or NotFound (unknown model or adapter).
    """
    messages = tuple(_chat_messages(request.messages, limits))
    prompt = request.prompt
    if not messages and not prompt.strip():
        raise InvalidArgument("prompt", "empty: give a prompt or at least one message")
    if messages and prompt:
        raise InvalidArgument("prompt", "give either a prompt or messages, not both")
    if len(prompt) > limits.max_prompt_chars:
        raise InvalidArgument(
            "prompt", f"{len(prompt)} characters exceeds the limit of {limits.max_prompt_chars}"
        )
    options = sampling_from_proto(request.sampling, limits, max_logprobs)
    target = resolve_model(request.model, request.adapter, adapters, students)
    return GenerationRequest(
        request_id=request_id,
        messages=messages,
        prompt=prompt,
        sampling=options,
        adapter=target.adapter,
        model=target.model,
    )


def sampling_from_proto(
    sampling: pb.SamplingOptions, limits: RequestLimits, max_logprobs: int
) -> SamplingOptions:
    """Check SamplingOptions (preset, ranges) and resolve them."""
    if sampling.preset not in _PRESETS:
        raise InvalidArgument("sampling.preset", f"unknown preset {sampling.preset}")
    return resolve_sampling(
        preset=_PRESETS[sampling.preset],
        temperature=sampling.temperature if sampling.HasField("temperature") else None,
        top_p=sampling.top_p if sampling.HasField("top_p") else None,
        max_tokens=sampling.max_tokens if sampling.HasField("max_tokens") else None,
        seed=sampling.seed if sampling.HasField("seed") else None,
        stop=list(sampling.stop),
        logprobs=sampling.logprobs if sampling.HasField("logprobs") else None,
        min_tokens=sampling.min_tokens if sampling.HasField("min_tokens") else None,
        max_stop_strings=limits.max_stop_strings,
        max_stop_chars=limits.max_stop_chars,
        max_logprobs=max_logprobs,
    )


def _chat_messages(
    messages: Iterable[pb.ChatMessage], limits: RequestLimits
) -> Iterable[ChatMessage]:
    total_chars = 0
    for index, message in enumerate(messages):
        if index >= limits.max_messages:
            raise InvalidArgument("messages", f"more than {limits.max_messages} messages")
        role = _ROLES.get(message.role)
        if role is None:
            raise InvalidArgument(f"messages[{index}].role", f"unknown role {message.role}")
        total_chars += len(message.content)
        if total_chars > limits.max_prompt_chars:
            raise InvalidArgument(
                "messages",
                f"conversation exceeds the limit of {limits.max_prompt_chars} characters",
            )
        yield ChatMessage(role=role, content=message.content)


def _logprobs_to_proto(records: Iterable[TokenLogprob]) -> list[pb.TokenLogprob]:
    return [
        pb.TokenLogprob(
            token=record.token,
            logprob=record.logprob,
            top_logprobs=[pb.TopLogprob(token=t.token, logprob=t.logprob) for t in record.top],
        )
        for record in records
    ]


def chunk_to_proto(chunk: GenerationChunk, request_id: str) -> pb.GenerateResponse:
    """One streamed chunk; usage and finish reason are filled on every chunk (running totals)."""
    return pb.GenerateResponse(
        text=chunk.text,
        finish_reason=(
            _FINISH_REASONS[chunk.finish_reason]
            if chunk.finish_reason
            else pb.FINISH_REASON_UNSPECIFIED
        ),
        usage=pb.Usage(
            prompt_tokens=chunk.prompt_tokens, completion_tokens=chunk.completion_tokens
        ),
        logprobs=_logprobs_to_proto(chunk.logprobs),
        request_id=request_id,
    )


def result_to_proto(result: GenerationResult, request_id: str) -> pb.GenerateResponse:
    """A whole answer."""
    return pb.GenerateResponse(
        text=result.text,
        finish_reason=_FINISH_REASONS[result.finish_reason],
        usage=pb.Usage(
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens
        ),
        logprobs=_logprobs_to_proto(result.logprobs),
        request_id=request_id,
    )
