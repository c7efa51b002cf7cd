"""Encoder pool deployment: image and table encoders batched across callers with
@serve.batch, and the fusion of their vectors into a decoder prompt.

Checks of untrusted input run before batching, so a bad image or table fails alone
(INVALID_ARGUMENT) and the replica keeps serving. Model work runs in a worker thread
(torch releases the GIL), so the replica keeps accepting requests, which join the next
batch, while one batch computes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import serve
from ray.util.metrics import Histogram

import ponder.multimodal as multimodal_package
from ponder.config import EncoderConfig, EngineConfig
from ponder.errors import InvalidArgument, Unavailable
from ponder.multimodal import chart_fusion
from ponder.multimodal.chart_fusion import ChartFusion, ChartMemoryInputs, memory_inputs
from ponder.multimodal.chart_questions import ChartRead, ChartReading, named_labels
from ponder.multimodal.chart_reader import (
    DEFAULT_READER_DIR,
    ChartReader,
    decode_readings,
    load_reader,
)
from ponder.multimodal.chart_reader import LABELS as CHART_LABELS
from ponder.multimodal.inputs import (
    ImageLimits,
    Table,
    TableLimits,
    decode_image,
    parse_table,
    preprocess_image,
)
from ponder.multimodal.model import MultimodalModel
from ponder.multimodal.table_questions import TableRead, answer_table_question
from ponder.multimodal.table_reader import (
    DEFAULT_TABLE_READER_DIR,
    QuestionStates,
    TableFeaturizer,
    TableReader,
    load_table_reader,
)
from ponder.multimodal.table_reader import decode_readings as decode_table_readings
from ponder.telemetry.tracing import correlate_logs, span

log = logging.getLogger("ray.serve")

PACKAGED_WEIGHTS = Path(multimodal_package.__file__).parent  # `ponder train fusion` output


@dataclass(frozen=True)
class Encoded:
    """One input's projected vectors [n, width] and how it was encoded."""

    modality: str
    vectors: torch.Tensor
    batch_size: int


@dataclass(frozen=True)
class FusedPrompt:
    prompt_embeds: torch.Tensor  # [positions, width] float32
    image_vectors: int
    table_vectors: int
    weights_version: str
    # the decoder LoRA these embeddings were trained with (a stage-2 chart fusion's,
    # served under its version), or "" for the plain decoder
    adapter: str = ""


@serve.deployment(name="EncoderPool")
class EncoderPool:
    def __init__(self, config: EncoderConfig, engine: EngineConfig) -> None:
        correlate_logs()
        weights = Path(config.weights_dir) if config.weights_dir else PACKAGED_WEIGHTS
        self._model = MultimodalModel(
            engine.source_model_path(),
            weights_dir=weights,
            image_trunk_path=Path(config.image_trunk_path) if config.image_trunk_path else None,
            quantize=config.quantize,
        )
        self._config = config
        self._max_model_len = engine.max_model_len
        self._image_limits = ImageLimits(config.max_image_bytes, config.max_image_side)
        self._table_limits = TableLimits(max_cells=config.max_table_cells)
        self._decode_slots = asyncio.Semaphore(config.max_concurrent_decodes)
        self._reader: ChartReader | None = None
        self._reader_version = ""
        if config.chart_reader or config.chart_fusion:
            folder = Path(config.chart_reader_dir) if config.chart_reader_dir else None
            self._reader, meta = load_reader(folder or DEFAULT_READER_DIR)
            self._reader_version = str(meta["version"])
        self._fusion_reader = self._reader  # what the chart fusion's vectors come from
        self._chart_fusion: ChartFusion | None = None
        self._chart_fusion_version = ""
        self._chart_fusion_adapter = ""
        if config.chart_fusion:
            folder = Path(config.chart_fusion_dir) if config.chart_fusion_dir else None
            self._chart_fusion, meta = chart_fusion.load_fusion(
                self._model.width, folder or chart_fusion.DEFAULT_DIR
            )
            self._chart_fusion_version = str(meta["version"])
            self._chart_fusion_adapter = str(meta["adapter"] or "")
            own = chart_fusion.reader_for_fusion(
                folder or chart_fusion.DEFAULT_DIR, meta, self._reader_version
            )
            if own is not None:  # the fusion reads with the reader it was trained over
                self._fusion_reader, _ = load_reader(own)
        self._table_reader: TableReader | None = None
        self._table_reader_version = ""
        question_states = None
        if config.table_reader:
            folder = Path(config.table_reader_dir) if config.table_reader_dir else None
            self._table_reader, meta = load_table_reader(folder or DEFAULT_TABLE_READER_DIR)
            self._table_reader_version = str(meta["version"])
            if layer := int(meta.get("question_layer", 0)):
                question_states = QuestionStates(engine.source_model_path(), layer)
        tokenizer = self._model.tokenizer
        self._table_features = TableFeaturizer(
            self._model.embeddings,
            lambda text: list(tokenizer.encode(text, add_special_tokens=False).ids),
            question_states,
        )
        for method in (
            self._image_batch,
            self._table_batch,
            self._chart_batch,
            self._chart_memory_batch,
            self._table_read_batch,
        ):
            batched: Any = method
            batched.set_max_batch_size(config.max_batch_size)
            batched.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        self._batch_sizes = Histogram(
            "ponder_encoder_batch_size",
            description="Inputs per encoder batch, by modality.",
            boundaries=[1, 2, 4, 8, 16, 32],
            tag_keys=("modality",),
        )
        info = self._model.info
        log.info(
            "encoder pool ready: weights %s (random init: %s, image trunk random: %s)",
            info.version,
            info.random_init,
            info.image_trunk_random_init,
        )

    # -- batched encoders --------------------------------------------------------------

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _image_batch(self, pixels: list[np.ndarray]) -> list[Encoded]:
        self._batch_sizes.observe(len(pixels), tags={"modality": "image"})

        def run() -> torch.Tensor:
            with torch.no_grad():
                return self._model.project_image(self._model.image_regions(pixels))

        with span("encoder.images", batch=len(pixels)):
            projected = await asyncio.to_thread(run)
        return [Encoded("image", projected[i], len(pixels)) for i in range(len(pixels))]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _table_batch(self, tables: list[Table]) -> list[Encoded]:
        self._batch_sizes.observe(len(tables), tags={"modality": "table"})

        def run() -> list[torch.Tensor]:
            with torch.no_grad():
                return self._model.encode_tables(tables)[0]

        with span("encoder.tables", batch=len(tables)):
            cells = await asyncio.to_thread(run)
        return [Encoded("table", c, len(tables)) for c in cells]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _chart_batch(self, charts: list[tuple[np.ndarray, str]]) -> list[ChartRead]:
        self._batch_sizes.observe(len(charts), tags={"modality": "chart"})
        reader = self._reader
        assert reader is not None

        def run() -> list[ChartReading]:
            pixels = torch.from_numpy(np.stack([p for p, _ in charts]))
            named = [named_labels(question, CHART_LABELS) for _, question in charts]
            with torch.inference_mode():
                return decode_readings(reader(pixels), named)

        with span("encoder.charts", batch=len(charts)):
            readings = await asyncio.to_thread(run)
        return [ChartRead(r, self._reader_version, len(charts)) for r in readings]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _chart_memory_batch(self, pixels: list[np.ndarray]) -> list[ChartMemoryInputs]:
        self._batch_sizes.observe(len(pixels), tags={"modality": "chart_memory"})
        reader = self._fusion_reader
        assert reader is not None

        def run() -> list[ChartMemoryInputs]:
            with torch.inference_mode():
                return memory_inputs(reader, torch.from_numpy(np.stack(pixels)))

        with span("encoder.chart_memory", batch=len(pixels)):
            return await asyncio.to_thread(run)

    async def read_chart(self, data: bytes, question: str = "") -> ChartRead:
        """The chart reader's reading of an image's labels and values (batched); with the
        question asked about it, read knowing the labels the question names."""
        if self._reader is None or not self._config.chart_reader:
            # (the reader may be loaded for the chart fusion alone)
            raise Unavailable("the chart reader is off on this server (encoder.chart_reader)")
        async with self._decode_slots:
            pixels = await asyncio.to_thread(self._checked_pixels, data)
        result: ChartRead = await self._chart_batch((pixels, question))
        return result

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _table_read_batch(self, questions: list[tuple[str, Table]]) -> list[TableRead]:
        self._batch_sizes.observe(len(questions), tags={"modality": "table_question"})
        reader = self._table_reader
        assert reader is not None

        def run() -> list[TableRead]:
            with torch.inference_mode():
                readings = decode_table_readings(reader(self._table_features.batch(questions)))
            return [
                TableRead(
                    reading,
                    answer_table_question(reading, table),
                    self._table_reader_version,
                    len(questions),
                )
                for reading, (_, table) in zip(readings, questions, strict=True)
            ]

        with span("encoder.table_questions", batch=len(questions)):
            return await asyncio.to_thread(run)

    async def read_table(self, question: str, table_json: str) -> TableRead:
        """The table reader's reading of a question about a table, and the answer over the
        cells it points at (batched)."""
        if self._table_reader is None:
            raise Unavailable("the table reader is off on this server (encoder.table_reader)")
        if len(question) > self._config.max_text_chars:
            raise InvalidArgument("text", f"longer than {self._config.max_text_chars} characters")
        async with self._decode_slots:
            table = await asyncio.to_thread(parse_table, table_json, self._table_limits)
        result: TableRead = await self._table_read_batch((question, table))
        return result

    async def encode_image(self, data: bytes) -> Encoded:
        # Decoding untrusted bytes happens off the event loop (other requests and the
        # batcher keep running) and at most `max_concurrent_decodes` at once (a burst of
        # large images cannot hold every core or the replica's memory).
        async with self._decode_slots:
            pixels = await asyncio.to_thread(self._checked_pixels, data)
        result: Encoded = await self._image_batch(pixels)
        return result

    def _checked_pixels(self, data: bytes) -> np.ndarray:
        image = decode_image(data, self._image_limits)  # InvalidArgument before batching
        return preprocess_image(image)

    async def encode_table(self, text: str) -> Encoded:
        async with self._decode_slots:
            table = await asyncio.to_thread(parse_table, text, self._table_limits)
        result: Encoded = await self._table_batch(table)
        return result

    # -- what the ingress calls --------------------------------------------------------

    def weights(self) -> dict[str, Any]:
        info = self._model.info
        return {
            "version": info.version,
            "random_init": info.random_init or info.image_trunk_random_init,
        }

    async def encode(self, image: bytes | None, table_json: str | None) -> dict[str, Any]:
        encoded = await (
            self.encode_image(image) if image is not None else self.encode_table(table_json or "")
        )
        vectors = encoded.vectors
        return {
            "modality": encoded.modality,
            "vectors": int(vectors.shape[0]),
            "width": int(vectors.shape[1]),
            "pooled": vectors.mean(dim=0).tolist(),
            "batch_size": encoded.batch_size,
            **{f"weights_{k}": v for k, v in self.weights().items()},
        }

    async def fuse(
        self, messages: list[dict[str, str]], image: bytes | None, table_json: str | None
    ) -> FusedPrompt:
        """The decoder prompt for text + optional image/table: [vectors ; fused text]. An
        image alone is fused through the chart reader's vectors when the chart fusion is
        on; otherwise through the generic encoders."""
        if len(messages[-1]["content"]) > self._config.max_text_chars:
            raise InvalidArgument("text", f"longer than {self._config.max_text_chars} characters")
        if image is not None and table_json is None and self._chart_fusion is not None:
            return await self._chart_fused(messages, image, self._chart_fusion)
        jobs = []
        if image is not None:
            jobs.append(self.encode_image(image))
        if table_json is not None:
            jobs.append(self.encode_table(table_json))
        encoded = await asyncio.gather(*jobs)
        ids = self._model.prompt_ids(messages)
        memory = torch.cat([e.vectors for e in encoded]) if encoded else None
        self._check_positions(ids, 0 if memory is None else int(memory.shape[0]))
        with torch.no_grad():
            embeds = self._model.prompt_embeddings(ids, memory).contiguous()
        return FusedPrompt(
            prompt_embeds=embeds,
            image_vectors=sum(int(e.vectors.shape[0]) for e in encoded if e.modality == "image"),
            table_vectors=sum(int(e.vectors.shape[0]) for e in encoded if e.modality == "table"),
            weights_version=self._model.info.version,
        )

    async def _chart_fused(
        self, messages: list[dict[str, str]], image: bytes, fusion: ChartFusion
    ) -> FusedPrompt:
        """[chart vector ; one vector per category read ; fused text] (`chart_fusion`)."""
        async with self._decode_slots:
            pixels = await asyncio.to_thread(self._checked_pixels, image)
        inputs: ChartMemoryInputs = await self._chart_memory_batch(pixels)
        ids = self._model.prompt_ids(messages)
        vectors = 1 + int(inputs.slots.shape[0])
        self._check_positions(ids, vectors)
        with torch.no_grad():
            embeds = fusion.prompt(self._model.text_embeddings(ids), inputs).contiguous()
        return FusedPrompt(
            prompt_embeds=embeds,
            image_vectors=vectors,
            table_vectors=0,
            weights_version=self._chart_fusion_version,
            adapter=self._chart_fusion_adapter,
        )

    def _check_positions(self, ids: list[int], vectors: int) -> None:
        positions = len(ids) + vectors
        if positions >= self._max_model_len:
            raise InvalidArgument(
                "text",
                f"the prompt is {positions} positions with the image/table prefix; the "
                f"decoder's context holds {self._max_model_len}",
            )
