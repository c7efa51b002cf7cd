"""Encode / Analyze messages <-> the encoder pool's and decoder's types."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ponder.api.generate_convert import sampling_from_proto
from ponder.config import RequestLimits
from ponder.errors import InvalidArgument
from ponder.generation import FinishReason, GenerationChunk, GenerationResult, SamplingOptions
from ponder.model_catalogue import resolve_model
from ponder.multimodal.chart_questions import ChartAnswer, ChartRead
from ponder.multimodal.table_questions import TableRead
from ponder.reasoning.requests import ReasonResult
from ponder.reasoning.selection import chosen_program
from ponder.v1 import ponder_pb2 as pb

_FINISH = {
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.ABORT: pb.FINISH_REASON_ABORT,
}


@dataclass(frozen=True)
class AnalyzeCall:
    messages: list[dict[str, str]]
    image: bytes | None
    table_json: str | None
    sampling: SamplingOptions
    model: str = ""  # decoder set that answers ("" = the main one)


def _reasoned_over_reading(
    response: pb.AnalyzeResponse, reasoned: ReasonResult, method: pb.AnalyzeMethod
) -> None:
    """A reader's answer that Reason computed: its answer, tokens and chosen program (the
    reader's own expression when Reason names none)."""
    response.method = method
    response.text = reasoned.answer
    response.usage.prompt_tokens = reasoned.prompt_tokens
    response.usage.completion_tokens = reasoned.completion_tokens
    response.expression = chosen_program(reasoned) or response.expression


def chart_answer_to_proto(
    answer: ChartAnswer, read: ChartRead, request_id: str, reasoned: ReasonResult | None = None
) -> pb.AnalyzeResponse:
    """An answer from the chart reader (and, for arithmetic, Reason over what it read)."""
    values = [pb.ReadValue(label=label, value=value) for label, value in answer.used]
    chart = pb.ChartReading(
        kind=read.reading.kind,
        values=[
            pb.ReadValue(label=label, value=value)
            for label, value in zip(read.reading.labels, read.reading.values, strict=True)
        ],
        reader_version=read.reader_version,
    )
    response = pb.AnalyzeResponse(
        text=answer.answer,
        finish_reason=pb.FINISH_REASON_STOP,
        usage=pb.Usage(),
        request_id=request_id,
        weights_version=read.reader_version,
        method=pb.ANALYZE_METHOD_CHART_READING,
        chart=chart,
        values_used=values,
        expression=answer.expression,
    )
    if reasoned is not None:
        _reasoned_over_reading(response, reasoned, pb.ANALYZE_METHOD_CHART_READING_REASON)
    return response


def table_answer_to_proto(
    read: TableRead, request_id: str, reasoned: ReasonResult | None = None
) -> pb.AnalyzeResponse:
    """An answer from the table reader (and, for arithmetic, Reason over the cells)."""
    answer = read.answer
    assert answer is not None
    response = pb.AnalyzeResponse(
        text=answer.answer,
        finish_reason=pb.FINISH_REASON_STOP,
        usage=pb.Usage(),
        request_id=request_id,
        weights_version=read.reader_version,
        method=pb.ANALYZE_METHOD_TABLE_READING,
        table=pb.TableReading(
            operation=answer.operation.value,
            column=answer.column,
            reader_version=read.reader_version,
            confidence=read.reading.confidence,
        ),
        values_used=[pb.ReadValue(label=name, value=value) for name, value in answer.used],
        expression=answer.expression,
    )
    if reasoned is not None:
        _reasoned_over_reading(response, reasoned, pb.ANALYZE_METHOD_TABLE_READING_REASON)
    return response


def encode_input_from_proto(request: pb.EncodeRequest) -> tuple[bytes | None, str | None]:
    which = request.WhichOneof("input")
    if which is None:
        raise InvalidArgument("input", "set image or table_json")
    return (request.image, None) if which == "image" else (None, request.table_json)


def encode_response(encoded: dict[str, Any]) -> pb.EncodeResponse:
    return pb.EncodeResponse(
        modality=encoded["modality"],
        vectors=encoded["vectors"],
        width=encoded["width"],
        pooled=encoded["pooled"],
        batch_size=encoded["batch_size"],
        weights_version=encoded["weights_version"],
        random_init=encoded["weights_random_init"],
    )


def analyze_call_from_proto(
    request: pb.AnalyzeRequest,
    limits: RequestLimits,
    max_logprobs: int,
    students: Iterable[str] = (),
) -> AnalyzeCall:
    text = request.text.strip()
    if not text:
        raise InvalidArgument("text", "empty")
    if len(text) > limits.max_prompt_chars:
        raise InvalidArgument("text", f"longer than {limits.max_prompt_chars} characters")
    return AnalyzeCall(
        messages=[{"role": "user", "content": text}],
        image=request.image or None,
        table_json=request.table_json or None,
        sampling=sampling_from_proto(request.sampling, limits, max_logprobs),
        model=resolve_model(request.model, "", (), students).model,
    )


def analyze_chunk_to_proto(
    chunk: GenerationChunk | GenerationResult, request_id: str, fused: Any
) -> pb.AnalyzeResponse:
    finish = chunk.finish_reason
    return pb.AnalyzeResponse(
        text=chunk.text,
        finish_reason=_FINISH[finish] if finish else pb.FINISH_REASON_UNSPECIFIED,
        usage=pb.Usage(
            prompt_tokens=chunk.prompt_tokens, completion_tokens=chunk.completion_tokens
        ),
        request_id=request_id,
        image_vectors=fused.image_vectors,
        table_vectors=fused.table_vectors,
        weights_version=fused.weights_version,
        method=pb.ANALYZE_METHOD_FUSED_DECODER,
    )
