"""Load and strictly validate a Serve config YAML whose applications carry PonderConfig args.

Ray's ServeDeploySchema accepts unknown keys (forward compatibility), min > max replicas
and a route_prefix without '/'; a typo there would silently be ignored, so we check
those ourselves, and validate each application's args as a PonderConfig.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ray.serve.schema import ServeDeploySchema

from ponder.config import PonderConfig, load_yaml

PONDER_IMPORT_PATH = "deployments.app:app_builder"


class ServeConfigError(ValueError):
    """The Serve config file is invalid; the message names the key."""


@dataclass(frozen=True)
class PonderServeConfig:
    """A validated Serve config and the PonderConfig of each Ponder application."""

    schema: ServeDeploySchema
    apps: dict[str, PonderConfig]


def load_serve_config(path: Path) -> PonderServeConfig:
    """Read, validate and return the Serve config at path."""
    return validate_serve_config(load_yaml(path), source=str(path))


def validate_serve_config(data: Any, source: str = "serve config") -> PonderServeConfig:
    """Validate a parsed Serve config (see module docstring for what is checked)."""
    if not isinstance(data, dict):
        raise ServeConfigError(f"{source}: top level must be a mapping")
    problems = list(_unknown_keys(ServeDeploySchema, data, ""))
    if problems:
        raise ServeConfigError(f"{source}: unknown keys: {', '.join(problems)}")
    try:
        schema = ServeDeploySchema.model_validate(data)
    except ValueError as error:
        raise ServeConfigError(f"{source}: {error}") from error
    apps: dict[str, PonderConfig] = {}
    for index, app in enumerate(schema.applications):
        where = f"applications[{index}]"
        if not app.route_prefix or not app.route_prefix.startswith("/"):
            raise ServeConfigError(f"{source}: {where}.route_prefix must start with '/'")
        for deployment in app.deployments:
            scaling = deployment.autoscaling_config
            if isinstance(scaling, dict) and scaling.get("min_replicas", 1) > scaling.get(
                "max_replicas", 1
            ):
                raise ServeConfigError(
                    f"{source}: {where}.deployments[{deployment.name}]: "
                    "autoscaling min_replicas exceeds max_replicas"
                )
        if app.import_path == PONDER_IMPORT_PATH:
            try:
                apps[app.name] = PonderConfig.model_validate(app.args or {})
            except ValueError as error:
                raise ServeConfigError(f"{source}: {where}.args: {error}") from error
    if not apps:
        raise ServeConfigError(f"{source}: no application imports {PONDER_IMPORT_PATH}")
    return PonderServeConfig(schema=schema, apps=apps)


def _unknown_keys(model: type[BaseModel], data: Any, prefix: str) -> typing.Iterator[str]:
    """Keys in data that model does not define, recursing into nested models."""
    if not isinstance(data, dict):
        return
    fields = model.model_fields
    names = {name: name for name in fields} | {
        f.alias: name for name, f in fields.items() if f.alias
    }
    for key, value in data.items():
        if key not in names:
            yield f"{prefix}{key}"
            continue
        nested = _nested_model(fields[names[key]].annotation)
        if nested is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _unknown_keys(nested, item, f"{prefix}{key}[{i}].")
        else:
            yield from _unknown_keys(nested, value, f"{prefix}{key}.")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside X, Optional[X], list[X] or X | None, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.List):  # noqa: UP006
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None
