"""What a generation request and its output are, independent of gRPC and of the engine."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Role(enum.Enum):
    """Author of one chat message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class FinishReason(enum.Enum):
    """Why generation ended."""

    STOP = "stop"
    LENGTH = "length"
    ABORT = "abort"


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class StructuredOutput:
    """Constrain the output to a regex, one of several choices, or a JSON schema (one of)."""

    regex: str | None = None
    choice: tuple[str, ...] | None = None
    json_schema: str | None = None


@dataclass(frozen=True)
class SamplingOptions:
    """Resolved sampling options (preset applied, every value checked)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    structured: StructuredOutput | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request for the decoder: chat messages or a raw prompt."""

    request_id: str
    messages: tuple[ChatMessage, ...] = ()
    prompt: str = ""
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    adapter: str | None = None
    # A fused multimodal prompt: float32 tensor [positions, hidden width] given to the
    # engine instead of tokens (messages/prompt are then ignored).
    prompt_embeds: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class TopLogprob:
    """One likely token at a position."""

    token: str
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """Log-probability of one generated token with its top alternatives."""

    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class GenerationChunk:
    """New output since the previous chunk; the last one has finish_reason set."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class GenerationResult:
    """A whole answer."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    logprobs: tuple[TokenLogprob, ...] = ()


def join_chunks(chunks: list[GenerationChunk]) -> GenerationResult:
    """Fold a finished stream of chunks into one result."""
    finish_reason = chunks[-1].finish_reason if chunks else None
    if finish_reason is None:
        raise ValueError("stream ended without a finish reason")
    last = chunks[-1]
    return GenerationResult(
        text="".join(chunk.text for chunk in chunks),
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        finish_reason=finish_reason,
        logprobs=tuple(lp for chunk in chunks for lp in chunk.logprobs),
    )
