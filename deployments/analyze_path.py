"""The Analyze RPC's path, after the ingress has authenticated the caller:

1. a question about a chart that the chart reader can answer ("Which month has the highest
   bar?", "What is the value of the Mar bar?", "How much higher is Mar than Jan?"): the
   encoder pool reads the chart's labels and values; the answer is taken from them, or,
   when it needs arithmetic, Reason computes it over the values read (the planner gets a
   word problem stating them). The answer carries the reading and the values it used;
2. a question about a table that the table reader can answer ("What is the price of
   plums?", "Which city has the most visitors?", "What is the total of A and B?"): the
   encoder pool's table reader picks the operation, the column and the rows; the answer
   is taken from those cells, or Reason computes it over them, as for charts;
3. anything else: the encoder pool fuses the image/table into the prompt and the decoder
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
    table_answer_to_proto,
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
from ponder.multimodal.table_questions import TableRead, asks_yes_or_no, stated_cells
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
        if (read := await self._read_answer(checked, call)) is not None:
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
        if (read := await self._read_answer(checked, call)) is not None:
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

    async def _read_answer(self, checked: AnalyzeCall, call: Call) -> pb.AnalyzeResponse | None:
        """The answer from the chart reader (an image alone) or the table reader (a table
        alone), or None when neither answers this request."""
        if checked.image is not None and checked.table_json is None:
            return await self._chart_answer(checked, call)
        if checked.table_json is not None and checked.image is None:
            return await self._table_answer(
                checked.messages[-1]["content"], checked.table_json, call
            )
        return None

    async def _table_answer(
        self, question: str, table_json: str, call: Call
    ) -> pb.AnalyzeResponse | None:
        """The answer from the table reader, or None when it is switched off, the question
        wants a yes or a no, the reading is "none of these" or less sure than the
        configured bound, or the cells it points at give none."""
        if not self._config.encoder.table_reader or asks_yes_or_no(question):
            return None
        read: TableRead = await self._encoders().read_table.remote(question, table_json)
        if read.answer is None:
            return None
        if read.reading.confidence < self._config.encoder.table_reader_min_confidence:
            return None
        if not read.answer.expression:
            return table_answer_to_proto(read, call.request_id)
        problem = f"{stated_cells(read.answer)} {question}"
        reason_call = self._reason_call(pb.ReasonRequest(problem=problem), call)
        result: ReasonResult = await self._planner.reason.remote(reason_call)
        return table_answer_to_proto(read, call.request_id, result)

    async def _chart_answer(self, checked: AnalyzeCall, call: Call) -> pb.AnalyzeResponse | None:
        """The answer from the chart reader, or None when this request is not a chart
        question it answers (a question of another kind, labels the chart does not show,
        a reading less sure than the configured bound where the answer rests, or the
        reader switched off)."""
        question = checked.messages[-1]["content"]
        if not self._config.encoder.chart_reader or operation_of(question) is None:
            return None
        reading = await self._encoders().read_chart.remote(checked.image, question)
        answer = answer_question(question, reading.reading)
        if answer is None:
            return None
        if answer.confidence < self._config.encoder.chart_reader_min_confidence:
            return None  # not read surely where the answer rests (or not a chart)
        if not answer.expression:
            return chart_answer_to_proto(answer, reading, call.request_id)
        return await self._reasoned(question, answer, reading, call)

    async def _reasoned(
        self, question: str, answer: ChartAnswer, reading: ChartRead, call: Call
    ) -> pb.AnalyzeResponse:
        """Reason over a word problem that states the values read, then the question."""
        problem = f"{stated_values(answer.used, reading.reading.kind)} {question}"
        reason_call = self._reason_call(pb.ReasonRequest(problem=problem), call)
        result: ReasonResult = await self._planner.reason.remote(reason_call)
        return chart_answer_to_proto(answer, reading, call.request_id, result)

    async def _fused_generation(
        self, checked: AnalyzeCall, request_id: str
    ) -> tuple[GenerationRequest, object]:
        """Encode and fuse the inputs (encoder pool): the decoder request with the fused
        prompt embeddings, and what the fusion reports. The main decoder runs them with
        the LoRA they were trained with, if any (a stage-2 chart fusion's); a student
        serves no adapters and gets them alone."""
        fused = await self._encoders().fuse.remote(
            checked.messages, checked.image, checked.table_json
        )
        generation = GenerationRequest(
            request_id=request_id,
            sampling=checked.sampling,
            prompt_embeds=fused.prompt_embeds,
            model=checked.model,
            adapter=(fused.adapter or None) if checked.model not in self._students else None,
        )
        return generation, fused
