"""The distilled student end to end: a few steps of `ponder train student` through Ray
Train, its committed parts and derived model, then served by its own decoder replica set
(`model` on Generate, StreamGenerate, Reason and Analyze) and listed by ListModels."""

from __future__ import annotations

import json

import grpc
import pytest
from safetensors import safe_open

from ponder.api.client import (
    PonderClient,
    build_analyze_request,
    build_reason_request,
    build_request,
)
from ponder.student_build import StudentManifest, check_inputs, sha256_of
from ponder.v1 import ponder_pb2 as pb
from tests.integration.support import TrainedStudent

pytestmark = pytest.mark.integration

PROMPT = [("user", "A box holds 12 pens. How many pens are in 4 boxes?")]


def test_the_job_writes_small_parts_and_derives_the_student(
    trained_student: TrainedStudent,
) -> None:
    log = trained_student.log
    assert "step 2/2" in log and "Ray Train" in log
    manifest = StudentManifest.read(trained_student.parts)
    assert manifest.name == trained_student.name and manifest.name.startswith("tiny-student-")
    assert manifest.layers == (0, 10, 19, 29)  # 4 of 30, first and last kept
    assert manifest.teacher_adapter == "math-50464f8b"
    check_inputs(trained_student.parts, manifest)  # every recorded sha256 matches
    delta = trained_student.parts / "delta" / "adapter_model.safetensors"
    assert manifest.delta_sha256 == sha256_of(delta)
    config = json.loads((trained_student.model_dir / "config.json").read_text())
    assert config["num_hidden_layers"] == 4
    with safe_open(str(next(trained_student.model_dir.glob("*.safetensors"))), "pt") as weights:
        assert not any(".layers.4." in key for key in weights.keys())  # noqa: SIM118
    metrics = json.loads((trained_student.parts / "metrics.json").read_text())
    assert metrics["command"].startswith("ponder train student")
    assert metrics["training"]["steps"] == 2
    assert metrics["settings"]["alpha"] == 0.5


def test_list_models_lists_the_student(
    client: PonderClient, trained_student: TrainedStudent
) -> None:
    by_name = {m.name: m for m in client.list_models()}
    student = by_name[trained_student.name]
    assert student.kind == pb.MODEL_KIND_STUDENT
    assert student.version == trained_student.name
    assert by_name["base"].kind == pb.MODEL_KIND_BASE


def test_generate_and_stream_on_the_student(
    client: PonderClient, trained_student: TrainedStudent
) -> None:
    def generate(model: str) -> pb.GenerateResponse:
        request = build_request(messages=PROMPT, temperature=0.0, max_tokens=12, model=model)
        request.sampling.logprobs = 1
        return client.generate(request)

    student, base = generate(trained_student.name), generate("base")
    assert student.usage.completion_tokens > 0
    # 4 layers of 30: a different model, whatever it says
    student_lp = [lp.logprob for lp in student.logprobs]
    base_lp = [lp.logprob for lp in base.logprobs]
    assert (
        student.text != base.text
        or max(abs(a - b) for a, b in zip(student_lp, base_lp, strict=False)) > 1e-3
    )
    request = build_request(
        messages=PROMPT, temperature=0.0, max_tokens=12, model=trained_student.name
    )
    chunks = list(client.stream_generate(request))
    assert "".join(c.text for c in chunks) == student.text
    assert chunks[-1].usage.completion_tokens == student.usage.completion_tokens


def test_reason_runs_every_branch_on_the_student(
    client: PonderClient, trained_student: TrainedStudent
) -> None:
    request = build_reason_request(
        "Tom has 3 apples and buys 5 more. How many apples does he have?",
        branches=2,
        max_tokens=256,
        model=trained_student.name,
    )
    response = client.reason(request, timeout=300)
    assert response.model == trained_student.name
    assert response.adapter == "base"  # a student runs without adapters
    assert response.usage.completion_tokens >= response.usage.kept_tokens > 0
    default = client.reason(build_reason_request("What is 2 + 3?", branches=1), timeout=300)
    assert default.model == "base"


def test_analyze_on_the_student(client: PonderClient, trained_student: TrainedStudent) -> None:
    table = json.dumps({"columns": ["city", "people"], "rows": [["Oslo", 7], ["Rome", 28]]})
    request = build_analyze_request(
        "Describe this table.", table_json=table, max_tokens=8, model=trained_student.name
    )
    response = client.analyze(request)
    assert response.table_vectors > 0 and response.usage.completion_tokens > 0


def test_unknown_model_is_not_found_and_student_with_adapter_is_invalid(
    client: PonderClient, trained_student: TrainedStudent
) -> None:
    for call in (
        lambda: client.generate(build_request(messages=PROMPT, max_tokens=4, model="nope-1")),
        lambda: client.reason(build_reason_request("What is 2 + 3?", model="nope-1")),
        lambda: client.analyze(build_analyze_request("Hi?", max_tokens=4, model="nope-1")),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() is grpc.StatusCode.NOT_FOUND
        assert "nope-1" in error.value.details()
    with pytest.raises(grpc.RpcError) as invalid:
        client.generate(
            build_request(
                messages=PROMPT,
                max_tokens=4,
                model=trained_student.name,
                adapter="math-50464f8b",
            )
        )
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "no adapters" in invalid.value.details()
