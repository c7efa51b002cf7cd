"""What the decoder set serves, by name: the base model and its LoRA adapters.

`ListModels` reports this catalogue; requests name an adapter (or `base`) and
`resolve_adapter` turns the name into what the engine runs, applying the planner's
default adapter when a Reason request names none.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.config import PonderConfig
from ponder.errors import NotFound

BASE_MODEL_NAME = "base"


class ModelKind(enum.Enum):
    BASE = "base"
    ADAPTER = "adapter"


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
            planner_default=not default,
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
    return entries


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
