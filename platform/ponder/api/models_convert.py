"""ListModels: the model catalogue as protobuf."""

from __future__ import annotations

from ponder.model_catalogue import ModelEntry, ModelKind
from ponder.v1 import ponder_pb2 as pb

_KINDS = {
    ModelKind.BASE: pb.MODEL_KIND_BASE,
    ModelKind.ADAPTER: pb.MODEL_KIND_ADAPTER,
    ModelKind.STUDENT: pb.MODEL_KIND_STUDENT,
}


def models_to_proto(entries: list[ModelEntry]) -> pb.ListModelsResponse:
    return pb.ListModelsResponse(
        models=[
            pb.ModelInfo(
                name=e.name,
                kind=_KINDS[e.kind],
                version=e.version,
                description=e.description,
                planner_default=e.planner_default,
                metrics=e.metrics,
            )
            for e in entries
        ]
    )
