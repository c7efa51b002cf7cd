"""The encoder pool (image and table encoders, fusion into the prompt)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ponder.config.base import DeploymentConfig, StrictModel


class EncoderConfig(StrictModel):
    """The encoder pool: image and table encoders, projections and fusion weights."""

    enabled: bool = Field(False, description="Deploy the encoder pool (Encode/Analyze RPCs).")
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.5, max_ongoing_requests=64),
        description="Scheduling and scaling of encoder replicas (independent of decoders).",
    )
    weights_dir: str = Field(
        "",
        description="Folder of trained fusion weights (multimodal.safetensors + .json from "
        "`ponder train fusion`); empty means the packaged ones if present, else a "
        "deterministic untrained initialisation (reported loudly).",
    )
    image_trunk_path: str = Field(
        "",
        description="safetensors state dict of a pretrained ResNet-101 trunk; empty means a "
        "deterministic untrained initialisation (reported loudly).",
    )
    chart_reader: bool = Field(
        True,
        description="Answer Analyze questions about a chart (which is largest, a labelled "
        "value, the trend, a difference) from the chart reader's reading of its labels and "
        "values, arithmetic by Reason over the values read; other requests go to the fused "
        "decoder. Needs chart reader weights (`ponder train chart-reader`).",
    )
    chart_reader_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A chart answer less sure than this (the least probability among the "
        "reading's choices it rests on: kind, count, and the labels and values it uses; "
        "every value for the largest or smallest) is not given; the request takes the "
        "fused path instead.",
    )
    chart_reader_dir: str = Field(
        "",
        description="Folder of the chart reader's weights (reader.safetensors + reader.json); "
        "empty means the packaged ones.",
    )
    chart_fusion: bool = Field(
        True,
        description="Fuse an image into the decoder's prompt through the chart reader's "
        "vectors (one for the chart, one per category it reads) and the chart fusion "
        "trained over them (`ponder train chart-fusion`), instead of the generic image "
        "encoder's regions. Applies to requests with an image and no table.",
    )
    chart_fusion_dir: str = Field(
        "",
        description="Folder of the chart fusion's weights (chart_fusion.safetensors + "
        "chart_fusion.json); empty means the packaged ones.",
    )
    table_reader: bool = Field(
        True,
        description="Answer Analyze questions about a table (a cell, the row with the largest "
        "or smallest value, the sum or difference of two cells) from the table reader's "
        "choice of column and rows, arithmetic by Reason over those cells; other requests go "
        "to the fused decoder. Needs table reader weights (`ponder train table-reader`).",
    )
    table_reader_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A table reading less sure than this (the least probability among its "
        "choices: operation, column, rows) is not answered from; the request takes the "
        "fused path instead.",
    )
    table_reader_dir: str = Field(
        "",
        description="Folder of the table reader's weights (table_reader.safetensors + "
        "table_reader.json); empty means the packaged ones.",
    )
    quantize: bool = Field(
        False, description="8-bit dynamic quantisation of the encoders' Linear/LSTM layers."
    )
    max_batch_size: int = Field(8, ge=1, description="Most inputs one encoder batch holds.")
    batch_wait_timeout_s: float = Field(
        0.05, ge=0, description="How long a batch waits to fill before it runs."
    )
    max_image_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest image file.")
    max_image_side: int = Field(4096, ge=1, description="Largest image width or height.")
    max_concurrent_decodes: int = Field(
        2,
        ge=1,
        description="Images/tables one encoder replica decodes at once (in worker threads, "
        "off its event loop); more wait their turn.",
    )
    max_table_cells: int = Field(2048, ge=1, description="Most cells in a table.")
    max_text_chars: int = Field(20_000, ge=1, description="Longest Analyze text.")

    @model_validator(mode="after")
    def _reader_weights_exist(self) -> EncoderConfig:
        """A trained part that is on and given a folder must find its metrics file there."""
        parts = (
            (self.chart_reader, "chart_reader_dir", "reader.json", "chart-reader"),
            (self.chart_fusion, "chart_fusion_dir", "chart_fusion.json", "chart-fusion"),
            (self.table_reader, "table_reader_dir", "table_reader.json", "table-reader"),
        )
        for on, field, meta_file, job in parts:
            folder = getattr(self, field)
            if self.enabled and on and folder and not (Path(folder) / meta_file).is_file():
                raise ValueError(
                    f"encoder.{field}: no {meta_file} in {folder} "
                    f"(`ponder train {job} --out DIR` writes one)"
                )
        return self
