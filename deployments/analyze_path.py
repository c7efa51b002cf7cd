"""The Analyze RPC's path, after the ingress has authenticated the caller:

1. a question about a chart that the chart reader can answer ("Which month has the highest
   bar?", "What is the value of the Mar bar?", "How much higher is Mar than Jan?"): the
   encoder pool reads the chart's labels and values; the answer is taken from them, or,
   when it needs arithmetic, Reason computes it over the values read (the planner gets a
   word problem stating them). The answer carries the reading and the values it used;
2. anything else: the encoder pool fuses the image/table into the prompt and the decoder
   answers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ray.serve.handle import DeploymentHandle

from deployments.grpc_calls import Call, relay
from ponder.api.multimodal_convert import (
    AnalyzeCall,
    analyze_call_from_proto,
    analyze_chunk_to_proto,
    chart_answer_to_proto,
)
from ponder.config import PonderConfig
from ponder.errors import Unavailable
from ponder.generation import GenerationRequest, GenerationResult
from ponder.multimodal.chart_questions import (
    ChartAnswer,
    ChartRead,
    answer_question,
    operation_of,
    stated_values,
)
from ponder.reasoning.requests import ReasonCall, ReasonResult
from ponder.v1 import ponder_pb2 as pb

ReasonCallOf = Callable[[pb.ReasonRequest, Call], ReasonCall]


class AnalyzePath:
    """Answers AnalyzeRequests: from the chart reader where it can, else fused."""

    def __init__(
        self,
        config: PonderConfig,
        decoders: dict[str, DeploymentHandle],
        students: frozenset[str],
        encoder: DeploymentHandle | None,
        planner: DeploymentHandle,
        reason_call: ReasonCallOf,
    ) -> None:
        self._config = config
        self._decoders = decoders
        self._students = students
        self._encoder = encoder
        self._planner = planner
        self._reason_call = reason_call

    async def unary(self, request: pb.AnalyzeRequest, call: Call) -> pb.AnalyzeResponse:
        checked = self._checked(request)
        if (read := await self._chart_answer(checked, call)) is not None:
            return read
        generation, fused = await self._fused_generation(checked, call.request_id)
        result: GenerationResult = await self._decoders[generation.model].complete.remote(
            generation
        )
        return analyze_chunk_to_proto(result, call.request_id, fused)

    async def stream(
        self, request: pb.AnalyzeRequest, call: Call
    ) -> AsyncIterator[pb.AnalyzeResponse]:
        checked = self._checked(request)
        if (read := await self._chart_answer(checked, call)) is not None:
            yield read
            return
        generation, fused = await self._fused_generation(checked, call.request_id)
        decoder = self._decoders[generation.model].options(stream=True)
        async for chunk in relay(decoder.stream.remote(generation)):
            yield analyze_chunk_to_proto(chunk, call.request_id, fused)

    # -- the two ways ----------------------------------------------------------------------

    def _checked(self, request: pb.AnalyzeRequest) -> AnalyzeCall:
        return analyze_call_from_proto(
            request,
            self._config.ingress.limits,
            self._config.decoder.engine.max_logprobs,
            self._students,
        )

    def _encoders(self) -> DeploymentHandle:
        if self._encoder is None:
            raise Unavailable("the encoder pool is off on this server (encoder.enabled)")
        return self._encoder

    async def _chart_answer(self, checked: AnalyzeCall, call: Call) -> pb.AnalyzeResponse | None:
        """The answer from the chart reader, or None when this request is not a chart
        question it answers (no image, a table too, a question of another kind, labels
        the chart does not show, a reading less sure than the configured bound, or the
        reader switched off)."""
        question = checked.messages[-1]["content"]
        if checked.image is None or checked.table_json is not None:
            return None
        if not self._config.encoder.chart_reader or operation_of(question) is None:
            return None
        reading = await self._encoders().read_chart.remote(checked.image)
        if reading.reading.confidence < self._config.encoder.chart_reader_min_confidence:
            return None  # not a chart it can read surely (or not a chart)
        answer = answer_question(question, reading.reading)
        if answer is None:
            return None
        if not answer.expression:
            return chart_answer_to_proto(answer, reading, call.request_id)
        return await self._reasoned(question, answer, reading, call)

    async def _reasoned(
        self, question: str, answer: ChartAnswer, reading: ChartRead, call: Call
    ) -> pb.AnalyzeResponse:
        """Reason over a word problem that states the values read, then the question."""
        problem = f"{stated_values(answer.used)} {question}"
        reason_call = self._reason_call(pb.ReasonRequest(problem=problem), call)
        result: ReasonResult = await self._planner.reason.remote(reason_call)
        return chart_answer_to_proto(answer, reading, call.request_id, result)

    async def _fused_generation(
        self, checked: AnalyzeCall, request_id: str
    ) -> tuple[GenerationRequest, object]:
        """Encode and fuse the inputs (encoder pool): the decoder request with the fused
        prompt embeddings, and what the fusion reports."""
        fused = await self._encoders().fuse.remote(
            checked.messages, checked.image, checked.table_json
        )
        generation = GenerationRequest(
            request_id=request_id,
            sampling=checked.sampling,
            prompt_embeds=fused.prompt_embeds,
            model=checked.model,
        )
        return generation, fused
