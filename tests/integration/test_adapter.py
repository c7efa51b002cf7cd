"""The domain adapter end to end: a few steps of `ponder train adapter` through Ray Train
(resumed from its checkpoint), served by vLLM per request, listed by ListModels; the
committed adapter is the planner's default."""

from __future__ import annotations

import json

import grpc
import pytest

from ponder.api.client import PonderClient, build_reason_request, build_request
from ponder.v1 import ponder_pb2 as pb
from tests.integration.support import TrainedAdapter, planner_adapter_for_tests

pytestmark = pytest.mark.integration

PROMPT = [("user", "A box holds 12 pens. How many pens are in 4 boxes?")]


def _planner_default() -> str:
    return planner_adapter_for_tests()


def test_the_job_resumes_from_its_checkpoint_and_writes_a_peft_adapter(
    trained_adapter: TrainedAdapter,
) -> None:
    assert "resuming from" not in trained_adapter.first_run_log
    assert "resuming from" in trained_adapter.resumed_run_log
    assert "step 3/3" in trained_adapter.resumed_run_log
    assert "step 1/3" not in trained_adapter.resumed_run_log  # steps 1-2 were not redone
    config = json.loads((trained_adapter.path / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["peft_type"] == "LORA"
    assert config["layers_to_transform"] == [26, 27, 28, 29]
    assert (trained_adapter.path / "adapter_model.safetensors").stat().st_size > 10_000
    assert trained_adapter.name.startswith("tiny-") and len(trained_adapter.name) == 13
    metrics = json.loads((trained_adapter.path / "metrics.json").read_text())
    assert metrics["command"].startswith("ponder train adapter")
    assert metrics["training"]["steps"] == 3


def test_list_models_lists_base_and_every_adapter(
    client: PonderClient, trained_adapter: TrainedAdapter
) -> None:
    models = client.list_models()
    assert models[0].name == "base" and models[0].kind == pb.MODEL_KIND_BASE
    by_name = {m.name: m for m in models}
    default = _planner_default()
    assert default and by_name[default].planner_default
    assert by_name[default].kind == pb.MODEL_KIND_ADAPTER
    assert by_name[default].metrics["dev.adapter.pot"] > by_name[default].metrics["dev.base.pot"]
    trained = by_name[trained_adapter.name]
    assert trained.kind == pb.MODEL_KIND_ADAPTER and not trained.planner_default
    assert sum(m.planner_default for m in models) == 1


def test_generate_with_the_trained_adapter_differs_from_the_base_model(
    client: PonderClient, trained_adapter: TrainedAdapter
) -> None:
    def answer(adapter: str) -> pb.GenerateResponse:
        request = build_request(messages=PROMPT, temperature=0.0, max_tokens=12, adapter=adapter)
        request.sampling.logprobs = 1
        return client.generate(request)

    base, tuned, again = answer(""), answer(trained_adapter.name), answer("base")
    assert base.text == again.text  # "" and "base" both mean the base model
    base_lp = [lp.logprob for lp in base.logprobs]
    tuned_lp = [lp.logprob for lp in tuned.logprobs]
    assert (
        base.text != tuned.text
        or max(abs(a - b) for a, b in zip(base_lp, tuned_lp, strict=False)) > 1e-3
    )


def test_unknown_adapter_is_not_found_and_named(client: PonderClient) -> None:
    with pytest.raises(grpc.RpcError) as generate:
        client.generate(build_request(messages=PROMPT, max_tokens=4, adapter="no-such-thing"))
    assert generate.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no-such-thing" in generate.value.details()
    with pytest.raises(grpc.RpcError) as reason:
        client.reason(build_reason_request("What is 2 + 3?", adapter="no-such-thing"))
    assert reason.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no-such-thing" in reason.value.details()


def test_reason_runs_on_the_planner_default_adapter_unless_asked_for_base(
    client: PonderClient,
) -> None:
    problem = "Tom has 3 apples and buys 5 more. How many apples does he have?"
    default = client.reason(build_reason_request(problem), timeout=300)
    assert default.adapter == _planner_default()
    base = client.reason(build_reason_request(problem, adapter="base"), timeout=300)
    assert base.adapter == "base"
    # every generated token is counted, those of pruned or stopped branches too
    for response in (default, base):
        assert response.usage.completion_tokens >= response.usage.kept_tokens > 0
        assert response.usage.kept_tokens == sum(p.tokens for p in response.paths)
