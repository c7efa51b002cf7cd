"""What the decoder sets serve, by name: the base model and its LoRA adapters (the main
decoder set) and the distilled student (its own decoder set).

`ListModels` reports this catalogue; requests name a `model` (decoder set) and an
`adapter`, and `resolve_model` turns the names into where a request runs, applying the
planner's defaults when a Reason request names none.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.config import PonderConfig
from ponder.errors import InvalidArgument, NotFound

BASE_MODEL_NAME = "base"


class ModelKind(enum.Enum):
    BASE = "base"
    ADAPTER = "adapter"
    STUDENT = "student"


@dataclass(frozen=True)
class ModelEntry:
    """One servable model: its name in requests, kind, version and measured metrics."""

    name: str
    kind: ModelKind
    version: str
    description: str
    planner_default: bool = False
    metrics: dict[str, float] = field(default_factory=dict)


def adapter_metrics(folder: Path) -> dict[str, float]:
    """Dev-split accuracies from the adapter's metrics.json, flattened
    (`dev.<model>.<strategy>` -> accuracy); empty when the file is absent."""
    path = folder / "metrics.json"
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    per_strategy = data.get("dev_split", {}).get("greedy_single_branch_per_strategy", {})
    flat = {}
    for model, strategies in per_strategy.items():
        for strategy, value in strategies.items():
            flat[f"dev.{model}.{strategy}"] = float(value["accuracy"])
    return flat


def catalogue(config: PonderConfig) -> list[ModelEntry]:
    """The base model first, then every configured adapter."""
    engine = config.decoder.engine
    default = config.planner.adapter
    base_meta = engine.model_path() / "ponder-model.json"
    version = "unknown"
    if base_meta.is_file():
        version = str(json.loads(base_meta.read_text()).get("source", "unknown"))
    entries = [
        ModelEntry(
            name=BASE_MODEL_NAME,
            kind=ModelKind.BASE,
            version=version,
            description=f"base model at {engine.model_path().name}",
            planner_default=not default and config.planner.model in ("", BASE_MODEL_NAME),
        )
    ]
    for name, folder in sorted(engine.adapter_dirs().items()):
        entries.append(
            ModelEntry(
                name=name,
                kind=ModelKind.ADAPTER,
                version=name,
                description=f"LoRA adapter at {folder.name}",
                planner_default=name == default,
                metrics=adapter_metrics(folder),
            )
        )
    student = config.student
    if student.enabled:
        from ponder.student_build import student_dir

        entries.append(
            ModelEntry(
                name=student.name,
                kind=ModelKind.STUDENT,
                version=student.name,
                description=f"distilled student at {student.engine_config().model_path().name}",
                planner_default=config.planner.model == student.name,
                metrics=adapter_metrics(student_dir(student.name)),
            )
        )
    return entries


@dataclass(frozen=True)
class ModelChoice:
    """Where a request runs: a decoder set ("" = the main one) and an adapter on it."""

    model: str = ""
    adapter: str | None = None


def resolve_model(
    requested_model: str,
    requested_adapter: str,
    adapters: Iterable[str],
    students: Iterable[str],
    default_model: str = "",
    default_adapter: str = "",
) -> ModelChoice:
    """The decoder set and adapter of a request. An empty model means `default_model`,
    unless the request names an adapter (adapters live on the main set); a student takes
    no adapter (INVALID_ARGUMENT); an unknown model or adapter is NOT_FOUND."""
    students = set(students)
    model = requested_model or ("" if requested_adapter else default_model)
    if model in ("", BASE_MODEL_NAME):
        return ModelChoice("", resolve_adapter(requested_adapter, adapters, default_adapter))
    if model not in students:
        known = ", ".join([BASE_MODEL_NAME, *sorted(students)])
        raise NotFound(f"model: no decoder set named {model!r} (served: {known})")
    if requested_adapter and requested_adapter != BASE_MODEL_NAME:
        raise InvalidArgument(
            f"adapter: the student {model!r} serves no adapters (got {requested_adapter!r})"
        )
    return ModelChoice(model, None)


def resolve_adapter(requested: str, adapters: Iterable[str], default: str = "") -> str | None:
    """The adapter a request runs with: `base` -> none, empty -> the default (none when
    the default is empty), a configured name -> that name; anything else is NOT_FOUND."""
    name = requested or default
    if not name or name == BASE_MODEL_NAME:
        return None
    if name not in set(adapters):
        known = ", ".join([BASE_MODEL_NAME, *sorted(adapters)])
        raise NotFound(f"adapter: no model or LoRA adapter named {name!r} (served: {known})")
    return name
