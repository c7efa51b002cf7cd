"""The application builder: validated config in, Ray Serve application out.

Request paths: gRPC proxy -> Ingress (validate, map errors) -> Decoder (vLLM engine), or
StudentDecoder (the distilled student's engine) when the request names it in `model`;
gRPC proxy -> Ingress -> Planner (plan, score, prune, log) -> Decoder replicas, concurrently;
gRPC proxy -> Ingress -> outcome log in Redis <- Learner (promotes versions) -> Planners;
gRPC proxy -> Ingress -> EncoderPool (batched encoders, fusion) -> Decoder (prompt embeds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.serve import Application

from deployments.decoder import Decoder
from deployments.encoder_pool import EncoderPool
from deployments.ingress import Ingress
from deployments.learner_deployment import LearnerDeployment
from deployments.planner_deployment import Planner
from deployments.ray_options import decoder_options as decoder_options_of
from deployments.ray_options import serve_options
from ponder.config import EngineConfig, PonderConfig
from ponder.engine.protocol import EngineFactory
from ponder.model_catalogue import BASE_MODEL_NAME


def check_engine_config(config: EngineConfig, section: str = "decoder") -> None:
    """Fail at build time, not in a replica minutes later, on bad engine args."""
    model_dir = config.source_model_path()  # an int8 copy is derived from it at start
    if not (model_dir / "config.json").is_file():
        raise ValueError(
            f"{section}.engine.model: no HF model at {model_dir} "
            "(run scripts/setup.sh: it converts the default model and builds the students)"
        )
    for name, path in config.adapter_dirs().items():
        if not name or not (name.replace("-", "").replace("_", "").isalnum()):
            raise ValueError(f"decoder.engine.lora_adapters: bad adapter name {name!r}")
        if name == BASE_MODEL_NAME:
            raise ValueError(f"decoder.engine.lora_adapters: {name!r} names the base model")
        if not (path / "adapter_config.json").is_file():
            raise ValueError(f"decoder.engine.lora_adapters.{name}: no peft adapter at {path}")
        rank = json.loads((path / "adapter_config.json").read_text()).get("r", 0)
        if rank > config.max_lora_rank:
            raise ValueError(
                f"decoder.engine.lora_adapters.{name}: rank {rank} exceeds max_lora_rank "
                f"{config.max_lora_rank}"
            )
    if config.int8_here():
        # The engine loads the int8 copy; derive it now (offline, idempotent: the engine's
        # own start keeps it) so that vLLM's checks below find the folder it will load.
        from ponder.int8_checkpoint import derive_int8

        derive_int8(model_dir, config.model_path())
    from ponder.engine.vllm_engine import engine_args

    engine_args(config)  # vLLM's own checks of the argument values


def check_chart_fusion_adapter(config: PonderConfig) -> None:
    """A stage-2 chart fusion's prompts only mean something to the decoder with its LoRA:
    the decoder must serve that LoRA under the fusion's version, from the fusion's folder."""
    encoder = config.encoder
    if not (encoder.enabled and encoder.chart_fusion):
        return
    from ponder.multimodal.chart_fusion import ADAPTER_DIR, DEFAULT_DIR, META_FILE

    folder = Path(encoder.chart_fusion_dir) if encoder.chart_fusion_dir else DEFAULT_DIR
    adapter = json.loads((folder / META_FILE).read_text()).get("adapter")
    if not adapter:
        return
    served = config.decoder.engine.adapter_dirs().get(adapter)
    if served is None or served.resolve() != (folder / ADAPTER_DIR).resolve():
        raise ValueError(
            f"encoder.chart_fusion: chart fusion {adapter} was trained with a LoRA on the "
            f"decoder; serve it as decoder.engine.lora_adapters.{adapter}: "
            f"{folder / ADAPTER_DIR}"
        )


def check_chart_fusion_reader(config: PonderConfig) -> None:
    """The chart fusion must read with the chart reader it was trained over: the pool's
    reader, or the copy in the fusion's folder (`chart_fusion.reader_for_fusion`)."""
    encoder = config.encoder
    if not (encoder.enabled and encoder.chart_fusion):
        return
    from ponder.multimodal.chart_fusion import DEFAULT_DIR, META_FILE, reader_for_fusion
    from ponder.multimodal.chart_reader import DEFAULT_READER_DIR, READER_META

    folder = Path(encoder.chart_fusion_dir) if encoder.chart_fusion_dir else DEFAULT_DIR
    readers = Path(encoder.chart_reader_dir) if encoder.chart_reader_dir else DEFAULT_READER_DIR
    reader_version = json.loads((readers / READER_META).read_text())["version"]
    try:
        reader_for_fusion(folder, json.loads((folder / META_FILE).read_text()), reader_version)
    except ValueError as error:
        raise ValueError(f"encoder.chart_fusion: {error}") from None


def build_app(
    config: PonderConfig,
    engine_factory: EngineFactory | None = None,
    student_engine_factory: EngineFactory | None = None,
) -> Application:
    """Compose the deployments. The engine factories default to vLLM built from the
    config (the main decoder's and, when enabled, the student's)."""
    if engine_factory is None:
        check_engine_config(config.decoder.engine)
        check_chart_fusion_adapter(config)
        check_chart_fusion_reader(config)
        from ponder.engine.vllm_engine import VLLMEngineFactory

        engine_factory = VLLMEngineFactory(config.decoder.engine)
    decoder_options = decoder_options_of(config.decoder.deployment, config.decoder.routing)
    planner_options = serve_options(config.planner.deployment)
    ingress_options = serve_options(config.ingress.deployment)
    # serve.deployment turns the classes into Deployments; mypy sees the plain classes.
    decoder = Decoder.options(**decoder_options).bind(engine_factory)  # type: ignore[attr-defined]
    student = None
    if config.student.enabled:
        student_factory = student_engine_factory
        if student_factory is None:
            student_engine = config.student.engine_config()
            check_engine_config(student_engine, "student")
            from ponder.engine.vllm_engine import VLLMEngineFactory

            student_factory = VLLMEngineFactory(student_engine)
        refresh = config.redis if config.student.engine.refresh_adapters else None
        student = Decoder.options(  # type: ignore[attr-defined]
            name="StudentDecoder",
            **decoder_options_of(config.student.deployment, config.student.routing),
        ).bind(student_factory, refresh)
    planner = Planner.options(**planner_options).bind(  # type: ignore[attr-defined]
        decoder,
        config.planner,
        config.redis,
        student,
        config.student.name,
        config.student.enabled and config.student.engine.refresh_adapters,
    )
    learning = config.planner.learning
    learner = None
    if learning.enabled and config.redis.url:
        learner = LearnerDeployment.options(  # type: ignore[attr-defined]
            **serve_options(learning.deployment)
        ).bind(
            config.redis,
            learning,
            config.planner.scorer_path,
            config.planner.ranker_path if config.planner.selection == "ranker" else None,
        )
    encoder = None
    if config.encoder.enabled:
        encoder = EncoderPool.options(  # type: ignore[attr-defined]
            **serve_options(config.encoder.deployment)
        ).bind(config.encoder, config.decoder.engine)
    return Ingress.options(**ingress_options).bind(  # type: ignore[attr-defined]
        decoder, planner, config, learner, encoder, student
    )


def app_builder(args: dict[str, Any]) -> Application:
    """Entry point named by `import_path` in Serve config files; args is a PonderConfig."""
    return build_app(PonderConfig.model_validate(args))
