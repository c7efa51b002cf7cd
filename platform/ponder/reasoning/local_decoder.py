"""A PlannerDecoder over an engine in this process (training and evaluation jobs)."""

from __future__ import annotations

from ponder.engine.protocol import DecoderEngine
from ponder.generation import GenerationRequest, GenerationResult, TokenMeter, collect_chunks


class EngineDecoder:
    """Runs planner calls directly on a DecoderEngine (no Ray)."""

    def __init__(self, engine: DecoderEngine) -> None:
        self._engine = engine

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        return await collect_chunks(self._engine.generate(request), meter)
