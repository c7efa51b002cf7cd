"""Versions of the served reasoning model in Redis, per scope: outcome-driven refreshes.

A refresh (`ponder train refresh`) is a LoRA adapter on the model Reason's branches run
on (the student), trained on the verified paths of logged outcomes. Like the scorer's and
the ranker's registries, every proposed version is kept with the gate's paired comparison,
one version is active, planners poll the active one, and an operator can roll back to any
kept version. The seed version is `base`: the model as shipped, with no adapter.

The adapter's files are kept in Redis beside the versions, by name (a rank-8 adapter on
the 10-layer student is about 3 MB), so a decoder replica on any node can load the
version a planner names without a shared volume (`RefreshAdapters`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from ponder.errors import InvalidArgument, NotFound
from ponder.learning.outcome_log import Keys
from ponder.learning.paired_gate import PairedDecision
from ponder.learning.records import now_ms
from ponder.learning.version_store import VersionStore

BASE_VERSION = "base"  # the served model without a refresh adapter
REFRESH_NAME = re.compile(r"^refresh-[0-9a-f]{8}$")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def refresh_name(files: Mapping[str, bytes]) -> str:
    """A refresh version's name: a hash of its adapter files."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        digest.update(name.encode() + b"\0" + files[name])
    return f"refresh-{digest.hexdigest()[:8]}"


def read_adapter(folder: Path) -> dict[str, bytes]:
    """The peft adapter files of a folder (what vLLM loads)."""
    missing = [n for n in ADAPTER_FILES if not (folder / n).is_file()]
    if missing:
        raise InvalidArgument("adapter", f"{folder} lacks {', '.join(missing)}")
    return {name: (folder / name).read_bytes() for name in ADAPTER_FILES}


@dataclass(frozen=True)
class ModelVersion:
    """One kept version of the model and what is known about it."""

    name: str  # BASE_VERSION or refresh-<hash>
    base_model: str  # the model the adapter applies to (the student's name)
    parent: str  # the version that was active when it was trained
    created_ms: int
    status: str  # seed | promoted | rejected | deferred
    promoted_ms: int = 0
    train_examples: int = 0  # verified paths it was trained on
    gate: PairedDecision | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.name

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "base_model": self.base_model,
                "parent": self.parent,
                "created_ms": self.created_ms,
                "status": self.status,
                "promoted_ms": self.promoted_ms,
                "train_examples": self.train_examples,
                "gate": self.gate.to_json() if self.gate else None,
                "extra": self.extra,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data_text: str | bytes) -> ModelVersion:
        data = json.loads(data_text)
        return cls(
            name=data["name"],
            base_model=data["base_model"],
            parent=data["parent"],
            created_ms=data["created_ms"],
            status=data["status"],
            promoted_ms=data["promoted_ms"],
            train_examples=data["train_examples"],
            gate=PairedDecision.from_json(data["gate"]) if data["gate"] else None,
            extra=data["extra"],
        )


def _encode_files(files: Mapping[str, bytes]) -> str:
    return json.dumps({name: base64.b64encode(files[name]).decode() for name in ADAPTER_FILES})


def _decode_files(data: str | bytes) -> dict[str, bytes]:
    return {name: base64.b64decode(value) for name, value in json.loads(data).items()}


def materialise(name: str, files: Mapping[str, bytes], cache_dir: Path) -> Path:
    """An adapter's files as a folder vLLM can load (written once, then reused)."""
    folder = cache_dir / name
    if all((folder / n).is_file() for n in ADAPTER_FILES):
        return folder
    partial = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache_dir))
    for file_name in ADAPTER_FILES:
        (partial / file_name).write_bytes(files[file_name])
    try:
        partial.replace(folder)  # atomic: a reader sees all the files or none
    except OSError:  # another request wrote it first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


class ModelRegistry(VersionStore[ModelVersion, ModelVersion]):
    """Kept model versions per scope; the seed is the base model (no adapter)."""

    what = "model"

    def __init__(self, client: Redis, keys: Keys | None = None) -> None:
        super().__init__(client)
        self.keys = keys or Keys()

    def _key(self, scope: str, part: str) -> str:
        return f"{self.keys.prefix}:model:{scope}:{part}"

    @property
    def _files_key(self) -> str:
        return f"{self.keys.prefix}:model:adapter-files"

    async def adapter_files(self, name: str) -> dict[str, bytes]:
        """A refresh version's adapter files (any scope's: names are content hashes)."""
        if not REFRESH_NAME.match(name):
            raise InvalidArgument("adapter", f"{name!r} is not a refresh adapter name")
        data = await self._client.hget(self._files_key, name)
        if data is None:
            raise NotFound(f"adapter: no refresh adapter named {name!r} is kept")
        return _decode_files(data)

    def _scopes_key(self) -> str:
        return f"{self.keys.prefix}:model:scopes"

    def _decode(self, data: str | bytes) -> ModelVersion:
        return ModelVersion.from_json(data)

    def _seed_info(self, model: ModelVersion) -> ModelVersion:
        return model

    def _model_of(self, info: ModelVersion) -> ModelVersion:
        return info

    async def seed_base(self, scope: str, base_model: str) -> str:
        """Make sure the scope has an active version (the base model at first)."""
        base = ModelVersion(BASE_VERSION, base_model, "", now_ms(), "seed")
        return await self.seed(scope, base)

    async def propose(
        self, scope: str, info: ModelVersion, expected_active: str, files: Mapping[str, bytes]
    ) -> bool:
        """Keep a proposed version (and its adapter files) and make it active if
        promoted, unless the active version changed since the candidate was judged against
        it: then nothing is written and False is returned."""
        if info.status == "promoted":
            info = replace(info, promoted_ms=now_ms())
        encoded = _encode_files(files)
        reason = info.gate.reason if info.gate else ""
        return await self._propose(
            scope,
            info,
            expected_active,
            reason,
            lambda pipe: pipe.hset(self._files_key, info.version, encoded),
        )


class RefreshAdapters:
    """A decoder replica's view of the kept refresh adapters: the folder of a name, written
    from Redis into a local cache the first time it is asked for."""

    def __init__(self, registry: ModelRegistry, cache_dir: Path) -> None:
        self._registry = registry
        self._cache_dir = cache_dir

    async def folder(self, name: str) -> Path:
        if not REFRESH_NAME.match(name):
            raise NotFound(f"adapter: no LoRA adapter named {name!r}")
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        files = await self._registry.adapter_files(name)
        return materialise(name, files, self._cache_dir)
